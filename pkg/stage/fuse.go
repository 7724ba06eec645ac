package stage

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// onlyInheritable reports whether every descriptor of the process is one
// an exec would keep (not close-on-exec), apart from the Go runtime's
// poller (an epoll instance and its eventfd, which lead nowhere). The
// exec between two stages is where a stage's own descriptors go away; a
// stage that goes on into the next one in the same process must not
// carry any of them further (an opened directory of the host would reach
// the container, CVE-2024-21626). When /proc cannot tell, or anything
// else is open, the answer is no and the next stage is exec'd as usual.
func onlyInheritable() bool {
	dfd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(dfd)
	var st unix.Statfs_t
	if unix.Fstatfs(dfd, &st) != nil || st.Type != unix.PROC_SUPER_MAGIC {
		return false
	}
	buf := make([]byte, 4096)
	var names []string
	for {
		n, err := unix.ReadDirent(dfd, buf)
		if err != nil {
			return false
		}
		if n == 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	link := make([]byte, 64)
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == dfd {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			continue
		}
		n, err := unix.Readlinkat(dfd, name, link)
		if err != nil {
			return false
		}
		switch string(link[:n]) {
		case "anon_inode:[eventpoll]", "anon_inode:[eventfd]":
			continue
		}
		return false
	}
	return true
}

// setComm names the process (its main thread) after the stage it
// continues into, as an exec of that stage would (ps, /proc/PID/comm).
func setComm(name string) {
	b := []byte(name)
	if len(b) > 15 {
		b = b[:15]
	}
	b = append(b, 0)
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafePointer(&b[0])), 0, 0, 0)
}
