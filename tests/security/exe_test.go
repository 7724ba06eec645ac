package security

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/capability"
)

// attacker is a privileged container (every capability the runtime has,
// CAP_SYS_PTRACE included, so being non-dumpable does not protect a
// process from it; no seccomp) that, each time the test asks, looks at
// /proc/PID/exe of every process it can see and reports each that is a
// host runtime binary (device and inode in /ctl/host-bins) or that it
// can open for writing: the CVE-2019-5736 attack, without the race.
type attacker struct {
	t   *testing.T
	r   *testutil.Runtime
	id  string
	ctl string
	pid int
	n   int
	// bundles are host directories of the test's containers.
	bundles []string
}

const scanScript = `
exec 2>>/ctl/err
while :; do
  # A read can come back empty (interrupted: this shell is pid 1 of the
  # namespace other containers join, and their orphans come to it).
  read n < /ctl/go || { echo "empty read" >&2; continue; }
  [ -n "$n" ] || continue
  {
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    id=$(stat -L -c '%d:%i' $d/exe 2>/dev/null) || continue
    cmd=$(tr '\0' ' ' < $d/cmdline 2>/dev/null)
    if grep -qx "$id" /ctl/host-bins; then echo "HOST $p $id $cmd"; fi
    if (exec 3>>$d/exe) 2>/dev/null; then echo "WRITABLE $p $cmd"; fi
    for f in $d/fd/*; do
      [ -d "$f" ] || continue
      fid=$(stat -L -c '%d:%i' "$f" 2>/dev/null) || continue
      if grep -qx "$fid" /ctl/host-dirs; then echo "HOSTDIR $p ${f##*/} $(readlink $f) $cmd"; fi
    done
    echo "seen $p $(readlink $d/exe) $cmd"
  done
  echo done
  } > /ctl/out.tmp
  mv /ctl/out.tmp /ctl/out.$n
done`

func startAttacker(t *testing.T, r *testutil.Runtime) *attacker {
	a := &attacker{t: t, r: r, id: testutil.ID(t) + "-attacker", ctl: t.TempDir()}
	if err := unix.Mkfifo(filepath.Join(a.ctl, "go"), 0o600); err != nil {
		t.Fatal(err)
	}
	var bins []string
	for _, name := range []string{"oci-run", "oci-cgroup", "oci-unshare", "oci-mount", "oci-seccomp", "oci-exec"} {
		var st unix.Stat_t
		if err := unix.Stat(testutil.Bin(t, name), &st); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	}
	os.WriteFile(filepath.Join(a.ctl, "host-bins"), []byte(strings.Join(bins, "\n")+"\n"), 0o644)

	s := testutil.Spec("", "sh", "-c", scanScript)
	host, err := capability.ReadHost()
	if err != nil {
		t.Fatal(err)
	}
	all := capability.Names(host.Bounding)
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/ctl", Type: "bind", Source: a.ctl, Options: []string{"rbind", "rw"}})
	b := testutil.Bundle(t, s)
	a.bundles = append(a.bundles, b)
	r.Must("create", "-b", b, a.id)
	t.Cleanup(func() { r.Run("delete", "--force", a.id) })
	r.Must("start", a.id)
	st, _ := r.State(a.id)
	a.pid = st.Pid
	return a
}

// hostDirs are directories of the host no process in a container may
// hold a descriptor of: the host's root, the state root and the
// directories in it, the bundles, the cgroups of the test's containers.
func (a *attacker) hostDirs(extra ...string) {
	dirs := append([]string{"/", "/sys/fs/cgroup", a.r.Root}, extra...)
	ents, _ := os.ReadDir(a.r.Root)
	for _, e := range ents {
		dirs = append(dirs, filepath.Join(a.r.Root, e.Name()))
	}
	for _, e := range ents {
		dirs = append(dirs, testutil.CgroupDirs(a.t, e.Name())...)
	}
	var ids []string
	for _, d := range dirs {
		var st unix.Stat_t
		if unix.Stat(d, &st) == nil {
			ids = append(ids, fmt.Sprintf("%d:%d", st.Dev, st.Ino))
		}
	}
	os.WriteFile(filepath.Join(a.ctl, "host-dirs.tmp"), []byte(strings.Join(ids, "\n")+"\n"), 0o644)
	os.Rename(filepath.Join(a.ctl, "host-dirs.tmp"), filepath.Join(a.ctl, "host-dirs"))
}

