package devfilter

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
)

// The test binary, run with DEVFILTER_PROBE=1, is the process inside the
// cgroup: it tries each access of its arguments and prints the outcome.
func TestMain(m *testing.M) {
	if os.Getenv("DEVFILTER_PROBE") == "1" {
		os.Exit(probeMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// probeMain runs "open:r|w|rw:PATH", "mknod:b|c:MAJ:MIN:PATH" and
// "access:PATH" (F_OK), printing "ok" or the errno's name for each.
func probeMain(ops []string) int {
	for _, op := range ops {
		f := strings.Split(op, ":")
		var err error
		switch f[0] {
		case "open":
			flags := map[string]int{"r": unix.O_RDONLY, "w": unix.O_WRONLY, "rw": unix.O_RDWR}[f[1]]
			var fd int
			if fd, err = unix.Open(f[2], flags|unix.O_CLOEXEC, 0); err == nil {
				unix.Close(fd)
			}
		case "mknod":
			mode := uint32(unix.S_IFCHR)
			if f[1] == "b" {
				mode = unix.S_IFBLK
			}
			maj, _ := strconv.Atoi(f[2])
			min, _ := strconv.Atoi(f[3])
			if err = unix.Mknod(f[4], mode|0o600, int(unix.Mkdev(uint32(maj), uint32(min)))); err == nil {
				os.Remove(f[4])
			}
		case "access":
			err = unix.Access(f[1], unix.F_OK)
		default:
			fmt.Fprintf(os.Stderr, "probe: unknown op %q\n", op)
			return 2
		}
		if err == nil {
			fmt.Println("ok")
		} else {
			fmt.Println(unix.ErrnoName(err.(unix.Errno)))
		}
	}
	return 0
}

// newCgroup makes a cgroup2 directory of the test's own and returns it
// with an open fd of it.
func newCgroup(t *testing.T) (string, int) {
	t.Helper()
	testutil.RequireRoot(t)
	const root = "/sys/fs/cgroup/unified"
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skipf("no cgroup2 hierarchy at %s", root)
	}
	dir := filepath.Join(root, "devfilter-"+testutil.ID(t))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(fd)
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove the test cgroup: %v", err)
		}
	})
	return dir, fd
}

