//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// runOpts are the container settings the scenarios use; each client
// translates them into its own flags.
type runOpts struct {
	tty      bool
	memory   int64 // bytes
	pids     int64
	capDrop  []string // without CAP_
	readOnly bool
	bind     [2]string // host dir, container dir
}

type client interface {
	Name() string
	// Supports names the scenarios the client's CLI cannot express.
	Supports(what string) bool
	Run(t *testing.T, o runOpts, args ...string) result
	Start(t *testing.T, o runOpts, args ...string) string
	Exec(t *testing.T, id string, tty bool, args ...string) result
	Pid(t *testing.T, id string) int
	Pause(t *testing.T, id string)
	Unpause(t *testing.T, id string)
	Update(t *testing.T, id string, memory int64)
	Top(t *testing.T, id string) string
	Stats(t *testing.T, id string) string
	Remove(t *testing.T, id string)
}

var nameSeq int

func newName(prefix string) string {
	nameSeq++
	return fmt.Sprintf("%s-%s-%d", e.tag, prefix, nameSeq)
}

// ttyWrap gives a command a terminal on its stdin (ctr -t insists on
// one): script(1) runs it on a new pty.
func ttyWrap(argv []string) []string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return []string{"script", "-qec", strings.Join(q, " "), "/dev/null"}
}

// ---- docker -----------------------------------------------------------------

type dockerClient struct{ host string }

// dockerBin is Debian's docker.io client (another docker may be first on PATH).
const dockerBin = "/usr/bin/docker"

func newDocker() (client, error) {
	if err := ensureContainerd(); err != nil {
		return nil, err
	}
	d := filepath.Join(e.dir, "docker")
	if err := os.MkdirAll(d, 0o711); err != nil {
		return nil, err
	}
	conf := filepath.Join(d, "daemon.json")
	if err := os.WriteFile(conf, []byte("{}\n"), 0o644); err != nil {
		return nil, err
	}
	sock := filepath.Join(d, "docker.sock")
	host := "unix://" + sock
	// dockerd 20.10 writes its trust key to /etc/docker/key.json whatever
	// its other paths: remove what it adds there.
	_, etcErr := os.Stat("/etc/docker")
	_, keyErr := os.Stat("/etc/docker/key.json")
	cleanups = append(cleanups, func() {
		if keyErr != nil {
			os.Remove("/etc/docker/key.json")
		}
		if etcErr != nil {
			os.Remove("/etc/docker")
		}
	})
	argv := []string{"dockerd",
		"--config-file", conf,
		"--data-root", filepath.Join(d, "data"),
		"--exec-root", filepath.Join(d, "exec"),
		"--pidfile", filepath.Join(d, "docker.pid"),
		"-H", host,
		"--containerd", containerdSock,
		"--containerd-namespace", e.tag + "-moby",
		"--containerd-plugins-namespace", e.tag + "-moby-plugins",
		"--add-runtime", "e2e=" + e.runtime,
		"--default-runtime", "e2e",
		"--exec-opt", "native.cgroupdriver=cgroupfs",
		"--cgroup-parent", "/" + e.tag + "-docker",
		"--bridge", "none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
		"--userland-proxy=false",
		"--storage-driver", "overlay2",
		"--log-level", "warn",
	}
	dm, err := startDaemon("dockerd", argv, func() bool {
		return run([]string{dockerBin, "-H", host, "version"}, nil, "").code == 0
	})
	if err != nil {
		return nil, err
	}
	c := &dockerClient{host: host}
	cleanups = append(cleanups, func() {
		if ids := strings.Fields(run(c.cmd("ps", "-aq"), nil, "").out); len(ids) > 0 {
			run(c.cmd(append([]string{"rm", "-f"}, ids...)...), nil, "")
		}
		dm.Stop()
		unmountUnder(d)
		removeCgroups(e.tag + "-docker")
	})
	if r := run(c.cmd("import", e.rootfsTar, "busybox:e2e"), nil, ""); r.code != 0 {
		return nil, fmt.Errorf("docker import: %s", r.out)
	}
	return c, nil
}

func (c *dockerClient) Name() string { return "docker" }

