package lifecycle

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ttyProxy is `run`'s own console socket for a foreground container with a
// terminal: it receives the pty master from oci-exec and copies between it
// and oci-run's stdio, with the local terminal in raw mode.
type ttyProxy struct {
	local  *os.File // our end of the socket pair
	peer   *os.File // handed to the chain as OCI_CONSOLE_FD
	master *os.File
	saved  *unix.Termios
	done   sync.WaitGroup
}

func newTTYProxy() (*ttyProxy, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console socket pair: %w", err)
	}
	return &ttyProxy{local: os.NewFile(uintptr(fds[0]), "console"), peer: os.NewFile(uintptr(fds[1]), "console-peer")}, nil
}

// ReceiveMaster reads one descriptor sent with SCM_RIGHTS.
func ReceiveMaster(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("receive pty master: %w", err)
		}
		if n == 0 && oobn == 0 {
			return nil, fmt.Errorf("receive pty master: %w", io.EOF)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) == 0 {
			return nil, fmt.Errorf("receive pty master: no descriptor in message")
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) == 0 {
			return nil, fmt.Errorf("receive pty master: no descriptor in message")
		}
		for _, extra := range fds[1:] {
			unix.Close(extra)
		}
		return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
	}
}

// Attach takes the master (sent during create) and starts copying.
func (t *ttyProxy) Attach() error {
	m, err := ReceiveMaster(t.local)
	if err != nil {
		return err
	}
	t.master = m
	if tio, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		saved := *tio
		t.saved = &saved
		raw := *tio
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		unix.IoctlSetTermios(0, unix.TCSETS, &raw)
	}
	t.Resize()
	go io.Copy(m, os.Stdin)
	t.done.Add(1)
	go func() {
		defer t.done.Done()
		io.Copy(os.Stdout, m)
	}()
	return nil
}

// Resize gives the container's terminal our window size.
func (t *ttyProxy) Resize() {
	if t.master == nil {
		return
	}
	if ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// Drain waits briefly for the container's last output: the pty reads EIO
// once every holder of the slave is gone.
func (t *ttyProxy) Drain() {
	if t.master == nil {
		return
	}
	ch := make(chan struct{})
	go func() { t.done.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(time.Second):
	}
}

// Close restores the local terminal.
func (t *ttyProxy) Close() {
	if t.saved != nil {
		unix.IoctlSetTermios(0, unix.TCSETS, t.saved)
	}
	t.local.Close()
	t.peer.Close()
	if t.master != nil {
		t.master.Close()
	}
}