// probe runs ops in a process born in the cgroup (clone3 CLONE_INTO_CGROUP).
func probe(t *testing.T, cgroup int, ops []string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], ops...)
	cmd.Env = append(os.Environ(), "DEVFILTER_PROBE=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgroup}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("probe %v: %v: %s", ops, err, stderr.String())
	}
	return strings.Fields(stdout.String())
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestApply applies one rule list after the other to the same cgroup and
// checks each from a process inside it: the verdicts, and that the
// programs of the list before are gone.
func TestApply(t *testing.T) {
	dir, cg := newCgroup(t)
	tmp := t.TempDir()
	node := filepath.Join(tmp, "node")
	for _, node := range []string{"/dev/null", "/dev/zero", "/dev/full"} {
		if _, err := os.Stat(node); err != nil {
			t.Skipf("no %s on this host", node)
		}
	}
	const (
		ok   = "ok"
		perm = "EPERM"
	)
	var before []uint32
	for _, step := range []struct {
		rules    string
		programs int
		want     map[string]string
	}{
		{"a *:* rwm deny; c 1:3 rwm allow", 1, map[string]string{
			"open:rw:/dev/null": ok, "open:r:/dev/zero": perm, "open:w:/dev/full": perm,
			"access:/dev/null": ok, "access:/dev/zero": perm,
			"mknod:c:1:3:" + node: ok, "mknod:c:1:5:" + node: perm, "mknod:b:7:0:" + node: perm,
		}},
		// Read only: a write, alone or with a read, is refused at open.
		{"a *:* rwm deny; c 1:3 r allow", 1, map[string]string{
			"open:r:/dev/null": ok, "open:w:/dev/null": perm, "open:rw:/dev/null": perm, "mknod:c:1:3:" + node: perm,
		}},
		// A wildcard minor, and a later deny overriding it.
		{"a *:* rwm deny; c 1:* rwm allow; c 1:5 rwm deny", 1, map[string]string{
			"open:rw:/dev/null": ok, "open:rw:/dev/full": ok, "open:r:/dev/zero": perm, "mknod:c:1:5:" + node: perm, "mknod:c:1:9:" + node: ok,
		}},
		// A wildcard major, and a later deny of one access.
		{"a *:* rwm deny; c *:3 rw allow; c 1:3 w deny", 1, map[string]string{
			"open:r:/dev/null": ok, "open:w:/dev/null": perm, "open:rw:/dev/null": perm, "open:r:/dev/zero": perm,
		}},
		// mknod of block devices only.
		{"a *:* rwm deny; b *:* m allow", 1, map[string]string{
			"mknod:b:7:0:" + node: ok, "mknod:c:1:3:" + node: perm, "open:r:/dev/null": perm,
		}},
		// Allow all but writes to 1:5.
		{"a *:* rwm allow; c 1:5 w deny", 1, map[string]string{
			"open:r:/dev/zero": ok, "open:w:/dev/zero": perm, "open:w:/dev/null": ok, "mknod:c:1:5:" + node: ok,
		}},
		// Everything allowed: no program at all.
		{"c 1:3 rwm deny; a *:* m allow", 0, map[string]string{
			"open:rw:/dev/null": ok, "open:rw:/dev/zero": ok, "mknod:c:1:3:" + node: ok,
		}},
		// And rules again after none.
		{"a *:* rwm deny; c 1:5 rwm allow", 1, map[string]string{
			"open:rw:/dev/zero": ok, "open:r:/dev/null": perm,
		}},
		{"", 1, map[string]string{"open:r:/dev/null": perm, "mknod:c:1:3:" + node: perm}},
	} {
		fds := openFDs(t)
		if err := Apply(dir, parse(t, step.rules)); err != nil {
			t.Fatalf("%q: %v", step.rules, err)
		}
		if n := openFDs(t); n != fds {
			t.Errorf("%q: Apply left %d fds open", step.rules, n-fds)
		}
		ids, _, err := attached(cg)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != step.programs {
			t.Errorf("%q: %d programs attached (%v), want %d", step.rules, len(ids), ids, step.programs)
		}
		for _, id := range ids {
			for _, old := range before {
				if id == old {
					t.Errorf("%q: program %d of the rules before is still attached", step.rules, id)
				}
			}
		}
		before = ids
		var ops []string
		for op := range step.want {
			ops = append(ops, op)
		}
		got := probe(t, cg, ops)
		if len(got) != len(ops) {
			t.Fatalf("%q: probe printed %q for %d ops", step.rules, got, len(ops))
		}
		for i, op := range ops {
			if got[i] != step.want[op] {
				t.Errorf("%q: %s: %s, want %s", step.rules, op, got[i], step.want[op])
			}
		}
	}
}

// TestApplyReplacesMany: programs attached by others (more than the first
// query has room for) are all replaced by one.
func TestApplyReplacesMany(t *testing.T) {
	dir, cg := newCgroup(t)
	allowAll := []byte{clsALU | opMOV | srcK, r0, 0, 0, 1, 0, 0, 0, clsJMP | opEXIT, 0, 0, 0, 0, 0, 0, 0}
	for range 11 {
		fd, err := load(allowAll)
		if err != nil {
			t.Fatal(err)
		}
		err = attach(cg, fd, unix.BPF_F_ALLOW_MULTI)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
	}
	if ids, err := Attached(dir); err != nil || len(ids) != 11 {
		t.Fatalf("attached %v, %v; want 11", ids, err)
	}
	if err := Apply(dir, parse(t, "c 1:5 r allow")); err != nil {
		t.Fatal(err)
	}
	if ids, err := Attached(dir); err != nil || len(ids) != 1 {
		t.Fatalf("attached %v, %v; want 1", ids, err)
	}
	if got := probe(t, cg, []string{"open:r:/dev/zero", "open:r:/dev/null"}); strings.Join(got, " ") != "ok EPERM" {
		t.Errorf("probe: %q, want ok EPERM", got)
	}
	if err := Apply(dir, parse(t, "a *:* rwm allow")); err != nil {
		t.Fatal(err)
	}
	if ids, err := Attached(dir); err != nil || len(ids) != 0 {
		t.Fatalf("attached %v, %v; want none", ids, err)
	}
}

