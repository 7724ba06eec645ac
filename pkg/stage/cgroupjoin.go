package stage

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/pkg/syncsock"
	"github.com/oci-run/oci-run/pkg/trace"
)

// JoinCgroup does what EnvCgroupJoin asks, when it is set (nothing
// otherwise): it waits for the runtime's TypeCgroup message, writes "0"
// to each tasks file it carries, so that this thread joins every v1
// hierarchy of the container's cgroup, and with "ns" makes the cgroup
// namespace, rooted there. It must run on the main thread, before the
// stage does anything of the container's: the thread group leader is
// the thread whose cgroup the process's memory is charged to (v1), the
// cgroup namespace is the calling thread's, and the stage execs from
// that thread (oci-mount locks it at init). The process's other threads,
// the Go runtime's, stay where they were born until the exec of the
// user program ends them.
func (s *Stage) JoinCgroup() error {
	mode := os.Getenv(EnvCgroupJoin)
	if mode == "" {
		return nil
	}
	os.Unsetenv(EnvCgroupJoin)
	if s.Sync == nil {
		return fmt.Errorf("%s is set but there is no sync socket (%s)", EnvCgroupJoin, EnvSync)
	}
	if unix.Gettid() != unix.Getpid() {
		return errors.New("join the cgroup: not on the main thread")
	}
	m, err := s.Sync.Recv()
	if err != nil {
		return fmt.Errorf("wait for the cgroup: %w", err)
	}
	defer func() {
		for _, f := range m.Files {
			f.Close()
		}
	}()
	switch m.Type {
	case syncsock.TypeCgroup:
	case syncsock.TypeError:
		return fmt.Errorf("wait for the cgroup: the runtime failed: %s", m.Error)
	default:
		return fmt.Errorf("wait for the cgroup: unexpected %q message", m.Type)
	}
	for _, f := range m.Files {
		if _, err := unix.Write(int(f.Fd()), []byte("0")); err != nil {
			return fmt.Errorf("join cgroup (%s): %w", f.Name(), err)
		}
	}
	if mode == "ns" {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("create the cgroup namespace: %w", err)
		}
	}
	trace.Point("cgroup")
	return nil
}