// scanBoundaries lets a traced oci-run go on from stop to stop, the
// attacker looking at each, and frees it at the end; it returns what the
// attacker found and how many stops it looked at.
func (a *attacker) scanBoundaries(tr *testutil.Tracer) (found []string, boundaries int) {
	for {
		e := tr.Next()
		if e.Kind == "done" || e.Kind == "exit" && e.Pid == tr.Pid {
			break
		}
		if e.Kind == "exit" {
			continue
		}
		boundaries++
		found = append(found, a.scan(e.String())...)
		tr.Continue()
	}
	tr.Free()
	return found, boundaries
}

// scan asks for one look and returns the lines that report a finding.
func (a *attacker) scan(when string) []string {
	a.hostDirs(a.bundles...)
	a.n++
	var f *os.File
	for start := time.Now(); ; {
		fd, err := unix.Open(filepath.Join(a.ctl, "go"), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == nil {
			f = os.NewFile(uintptr(fd), "go")
			break
		}
		if err != unix.ENXIO {
			a.t.Fatal(err)
		}
		if time.Since(start) > 20*time.Second {
			errs, _ := os.ReadFile(filepath.Join(a.ctl, "err"))
			a.t.Fatalf("%s: the attacker does not read its fifo (status %s): %s\nits stderr: %s", when, a.r.Status(a.id), a.processes(), errs)
		}
		time.Sleep(2 * time.Millisecond)
	}
	fmt.Fprintln(f, a.n)
	f.Close()
	out := filepath.Join(a.ctl, "out."+strconv.Itoa(a.n))
	for {
		if b, err := os.ReadFile(out); err == nil {
			var found []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "HOST ") || strings.HasPrefix(l, "WRITABLE ") || strings.HasPrefix(l, "HOSTDIR ") {
					found = append(found, when+": "+l)
				}
			}
			if os.Getenv("SECURITY_DEBUG") != "" {
				a.t.Logf("%s:\n%s", when, b)
			}
			return found
		}
		if a.r.Status(a.id) != "running" {
			a.t.Fatalf("the attacker container stopped")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// processes describes the attacker's processes, to say where one hangs.
func (a *attacker) processes() string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cg, _ := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		if !strings.Contains(string(cg), a.id) {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		wchan, _ := os.ReadFile("/proc/" + e.Name() + "/wchan")
		stack, _ := os.ReadFile("/proc/" + e.Name() + "/stack")
		out = append(out, fmt.Sprintf("%s wchan=%s\n%s", strings.TrimSpace(string(stat)), wchan, stack))
	}
	return strings.Join(out, "\n")
}

// CVE-2019-5736: a container that joins the pid namespace of a running
// privileged container (a pod's shared pid namespace) is created while
// the neighbour looks at every process it can see, at every stage
// boundary of the create (the chain stopped by ptrace there) and once
// it is created: no process of the runtime is ever a host runtime
// binary that could be reopened (and written once it is no longer
// running), or writable, and none holds a descriptor of a host directory
// (CVE-2024-21626: the state dir, a bundle, a cgroup, the host's root).
func TestNoRuntimeBinaryInTheContainersPidNamespace(t *testing.T) {
	r := testutil.NewRuntime(t)
	a := startAttacker(t, r)
	var found []string
	found = append(found, a.scan("before")...)

	s := testutil.Spec("", "true")
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mknod"}, Action: specs.ActErrno}}}
	for i, ns := range s.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace {
			s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/pid", a.pid)
		}
	}
	b := testutil.Bundle(t, s)
	a.bundles = append(a.bundles, b)
	id := testutil.ID(t)
	out, errf := testutil.OutputFiles(t)
	// A careless caller: the bundle open without close-on-exec.
	stray, err := unix.Open(b, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	tr := testutil.StartTraced(t, out, errf, nil, r.Bin, "--root", r.Root, "create", "-b", b, id)
	unix.Close(stray)
	// A create stopped by the tracer holds the container's lock: let it
	// go before delete takes the lock.
	defer func() { tr.Close(); r.Run("delete", "--force", id) }()
	more, boundaries := a.scanBoundaries(tr)
	found = append(found, more...)
	if st := r.Status(id); st != "created" {
		eb, _ := os.ReadFile(errf.Name())
		t.Fatalf("create in the shared pid namespace: %q: %s", st, eb)
	}
	found = append(found, a.scan("created")...)
	t.Logf("looked at %d stage boundaries and the created container", boundaries)
	for _, f := range found {
		t.Error(f)
	}
}