// TestApplyReplacesExclusive: a program attached without
// BPF_F_ALLOW_MULTI is replaced too.
func TestApplyReplacesExclusive(t *testing.T) {
	for _, flags := range []uint32{0, unix.BPF_F_ALLOW_OVERRIDE} {
		dir, cg := newCgroup(t)
		allowAll := []byte{clsALU | opMOV | srcK, r0, 0, 0, 1, 0, 0, 0, clsJMP | opEXIT, 0, 0, 0, 0, 0, 0, 0}
		fd, err := load(allowAll)
		if err != nil {
			t.Fatal(err)
		}
		err = attach(cg, fd, flags)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		old, _ := Attached(dir)
		if err := Apply(dir, parse(t, "c 1:5 r allow")); err != nil {
			t.Fatalf("flags %d: %v", flags, err)
		}
		if ids, err := Attached(dir); err != nil || len(ids) != 1 || ids[0] == old[0] {
			t.Fatalf("flags %d: attached %v, %v; want one, not %v", flags, ids, err, old)
		}
		if got := probe(t, cg, []string{"open:r:/dev/zero", "open:r:/dev/null"}); strings.Join(got, " ") != "ok EPERM" {
			t.Errorf("flags %d: probe: %q, want ok EPERM", flags, got)
		}
		if err := Apply(dir, nil); err != nil {
			t.Fatalf("flags %d: %v", flags, err)
		}
		if got := probe(t, cg, []string{"open:r:/dev/zero"}); strings.Join(got, " ") != "EPERM" {
			t.Errorf("flags %d: probe after a second Apply: %q, want EPERM", flags, got)
		}
	}
}

// TestApplyRefuses: a bad rule or a bad directory changes nothing.
func TestApplyRefuses(t *testing.T) {
	dir, _ := newCgroup(t)
	if err := Apply(dir, parse(t, "c 1:3 r allow")); err != nil {
		t.Fatal(err)
	}
	ids, _ := Attached(dir)
	err := Apply(dir, []Rule{{Type: 'c', Major: 1, Minor: 3, Access: "r", Allow: true}, {Type: 'x', Access: "r"}})
	var re *RuleError
	if !errors.As(err, &re) || re.Index != 1 {
		t.Errorf("bad type: %v, want a RuleError at 1", err)
	}
	if after, _ := Attached(dir); len(after) != 1 || after[0] != ids[0] {
		t.Errorf("after a refused list: attached %v, want %v", after, ids)
	}
	missing := filepath.Join(dir, "missing")
	if err := Apply(missing, nil); err == nil || !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing directory: %v", err)
	}
	// Not a cgroup2 directory: the kernel refuses the query.
	if err := Apply(t.TempDir(), nil); err == nil {
		t.Error("a plain directory: no error")
	}
}

// TestVerifierLog: a program the verifier rejects gives its reason.
func TestVerifierLog(t *testing.T) {
	testutil.RequireRoot(t)
	bad := []byte{clsJMP | opEXIT, 0, 0, 0, 0, 0, 0, 0} // r0 never set
	fd, err := load(bad)
	if err == nil {
		unix.Close(fd)
		t.Fatal("loaded a program that exits with r0 unset")
	}
	if !strings.Contains(err.Error(), "R0 !read_ok") {
		t.Errorf("error without the verifier's reason: %v", err)
	}
}

func TestAttrLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"prog_load.insns", unsafe.Offsetof(progLoadAttr{}.insns), 8},
		{"prog_load.license", unsafe.Offsetof(progLoadAttr{}.license), 16},
		{"prog_load.log_level", unsafe.Offsetof(progLoadAttr{}.logLevel), 24},
		{"prog_load.log_buf", unsafe.Offsetof(progLoadAttr{}.logBuf), 32},
		{"prog_load.prog_name", unsafe.Offsetof(progLoadAttr{}.progName), 48},
		{"prog_load size", unsafe.Sizeof(progLoadAttr{}), 64},
		{"attach.attach_type", unsafe.Offsetof(attachAttr{}.attachType), 8},
		{"attach.attach_flags", unsafe.Offsetof(attachAttr{}.attachFlags), 12},
		{"query.prog_ids", unsafe.Offsetof(queryAttr{}.progIDs), 16},
		{"query.prog_cnt", unsafe.Offsetof(queryAttr{}.progCnt), 24},
		{"query size", unsafe.Sizeof(queryAttr{}), 32},
		{"get_fd_by_id.open_flags", unsafe.Offsetof(getFDAttr{}.openFlags), 8},
	} {
		if c.got != c.want {
			t.Errorf("%s at %d, the kernel has it at %d", c.name, c.got, c.want)
		}
	}
}
