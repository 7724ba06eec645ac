//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// daemon is an engine daemon the suite started, with its own state.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	// exited is closed when the daemon is gone.
	exited chan struct{}
}

func startDaemon(name string, argv []string, ready func() bool) (*daemon, error) {
	logf, err := os.Create(filepath.Join(e.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: nothing of ours gets its signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, log: logf}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	if !waitFor(60*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		return ready()
	}) {
		d.stop(exited)
		return nil, fmt.Errorf("%s did not come up (see %s)", name, logf.Name())
	}
	select {
	case <-exited:
		b, _ := os.ReadFile(logf.Name())
		return nil, fmt.Errorf("%s exited: %s", name, tail(string(b), 2000))
	default:
	}
	d.exited = exited
	return d, nil
}

// Stop ends the daemon (SIGTERM, then SIGKILL) and waits for it.
func (d *daemon) Stop() { d.stop(d.exited) }

func (d *daemon) stop(exited chan struct{}) {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-exited
	}
	d.log.Close()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// unmountUnder detaches every mount below dir (overlay roots, shm, netns
// files the engines left), deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// removeCgroups removes the cgroup directories named prefix* at the top of
// every hierarchy, innermost first; only what the suite's engines made
// (their cgroup parents carry the suite's unique tag).
func removeCgroups(prefix string) {
	// Processes leave their cgroup a moment after the engine says they
	// are gone (conmon in particular): retry while some remain.
	waitFor(15*time.Second, func() bool { return removeCgroupsOnce(prefix) })
}

func removeCgroupsOnce(prefix string) bool {
	tops, _ := filepath.Glob("/sys/fs/cgroup/*/" + prefix + "*")
	more, _ := filepath.Glob("/sys/fs/cgroup/" + prefix + "*")
	left := false
	for _, top := range append(tops, more...) {
		var dirs []string
		filepath.Walk(top, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if os.Remove(dirs[i]) != nil {
				left = true
			}
		}
	}
	return !left
}

// containerd is started once, for ctr and for dockerd.
var containerdSock string

func ensureContainerd() error {
	if containerdSock != "" {
		return nil
	}
	d := filepath.Join(e.dir, "containerd")
	if err := os.MkdirAll(d, 0o711); err != nil {
		return err
	}
	sock := filepath.Join(d, "containerd.sock")
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(d, "root"), filepath.Join(d, "state"), sock, sock+".ttrpc", filepath.Join(d, "debug.sock"), filepath.Join(d, "opt"))
	confPath := filepath.Join(d, "config.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	dm, err := startDaemon("containerd", []string{"containerd", "--config", confPath}, func() bool {
		return run([]string{"ctr", "-a", sock, "version"}, nil, "").code == 0
	})
	if err != nil {
		return err
	}
	containerdSock = sock
	cleanups = append(cleanups, func() {
		dm.Stop()
		unmountUnder(d)
	})
	return nil
}
