// Package console gives the container process a terminal the way runc
// does with --console-socket: a new pty is opened from /dev/ptmx of the
// container's root, its master is sent over the console socket to the
// engine (containerd, conmon: github.com/containerd/console's RecvFd reads
// it), and the slave becomes the process's stdio and controlling terminal.
package console

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Pty is an open pseudo-terminal pair.
type Pty struct {
	Master *os.File
	Slave  *os.File
	// SlavePath is /dev/pts/N of the container's devpts.
	SlavePath string
}

// Open opens a new pty from /dev/ptmx of the current root and unlocks it.
func Open() (*Pty, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("process.terminal: open pty master: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, fmt.Errorf("process.terminal: unlock pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("process.terminal: pty number: %w", err)
	}
	// TIOCGPTPEER opens the slave of this very master, without a path
	// lookup another process could race.
	sfd, _, e := unix.Syscall(unix.SYS_IOCTL, m.Fd(), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if e != 0 {
		m.Close()
		return nil, fmt.Errorf("process.terminal: open pty slave: %w", e)
	}
	path := "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	return &Pty{Master: m, Slave: os.NewFile(sfd, path), SlavePath: path}, nil
}

// Resize applies process.consoleSize.
func (p *Pty) Resize(sz *specs.Box) error {
	if sz == nil || sz.Height == 0 || sz.Width == 0 {
		return nil
	}
	ws := &unix.Winsize{Row: uint16(sz.Height), Col: uint16(sz.Width)}
	if err := unix.IoctlSetWinsize(int(p.Master.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		return fmt.Errorf("process.consoleSize: %w", err)
	}
	return nil
}

// SendMaster sends the master over the console socket (SCM_RIGHTS), with
// the master's name as the payload, as runc sends it, then closes our copy:
// only the engine holds the master from now on.
func (p *Pty) SendMaster(socket int) error {
	name := []byte(p.Master.Name())
	err := unix.Sendmsg(socket, name, unix.UnixRights(int(p.Master.Fd())), nil, 0)
	p.Master.Close()
	if err != nil {
		return fmt.Errorf("process.terminal: send pty master on the console socket: %w", err)
	}
	return nil
}

// MakeStdio makes the slave the process's stdin, stdout and stderr, starts
// a new session and makes the slave its controlling terminal.
func (p *Pty) MakeStdio() error {
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(p.Slave.Fd()), fd, 0); err != nil {
			return fmt.Errorf("process.terminal: pty slave as fd %d: %w", fd, err)
		}
	}
	if err := NewSession(); err != nil {
		return err
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("process.terminal: make the pty the controlling terminal: %w", err)
	}
	return nil
}

// NewSession makes the process a session leader, as runc makes every
// container process. A process that leads its process group already (a
// stage run by hand from a job-control shell) cannot; that is an error
// only if it does not lead its session either.
func NewSession() error {
	if _, err := unix.Setsid(); err != nil {
		if errors.Is(err, unix.EPERM) {
			if sid, _ := unix.Getsid(0); sid == unix.Getpid() {
				return nil
			}
		}
		return fmt.Errorf("setsid: %w", err)
	}
	return nil
}

// BindConsole bind-mounts the slave onto /dev/console when /dev/console
// is the empty regular file oci-mount leaves as a placeholder for the
// container's first process. Anything else there (a device, a previous
// bind mount when joining a running container) is left alone. It needs
// CAP_SYS_ADMIN, so it runs before capabilities are dropped.
func (p *Pty) BindConsole() error {
	fd, err := unix.Open("/dev/console", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("process.terminal: open /dev/console: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("process.terminal: stat /dev/console: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != 0 {
		return nil
	}
	// Mount on the handle just checked, not on the path again.
	target := "/proc/self/fd/" + strconv.Itoa(fd)
	if _, err := os.Stat(target); err != nil {
		target = "/dev/console"
	}
	src := "/proc/self/fd/" + strconv.Itoa(int(p.Slave.Fd()))
	if _, err := os.Stat(src); err != nil {
		src = p.SlavePath
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("process.terminal: bind %s on /dev/console: %w", p.SlavePath, err)
	}
	return nil
}
