package cgroup

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// OOMWatcher reports the container's out-of-memory events.
type OOMWatcher struct {
	// C receives one value per OOM event; it is closed when the cgroup
	// goes away or Close is called.
	C    <-chan struct{}
	file *os.File
}

// Close stops the watcher.
func (w *OOMWatcher) Close() error { return w.file.Close() }

// WatchOOM starts watching for OOM events: on cgroup v1 (and hybrid hosts,
// where memory is a v1 controller) an eventfd registered for
// memory.oom_control through cgroup.event_control; on v2 inotify on
// memory.events, where an increase of "oom" is an event.
func (c *Cgroup) WatchOOM() (*OOMWatcher, error) {
	if c.Paths.V2() {
		return watchOOMv2(c.Paths.Dir(Unified))
	}
	d := c.Paths.Dir("memory")
	if d == "" {
		return nil, errors.New("no memory cgroup to watch")
	}
	return watchOOMv1(d)
}

func watchOOMv1(dir string) (*OOMWatcher, error) {
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := os.NewFile(uintptr(efd), "oom-eventfd")
	reg := fmt.Sprintf("%d %d", efd, ctl.Fd())
	if err := os.WriteFile(filepath.Join(dir, "cgroup.event_control"), []byte(reg), 0); err != nil {
		ev.Close()
		return nil, fmt.Errorf("register OOM notification: %w", err)
	}
	ch := make(chan struct{}, 16)
	go func() {
		defer close(ch)
		buf := make([]byte, 8)
		for {
			if _, err := ev.Read(buf); err != nil {
				return
			}
			// The eventfd also fires when the cgroup is removed.
			if _, err := os.Stat(filepath.Join(dir, "memory.oom_control")); err != nil {
				ev.Close()
				return
			}
			for range binary.NativeEndian.Uint64(buf) {
				ch <- struct{}{}
			}
		}
	}()
	return &OOMWatcher{C: ch, file: ev}, nil
}

func watchOOMv2(dir string) (*OOMWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	in := os.NewFile(uintptr(fd), "oom-inotify")
	if _, err := unix.InotifyAddWatch(fd, filepath.Join(dir, "memory.events"), unix.IN_MODIFY); err != nil {
		in.Close()
		return nil, fmt.Errorf("watch memory.events: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Join(dir, "cgroup.events"), unix.IN_MODIFY); err != nil {
		in.Close()
		return nil, fmt.Errorf("watch cgroup.events: %w", err)
	}
	last, err := eventCount(dir, "memory.events", "oom")
	if err != nil {
		in.Close()
		return nil, err
	}
	ch := make(chan struct{}, 16)
	go func() {
		defer close(ch)
		buf := make([]byte, 4096)
		for {
			if _, err := in.Read(buf); err != nil {
				return
			}
			n, err := eventCount(dir, "memory.events", "oom")
			if err != nil {
				in.Close()
				return
			}
			for ; last < n; last++ {
				ch <- struct{}{}
			}
			if pop, err := eventCount(dir, "cgroup.events", "populated"); err != nil || pop == 0 {
				in.Close()
				return
			}
		}
	}()
	return &OOMWatcher{C: ch, file: in}, nil
}

// eventCount reads "key value" from a flat-keyed cgroup file.
func eventCount(dir, file, key string) (uint64, error) {
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			return strconv.ParseUint(v, 10, 64)
		}
	}
	return 0, sc.Err()
}

// OOMKills is the number of processes the OOM killer killed in the
// container's cgroup.
func (c *Cgroup) OOMKills() (uint64, error) {
	if c.Paths.V2() {
		return eventCount(c.Paths.Dir(Unified), "memory.events", "oom_kill")
	}
	return eventCount(c.Paths.Dir("memory"), "memory.oom_control", "oom_kill")
}