func (c *dockerClient) Supports(string) bool { return true }

func (c *dockerClient) cmd(args ...string) []string {
	return append([]string{dockerBin, "-H", c.host}, args...)
}

func (c *dockerClient) runArgs(o runOpts) []string {
	a := []string{"--network", "none"}
	a = dockerRunFlags(a, o)
	return append(a, "busybox:e2e")
}

// dockerRunFlags appends o as `docker run` options, which podman run
// takes too.
func dockerRunFlags(a []string, o runOpts) []string {
	if o.tty {
		a = append(a, "-t")
	}
	if o.memory > 0 {
		a = append(a, "--memory", strconv.FormatInt(o.memory, 10))
	}
	if o.pids > 0 {
		a = append(a, "--pids-limit", strconv.FormatInt(o.pids, 10))
	}
	for _, cp := range o.capDrop {
		a = append(a, "--cap-drop", cp)
	}
	if o.readOnly {
		a = append(a, "--read-only")
	}
	if o.bind[0] != "" {
		a = append(a, "-v", o.bind[0]+":"+o.bind[1])
	}
	return a
}

func (c *dockerClient) Run(t *testing.T, o runOpts, args ...string) result {
	return run(c.cmd(append(append([]string{"run", "--rm"}, c.runArgs(o)...), args...)...), nil, "")
}

func (c *dockerClient) Start(t *testing.T, o runOpts, args ...string) string {
	name := newName("d")
	must(t, c.cmd(append(append([]string{"run", "-d", "--name", name}, c.runArgs(o)...), args...)...))
	return name
}

func (c *dockerClient) Exec(t *testing.T, id string, tty bool, args ...string) result {
	a := []string{"exec"}
	if tty {
		a = append(a, "-t")
	}
	return run(c.cmd(append(append(a, id), args...)...), nil, "")
}

func (c *dockerClient) Pid(t *testing.T, id string) int {
	return atoi(t, must(t, c.cmd("inspect", "-f", "{{.State.Pid}}", id)))
}

func (c *dockerClient) Pause(t *testing.T, id string)   { must(t, c.cmd("pause", id)) }
func (c *dockerClient) Unpause(t *testing.T, id string) { must(t, c.cmd("unpause", id)) }

func (c *dockerClient) Update(t *testing.T, id string, memory int64) {
	must(t, c.cmd("update", "--memory", strconv.FormatInt(memory, 10), "--memory-swap", strconv.FormatInt(2*memory, 10), id))
}

func (c *dockerClient) Top(t *testing.T, id string) string { return must(t, c.cmd("top", id)) }

func (c *dockerClient) Stats(t *testing.T, id string) string {
	return must(t, c.cmd("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", id))
}

func (c *dockerClient) Remove(t *testing.T, id string) { must(t, c.cmd("rm", "-f", id)) }

// ---- podman -----------------------------------------------------------------

type podmanClient struct {
	base []string
	env  []string
}

func newPodman() (client, error) {
	d := filepath.Join(e.dir, "podman")
	for _, sub := range []string{"root", "run", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o711); err != nil {
			return nil, err
		}
	}
	// runtime_supports_json: podman sends --log-format=json --log FILE
	// only to runtimes listed there (by name).
	// As root podman asks for RLIMIT_NOFILE 1048576 and a large
	// RLIMIT_NPROC; a machine whose bounding set lacks CAP_SYS_RESOURCE
	// (this one) cannot go above the hard limits podman itself runs with:
	// ours for nofile, and for nproc at most kernel.pid_max (podman
	// lowers its own to that).
	var nofile, nproc syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile)
	syscall.Getrlimit(unix.RLIMIT_NPROC, &nproc)
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n < nproc.Max {
			nproc.Max = n
		}
	}
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=%d:%d", "nproc=%d:%d"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
runtime = "ocirun-e2e"
runtime_supports_json = ["ocirun-e2e", "crun", "runc"]

