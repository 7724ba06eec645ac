// Package syncsock is the message channel between oci-run and the stages of
// a chain: one SOCK_SEQPACKET socket pair, one JSON object per packet. The
// stage end is inherited down the chain (OCI_SYNC_FD), so every stage, on
// either side of the namespace boundary, talks to the same runtime process.
package syncsock

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/trace"
)

// Message types.
const (
	// TypePid carries the host pid of the container's first process.
	TypePid = "pid"
	// TypeReady says the chain is set up and waits on the exec fifo.
	TypeReady = "ready"
	// TypeError carries a stage's fatal error; the stage exits after it.
	TypeError = "error"
	// TypeHook asks the runtime to run the hooks of one phase and to answer
	// with TypeContinue (or TypeError) when they are done.
	TypeHook = "hook"
	// TypeContinue answers TypeHook and TypeSeccompListener.
	TypeContinue = "continue"
	// TypeSeccompListener carries the seccomp notify listener (one
	// descriptor, SCM_RIGHTS) from oci-exec, which installed the filter, to
	// the runtime, which sends it to linux.seccomp.listenerPath with the
	// container state. oci-exec waits for TypeContinue (or TypeError).
	TypeSeccompListener = "seccomp-listener"
	// TypeWarning carries a non-fatal message for the runtime's log (a
	// capability that could not be raised, for instance).
	TypeWarning = "warning"
	// TypeTrace carries a stage's timing marks (OCI_TRACE, package trace),
	// sent right before it execs the next program.
	TypeTrace = "trace"
	// TypeCgroup, from the runtime to the first stage of the container
	// side when it started that stage before the cgroup's v1 hierarchies
	// existed (OCI_CGROUP_JOIN): the hierarchies' tasks files, one
	// descriptor each, for the stage's thread to join.
	TypeCgroup = "cgroup"
)

// Message is one packet.
type Message struct {
	Type  string `json:"type"`
	Stage string `json:"stage,omitempty"`
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
	Hook  string `json:"hook,omitempty"`
	// Warning is the text of a TypeWarning.
	Warning string `json:"warning,omitempty"`
	// State is the container's state document (runtime-spec State) that
	// the runtime sends with its TypeContinue answer to a TypeHook, for
	// the hooks the stage runs itself (createContainer).
	State json.RawMessage `json:"state,omitempty"`
	// Trace holds the marks of a TypeTrace.
	Trace []trace.Mark `json:"trace,omitempty"`
	// Files travel with the packet as SCM_RIGHTS, not in the JSON. Received
	// descriptors are close-on-exec and belong to the receiver.
	Files []*os.File `json:"-"`
}

// Conn is one end of the socket pair.
type Conn struct {
	f *os.File
	// buf and oob are reused from one message to the next (64 KiB each
	// time was most of what oci-run allocated while following a chain).
	buf, oob []byte
}

// maxMessage bounds one packet; errors are single lines, so this is ample.
const maxMessage = 64 << 10

// Pair makes a connected pair: the runtime keeps the first end and hands
// the second to the chain. Both ends are close-on-exec; the caller clears
// the flag on the end it passes down.
func Pair() (runtime, stage *Conn, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return &Conn{f: os.NewFile(uintptr(fds[0]), "sync-runtime")}, &Conn{f: os.NewFile(uintptr(fds[1]), "sync-stage")}, nil
}

// FromFD wraps an inherited descriptor.
func FromFD(fd int) *Conn { return &Conn{f: os.NewFile(uintptr(fd), "sync")} }

// File is the underlying descriptor.
func (c *Conn) File() *os.File { return c.f }

// Send writes one message.
func (c *Conn) Send(m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(m.Files) == 0 {
		_, err = unix.Write(int(c.f.Fd()), b)
	} else {
		fds := make([]int, len(m.Files))
		for i, f := range m.Files {
			fds[i] = int(f.Fd())
		}
		err = unix.Sendmsg(int(c.f.Fd()), b, unix.UnixRights(fds...), nil, 0)
	}
	if err != nil {
		return fmt.Errorf("sync socket: send %s: %w", m.Type, err)
	}
	return nil
}

// maxFiles bounds the descriptors one packet carries: the most is a
// TypeCgroup's, one per v1 hierarchy (nine on a usual v1 host).
const maxFiles = 16

// Recv reads one message; io.EOF when every peer has closed its end.
func (c *Conn) Recv() (Message, error) {
	if c.buf == nil {
		c.buf = make([]byte, maxMessage)
		c.oob = make([]byte, unix.CmsgSpace(maxFiles*4))
	}
	buf, oob := c.buf, c.oob
	for {
		n, oobn, flags, _, err := unix.Recvmsg(int(c.f.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return Message{}, fmt.Errorf("sync socket: receive: %w", err)
		}
		files, ferr := parseRights(oob[:oobn])
		if ferr == nil && flags&unix.MSG_CTRUNC != 0 {
			ferr = fmt.Errorf("more than %d descriptors: the rest were dropped", maxFiles)
		}
		if n == 0 && len(files) == 0 {
			return Message{}, io.EOF
		}
		var m Message
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			closeAll(files)
			return Message{}, fmt.Errorf("sync socket: bad message %q: %w", buf[:n], err)
		}
		if ferr != nil {
			closeAll(files)
			return Message{}, fmt.Errorf("sync socket: %s message: %w", m.Type, ferr)
		}
		m.Files = files
		return m, nil
	}
}

// ErrTimeout is returned by RecvTimeout when no message came in time.
var ErrTimeout = errors.New("sync socket: timeout")

// RecvTimeout is Recv that gives up after d (0: only what is queued).
func (c *Conn) RecvTimeout(d time.Duration) (Message, error) {
	fds := []unix.PollFd{{Fd: int32(c.f.Fd()), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(d.Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return Message{}, fmt.Errorf("sync socket: poll: %w", err)
		}
		if n == 0 {
			return Message{}, ErrTimeout
		}
		return c.Recv()
	}
}

// Close closes this end.
func (c *Conn) Close() error { return c.f.Close() }

func parseRights(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var files []*os.File
	for _, cm := range msgs {
		fds, err := unix.ParseUnixRights(&cm)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "sync-fd"))
		}
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
