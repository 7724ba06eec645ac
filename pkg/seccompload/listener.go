package seccompload

import (
	"encoding/json"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ListenerState is what runc sends to linux.seccomp.listenerPath: the
// container's state (status "creating", pid of the container process as
// the runtime sees it), listenerMetadata, and the name of the one
// descriptor that comes with it.
func ListenerState(st specs.State, metadata string) specs.ContainerProcessState {
	st.Status = specs.StateCreating
	if st.Version == "" {
		st.Version = specs.Version
	}
	return specs.ContainerProcessState{
		Version:  st.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      st.Pid,
		Metadata: metadata,
		State:    st,
	}
}

// DialListener connects to listenerPath (a SOCK_STREAM unix socket, as
// runc connects). A stage that installs the filter itself connects before
// it installs, so a strict profile need not allow socket(2) and connect(2).
func DialListener(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("linux.seccomp.listenerPath: socket: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("linux.seccomp.listenerPath: connect %s: %w", path, err)
	}
	return fd, nil
}

// SendListener sends the state as JSON with the listener descriptor
// attached (SCM_RIGHTS) on a connected socket, in one message, as runc
// does.
func SendListener(conn int, state specs.ContainerProcessState, listener int) error {
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	if err := unix.Sendmsg(conn, b, unix.UnixRights(listener), nil, 0); err != nil {
		return fmt.Errorf("linux.seccomp.listenerPath: send state and listener: %w", err)
	}
	return nil
}

// Deliver connects to path and sends state and listener: what oci-run
// does with the listener oci-exec hands it on the sync socket.
func Deliver(path string, state specs.ContainerProcessState, listener int) error {
	conn, err := DialListener(path)
	if err != nil {
		return err
	}
	defer unix.Close(conn)
	return SendListener(conn, state, listener)
}
