package unshare_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/syncsock"
)

// An ordinary container's namespaces are new; user and time stay the host's.
func TestNewNamespacesOfAnOrdinaryContainer(t *testing.T) {
	testutil.RequireRoot(t)
	s := newSpec(nsNew(specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace,
		specs.UTSNamespace, specs.MountNamespace, specs.CgroupNamespace)...)
	inside := parseNS(t, mustRun(t, s, "sh", "-c", nsScript))
	host := procNS(t, os.Getpid())
	for _, n := range nsNames {
		isNew := n != "user" && n != "time"
		if isNew && inside[n] == host[n] {
			t.Errorf("%s namespace is the host's (%s), want a new one", n, host[n])
		}
		if !isNew && inside[n] != host[n] {
			t.Errorf("%s namespace is %s, want the host's %s", n, inside[n], host[n])
		}
	}
}

// Each type alone: exactly that namespace is new.
func TestEachNamespaceTypeAlone(t *testing.T) {
	testutil.RequireRoot(t)
	host := procNS(t, os.Getpid())
	for _, c := range []struct {
		typ  specs.LinuxNamespaceType
		proc string
	}{
		{specs.PIDNamespace, "pid"}, {specs.NetworkNamespace, "net"}, {specs.IPCNamespace, "ipc"},
		{specs.UTSNamespace, "uts"}, {specs.MountNamespace, "mnt"}, {specs.CgroupNamespace, "cgroup"},
		{specs.TimeNamespace, "time"}, {specs.UserNamespace, "user"},
	} {
		t.Run(c.proc, func(t *testing.T) {
			s := newSpec(nsNew(c.typ)...)
			if c.typ == specs.UserNamespace {
				s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
				s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
			}
			inside := parseNS(t, mustRun(t, s, "sh", "-c", nsScript))
			for _, n := range nsNames {
				if n == c.proc && inside[n] == host[n] {
					t.Errorf("%s namespace is the host's, want a new one", n)
				}
				if n != c.proc && inside[n] != host[n] {
					t.Errorf("%s namespace %s differs from the host's %s", n, inside[n], host[n])
				}
			}
		})
	}
}

// Without linux.namespaces the command shares every namespace of the host.
func TestNoNamespacesSharesTheHosts(t *testing.T) {
	testutil.RequireRoot(t)
	inside := parseNS(t, mustRun(t, newSpec(), "sh", "-c", nsScript))
	host := procNS(t, os.Getpid())
	for _, n := range nsNames {
		if inside[n] != host[n] {
			t.Errorf("%s namespace %s, want the host's %s", n, inside[n], host[n])
		}
	}
}

func TestPidOneHostnameDomainnameLoopback(t *testing.T) {
	testutil.RequireRoot(t)
	s := newSpec(nsNew(specs.PIDNamespace, specs.UTSNamespace, specs.NetworkNamespace)...)
	s.Hostname = "box-" + strconv.Itoa(os.Getpid())
	s.Domainname = "example.org"
	out := mustRun(t, s, "sh", "-c", `echo $$; hostname; cat /proc/sys/kernel/domainname; busybox ip -o link show lo`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("output: %q", out)
	}
	if lines[0] != "1" {
		t.Errorf("pid %s in the new pid namespace, want 1", lines[0])
	}
	if lines[1] != s.Hostname {
		t.Errorf("hostname %q, want %q", lines[1], s.Hostname)
	}
	if lines[2] != s.Domainname {
		t.Errorf("domainname %q, want %q", lines[2], s.Domainname)
	}
	if !strings.Contains(lines[3], ",UP") {
		t.Errorf("lo not up in the new network namespace: %s", lines[3])
	}
	host, _ := os.Hostname()
	if host == s.Hostname {
		t.Errorf("the host's hostname changed to %q", host)
	}
}

func TestExitStatusLikeAShell(t *testing.T) {
	testutil.RequireRoot(t)
	if r := run(t, newSpec(nsNew(specs.UTSNamespace)...), nil, "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("exit 7: oci-unshare exited %d (%s)", r.code, r.stderr)
	}
	// No pid namespace: the shell is no init and dies of its own SIGKILL.
	if r := run(t, newSpec(nsNew(specs.UTSNamespace)...), nil, "sh", "-c", "kill -KILL $$"); r.code != 128+9 {
		t.Errorf("killed by SIGKILL: oci-unshare exited %d, want 137 (%s)", r.code, r.stderr)
	}
	if r := run(t, newSpec(), nil, "/nonexistent/cmd"); r.code == 0 {
		t.Errorf("missing command: exit 0")
	} else {
		oneLine(t, r.stderr, "/nonexistent/cmd")
	}
}