[engine.runtimes]
ocirun-e2e = [%q]
`, nofile.Max, nofile.Max, nproc.Max, nproc.Max, filepath.Join(d, "events.log"), e.runtime)
	confPath := filepath.Join(d, "containers.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	c := &podmanClient{
		base: []string{"podman",
			"--root", filepath.Join(d, "root"),
			"--runroot", filepath.Join(d, "run"),
			"--tmpdir", filepath.Join(d, "tmp"),
			"--storage-driver", "overlay",
			"--cgroup-manager=cgroupfs", "--events-backend=file",
			"--runtime", "ocirun-e2e",
		},
		env: []string{"CONTAINERS_CONF=" + confPath},
	}
	cleanups = append(cleanups, func() {
		run(c.cmd("rm", "-a", "-f", "-t", "0"), c.env, "")
		unmountUnder(d)
		removeCgroups(e.tag + "-podman")
	})
	if r := run(c.cmd("import", e.rootfsTar, "localhost/busybox:e2e"), c.env, ""); r.code != 0 {
		return nil, fmt.Errorf("podman import: %s", r.out)
	}
	return c, nil
}

func (c *podmanClient) Name() string         { return "podman" }
func (c *podmanClient) Supports(string) bool { return true }

func (c *podmanClient) cmd(args ...string) []string {
	return append(append([]string(nil), c.base...), args...)
}

func (c *podmanClient) runArgs(o runOpts) []string {
	a := []string{"--network", "none", "--cgroup-parent", "/" + e.tag + "-podman"}
	a = dockerRunFlags(a, o)
	return append(a, "localhost/busybox:e2e")
}

func (c *podmanClient) Run(t *testing.T, o runOpts, args ...string) result {
	return run(c.cmd(append(append([]string{"run", "--rm"}, c.runArgs(o)...), args...)...), c.env, "")
}

func (c *podmanClient) Start(t *testing.T, o runOpts, args ...string) string {
	name := newName("p")
	must(t, c.cmd(append(append([]string{"run", "-d", "--name", name}, c.runArgs(o)...), args...)...), c.env...)
	return name
}

func (c *podmanClient) Exec(t *testing.T, id string, tty bool, args ...string) result {
	a := []string{"exec"}
	if tty {
		a = append(a, "-t")
	}
	return run(c.cmd(append(append(a, id), args...)...), c.env, "")
}

func (c *podmanClient) Pid(t *testing.T, id string) int {
	return atoi(t, must(t, c.cmd("inspect", "-f", "{{.State.Pid}}", id), c.env...))
}

func (c *podmanClient) Pause(t *testing.T, id string)   { must(t, c.cmd("pause", id), c.env...) }
func (c *podmanClient) Unpause(t *testing.T, id string) { must(t, c.cmd("unpause", id), c.env...) }

func (c *podmanClient) Update(t *testing.T, id string, memory int64) {
	must(t, c.cmd("update", "--memory", strconv.FormatInt(memory, 10), "--memory-swap", strconv.FormatInt(2*memory, 10), id), c.env...)
}

func (c *podmanClient) Top(t *testing.T, id string) string {
	return must(t, c.cmd("top", id), c.env...)
}

func (c *podmanClient) Stats(t *testing.T, id string) string {
	return must(t, c.cmd("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", id), c.env...)
}

func (c *podmanClient) Remove(t *testing.T, id string) {
	must(t, c.cmd("rm", "-f", "-t", "0", id), c.env...)
}

// ---- ctr (containerd) ---------------------------------------------------------

type ctrClient struct {
	base     []string
	runcRoot string
	execSeq  int
}

func newCtr() (client, error) {
	if err := ensureContainerd(); err != nil {
		return nil, err
	}
	c := &ctrClient{
		base:     []string{"ctr", "-a", containerdSock, "-n", e.tag},
		runcRoot: filepath.Join(e.dir, "ctr-runtime-root"),
	}
	cleanups = append(cleanups, func() {
		for _, id := range c.containers() {
			run(c.cmd("task", "kill", "-s", "SIGKILL", id), nil, "")
			waitFor(10*time.Second, func() bool { return c.status(id) != "RUNNING" && c.status(id) != "PAUSED" })
			run(c.cmd("task", "rm", "-f", id), nil, "")
			run(c.cmd("container", "rm", id), nil, "")
		}
		removeCgroups(e.tag + "-ctr")
	})
	if r := run(c.cmd("image", "import", e.ociTar), nil, ""); r.code != 0 {
		return nil, fmt.Errorf("ctr image import: %s", r.out)
	}
	return c, nil
}

func (c *ctrClient) Name() string { return "ctr" }

// ctr 1.6 has neither a pids limit nor task update.
func (c *ctrClient) Supports(what string) bool { return what != "pids" && what != "update" }

func (c *ctrClient) cmd(args ...string) []string {
	return append(append([]string(nil), c.base...), args...)
}

func (c *ctrClient) containers() []string {
	return strings.Fields(run(c.cmd("container", "ls", "-q"), nil, "").out)
}

// status is the STATUS column of `ctr task ls` for id ("" if no task).
func (c *ctrClient) status(id string) string {
	for _, l := range strings.Split(run(c.cmd("task", "ls"), nil, "").out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

func (c *ctrClient) runArgs(o runOpts, id string) []string {
	a := []string{"--runc-binary", e.runtime, "--runc-root", c.runcRoot, "--cgroup", "/" + e.tag + "-ctr/" + id}
	if o.tty {
		a = append(a, "--tty")
	}
	if o.memory > 0 {
		a = append(a, "--memory-limit", strconv.FormatInt(o.memory, 10))
	}
	for _, cp := range o.capDrop {
		a = append(a, "--cap-drop", "CAP_"+cp)
	}
	if o.readOnly {
		a = append(a, "--read-only")
	}
	if o.bind[0] != "" {
		a = append(a, "--mount", "type=bind,src="+o.bind[0]+",dst="+o.bind[1]+",options=rbind:rw")
	}
	return append(a, imageRef, id)
}

func (c *ctrClient) Run(t *testing.T, o runOpts, args ...string) result {
	id := newName("c")
	argv := c.cmd(append(append([]string{"run", "--rm"}, c.runArgs(o, id)...), args...)...)
	if o.tty {
		argv = ttyWrap(argv)
	}
	return run(argv, nil, "")
}

func (c *ctrClient) Start(t *testing.T, o runOpts, args ...string) string {
	id := newName("c")
	must(t, c.cmd(append(append([]string{"run", "-d"}, c.runArgs(o, id)...), args...)...))
	return id
}

func (c *ctrClient) Exec(t *testing.T, id string, tty bool, args ...string) result {
	c.execSeq++
	a := []string{"task", "exec", "--exec-id", fmt.Sprintf("e%d", c.execSeq)}
	if tty {
		a = append(a, "-t")
	}
	argv := c.cmd(append(append(a, id), args...)...)
	if tty {
		argv = ttyWrap(argv)
	}
	return run(argv, nil, "")
}

func (c *ctrClient) Pid(t *testing.T, id string) int {
	for _, l := range strings.Split(must(t, c.cmd("task", "ls")), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == id {
			return atoi(t, f[1])
		}
	}
	t.Fatalf("ctr task ls: no task %s", id)
	return 0
}

func (c *ctrClient) Pause(t *testing.T, id string)   { must(t, c.cmd("task", "pause", id)) }
func (c *ctrClient) Unpause(t *testing.T, id string) { must(t, c.cmd("task", "resume", id)) }

func (c *ctrClient) Update(t *testing.T, id string, memory int64) {
	t.Skip("ctr 1.6 cannot update a task's resources")
}

func (c *ctrClient) Top(t *testing.T, id string) string { return must(t, c.cmd("task", "ps", id)) }

func (c *ctrClient) Stats(t *testing.T, id string) string {
	return must(t, c.cmd("task", "metrics", id))
}

func (c *ctrClient) Remove(t *testing.T, id string) {
	must(t, c.cmd("task", "kill", "-s", "SIGKILL", id))
	if !waitFor(30*time.Second, func() bool { return c.status(id) == "STOPPED" }) {
		t.Fatalf("ctr: task %s did not stop after SIGKILL (status %q)", id, c.status(id))
	}
	must(t, c.cmd("task", "rm", id))
	must(t, c.cmd("container", "rm", id))
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