// Signals sent to oci-unshare reach the first process.
func TestForwardsSignals(t *testing.T) {
	testutil.RequireRoot(t)
	s := newSpec(nsNew(specs.PIDNamespace, specs.UTSNamespace)...)
	cmd := command(t, s, nil, "sh", "-c", `trap 'echo got-usr1; exit 3' USR1; echo ready; while :; do sleep 1; done`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	r := bufioReader(out)
	if l := readLine(t, r); l != "ready" {
		t.Fatalf("got %q", l)
	}
	cmd.Process.Signal(unix.SIGUSR1)
	if l := readLine(t, r); l != "got-usr1" {
		t.Errorf("after SIGUSR1: %q", l)
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("exit: %v, want status 3", err)
	}
}

// With --detach and a sync socket: the pid message names the first
// process, oci-unshare has exited while it still runs, and it runs in the
// new namespaces from a sealed copy of each stage.
func TestDetachReportsPid(t *testing.T) {
	testutil.RequireRoot(t)
	s := newSpec(nsNew(specs.PIDNamespace, specs.MountNamespace, specs.UTSNamespace)...)
	m := marker(t)
	stdin, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := command(t, s, []string{"--detach"}, "sh", "-c", "read x; : "+m)
	cmd.Stdin = stdin
	// Output to a file: the detached command keeps what it inherits open,
	// and a pipe would make Run wait for it.
	outFile, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cmd.Stdout, cmd.Stderr = outFile, outFile
	rt := withSync(t, cmd)
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(outFile.Name())
		t.Fatalf("oci-unshare --detach: %v: %s", err, out)
	}
	stdin.Close()
	msg, err := rt.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if msg.Type != syncsock.TypePid || msg.Stage != "oci-unshare" || msg.Pid <= 0 {
		t.Fatalf("message %+v, want a pid from oci-unshare", msg)
	}
	pid := msg.Pid
	// The pid is sent before the first process has exec'd the command
	// (it is still the sealed oci-unshare, or between the two images,
	// when cmdline reads empty): wait for the command, or for it to end.
	var cmdline []byte
	for !strings.Contains(string(cmdline), m) {
		cmdline, err = os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatalf("first process %d: %v", pid, err)
		}
		if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(st), ") Z ") {
			t.Fatalf("pid %d ended without running the command", pid)
		}
		time.Sleep(time.Millisecond)
	}
	inside := procNS(t, pid)
	host := procNS(t, os.Getpid())
	for _, n := range []string{"pid", "mnt", "uts"} {
		if inside[n] == host[n] {
			t.Errorf("%s namespace of pid %d is the host's", n, pid)
		}
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if !strings.Contains(string(status), "NSpid:\t"+strconv.Itoa(pid)+"\t1\n") {
		t.Errorf("pid %d is not pid 1 of its namespace:\n%s", pid, status)
	}
	w.Close() // the command ends
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatalf("reap %d: %v", pid, err)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("first process: status %v", ws)
	}
}

// The stages after oci-unshare run from sealed handles listed in
// OCI_STAGE_FDS (a file of a read-only overlay, or a sealed memfd where
// overlayfs cannot be used), never from their host path (CVE-2019-5736).
func TestNextStagesAreSealed(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	// A stand-in for oci-mount: a script, so that it can show how it was
	// started (the kernel names a script exec'd from a descriptor
	// /dev/fd/N, or /proc/self/fd/N when exec'd through that link) and
	// what it was given.
	script := "#!/bin/sh\necho \"args $0 $*\"\necho \"fds $OCI_STAGE_FDS\"\nfor kv in $(echo $OCI_STAGE_FDS | tr , ' '); do echo \"link ${kv%%=*} $(readlink /proc/self/fd/${kv#*=})\"; (exec 3>>/proc/self/fd/${kv#*=}) 2>/dev/null && echo \"writable ${kv%%=*}\"; done; true\n"
	if err := os.WriteFile(filepath.Join(dir, "oci-mount"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSpec(nsNew(specs.PIDNamespace, specs.MountNamespace)...)
	cmd := command(t, s, nil, filepath.Join(dir, "oci-mount"), "--", "true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, "args /dev/fd/") && !strings.Contains(text, "args /proc/self/fd/") {
		t.Errorf("the next stage was not exec'd from a descriptor:\n%s", text)
	}
	if !strings.Contains(text, "fds oci-mount=") {
		t.Errorf("OCI_STAGE_FDS does not list oci-mount:\n%s", text)
	}
	if !strings.Contains(text, "link oci-mount /memfd:oci-mount") && !strings.Contains(text, "link oci-mount /oci-mount\n") {
		t.Errorf("oci-mount's descriptor is neither a memfd nor a file of a detached overlay:\n%s", text)
	}
	if strings.Contains(text, "link oci-mount "+filepath.Join(dir, "oci-mount")) {
		t.Errorf("oci-mount's descriptor is its host file:\n%s", text)
	}
	if strings.Contains(text, "writable") {
		t.Errorf("a sealed descriptor can be opened for writing:\n%s", text)
	}
	if strings.Contains(text, "oci-unshare") {
		t.Errorf("oci-unshare's own sealed copy reached the next stage:\n%s", text)
	}
}

// Errors are one line naming the field, and nothing is started.
func TestSpecErrorsNameTheField(t *testing.T) {
	testutil.RequireRoot(t)
	cases := []struct {
		name string
		spec *specs.Spec
		want []string
	}{
		{"hostname without uts", func() *specs.Spec { s := newSpec(nsNew(specs.PIDNamespace)...); s.Hostname = "x"; return s }(), []string{"hostname"}},
		{"duplicate type", newSpec(nsNew(specs.PIDNamespace, specs.NetworkNamespace, specs.PIDNamespace)...), []string{"linux.namespaces[2].type", "pid"}},
		{"unknown type", newSpec(specs.LinuxNamespace{Type: "bogus"}), []string{"linux.namespaces[0].type", "bogus"}},
		{"mappings without user namespace", func() *specs.Spec {
			s := newSpec(nsNew(specs.PIDNamespace)...)
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
			return s
		}(), []string{"linux.uidMappings"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			refused(t, c.spec, c.want...)
		})
	}
}
