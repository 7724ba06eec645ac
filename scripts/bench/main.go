// Command bench compares the start-up cost of oci-run with runc and crun
// on one busybox bundle, in one run, on this machine:
//
//	make bench                       # builds bin/ first
//	go run ./scripts/bench -runtimes bin/oci-run,runc,crun -rounds 10
//
// What it measures, for each runtime:
//
//   - `run` of /bin/true: wall time (median, min, spread = interquartile
//     range), CPU time (user + system of every process of the runtime's
//     tree, from the kernel's rusage), page faults, the largest single
//     process's peak RSS;
//   - `create`, `start` and `delete` separately (wall, median);
//   - `exec` of /bin/true into a running container (wall and CPU, median);
//   - the peak of the summed private memory (Private_Clean + Private_Dirty
//     of smaps_rollup) of the processes alive at one moment, sampled in a
//     phase of its own (processes sharing one memory, a child between
//     vfork and exec, are counted once);
//   - containers per second with 2 `run`s in parallel;
//   - the smallest memory limit (memory = memory+swap) under which `run`
//     of busybox true succeeds, by bisection to 64 KiB.
//
// Rounds rotate the order of the runtimes; every invocation's exit status
// is checked and a failure is reported (exit status 1). The whole
// comparison runs in a private mount namespace where the empty cgroup2
// hierarchy at /sys/fs/cgroup/unified is unmounted: crun 1.8.1 refuses this
// host's hybrid layout, and so every runtime sees the same pure cgroup v1.
// The bench is a child subreaper: whatever a runtime leaves behind (the
// container's init after `create`) is reaped, and accounted, here.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/specgen"
)

const innerEnv = "_OCI_RUN_BENCH_INNER"

type options struct {
	runtimes     []string
	rounds       int
	perRound     int
	parallel     int
	parallelRuns int
	memRuns      int
	floor        bool
	jsonOut      string
}

// rt is one runtime under test and what was measured.
type rt struct {
	name, path, version, root string

	runWall, runCPU, runFaults, runRSS series
	create, start, del                 series
	execWall, execCPU                  series
	perSecond                          series
	memPeakKiB                         float64
	floorKiB                           float64
	failures                           []string
}

func main() {
	var o options
	var runtimes string
	flag.StringVar(&runtimes, "runtimes", "bin/oci-run,runc,crun", "runtimes to compare, the first one against the others; a missing one is skipped")
	flag.IntVar(&o.rounds, "rounds", 10, "rounds; each round rotates the order of the runtimes")
	flag.IntVar(&o.perRound, "n", 3, "invocations of each runtime per round")
	flag.IntVar(&o.parallel, "parallel", 2, "concurrent `run`s for the containers-per-second figure")
	flag.IntVar(&o.parallelRuns, "parallel-runs", 20, "runs per concurrent worker")
	flag.IntVar(&o.memRuns, "mem-runs", 5, "runs sampled for the summed private memory")
	flag.BoolVar(&o.floor, "floor", true, "bisect the smallest memory limit for `run` of busybox true")
	flag.StringVar(&o.jsonOut, "json", "", "also write the raw measurements to this file")
	flag.Parse()
	o.runtimes = strings.Split(runtimes, ",")
	if os.Getenv(innerEnv) == "" {
		os.Exit(outer())
	}
	os.Exit(inner(o))
}

// outer re-runs the bench in a private mount namespace.
func outer() int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root")
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), innerEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	return 0
}

func inner(o options) int {
	// Slave, not private: what the host unmounts later (the mounts of
	// other containers' rootfs that live in the host's namespace) goes
	// away here too, and what is unmounted here stays on the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		fmt.Fprintln(os.Stderr, "bench: make / a slave:", err)
		return 2
	}
	unified := "/sys/fs/cgroup/unified"
	hybrid := isMountpoint(unified)
	// Every cgroup2 mount: the host's, and any inside the rootfs of a
	// container prepared in the host's mount namespace, which a runtime
	// could otherwise take for the unified hierarchy.
	for _, m := range cgroupMounts("cgroup2") {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && m == unified {
			fmt.Fprintln(os.Stderr, "bench: unmount", unified, "in the private namespace:", err)
			return 2
		}
	}
	work, err := os.MkdirTemp("", "oci-run-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	defer os.RemoveAll(work)
	rootfs := filepath.Join(work, "rootfs")
	if err := testutil.MakeRootfs(rootfs); err != nil {
		fmt.Fprintln(os.Stderr, "bench: rootfs:", err)
		return 2
	}
	trueBundle, err := bundle(work, "true", rootfs, nil, "/bin/true")
	if err == nil {
		_, err = bundle(work, "sleep", rootfs, nil, "sleep", "1000000")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	var rts []*rt
	for i, name := range o.runtimes {
		path, err := exec.LookPath(name)
		if err != nil {
			if i == 0 {
				fmt.Fprintf(os.Stderr, "bench: %s: %v\n", name, err)
				return 2
			}
			fmt.Fprintf(os.Stderr, "bench: %s not found, skipped\n", name)
			continue
		}
		path, _ = filepath.Abs(path)
		root := filepath.Join(work, "root-"+filepath.Base(name))
		rts = append(rts, &rt{name: filepath.Base(name), path: path, root: root})
	}
	rp, err := newReaper()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	scratch, err := os.CreateTemp(work, "out-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	b := &bench{o: o, rp: rp, rts: rts, work: work, bundle: trueBundle, scratch: scratch}
	for _, r := range rts {
		inv := rp.run([]string{r.path, "--version"}, scratch)
		r.version = strings.SplitN(inv.output, "\n", 2)[0]
	}
	start := time.Now()
	b.phase("run", b.runPhase)
	b.phase("create/start/delete", b.lifecyclePhase)
	b.phase("exec", b.execPhase)
	b.phase("parallel", b.parallelPhase)
	b.phase("memory", b.memPhase)
	if o.floor {
		b.phase("memory floor", b.floorPhase)
	}
	fmt.Printf("\n%s\n", b.report(hybrid, time.Since(start)))
	if o.jsonOut != "" {
		if err := b.writeJSON(o.jsonOut); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
	failed := 0
	for _, r := range rts {
		failed += len(r.failures)
	}
	if failed > 0 {
		fmt.Printf("FAILED: %d invocations\n", failed)
		for _, r := range rts {
			for i, f := range r.failures {
				if i == 5 {
					fmt.Printf("  %s: ... %d more\n", r.name, len(r.failures)-5)
					break
				}
				fmt.Printf("  %s: %s\n", r.name, f)
			}
		}
		return 1
	}
	return 0
}

type bench struct {
	o       options
	rp      *reaper
	rts     []*rt
	work    string
	bundle  string
	scratch *os.File
	seq     int
	mu      sync.Mutex
}

func (b *bench) phase(name string, f func()) {
	t := time.Now()
	fmt.Fprintf(os.Stderr, "bench: %s ...", name)
	f()
	fmt.Fprintf(os.Stderr, " %.1fs\n", time.Since(t).Seconds())
}

func (b *bench) id(r *rt, what string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	return fmt.Sprintf("bench-%s-%s-%d-%d", r.name, what, os.Getpid(), b.seq)
}

// do runs one runtime command and records a failure.
func (b *bench) do(r *rt, args ...string) invocation {
	argv := append([]string{r.path, "--root", r.root}, args...)
	inv := b.rp.run(argv, b.scratch)
	if inv.err != nil {
		b.mu.Lock()
		r.failures = append(r.failures, inv.err.Error())
		b.mu.Unlock()
	}
	return inv
}

// cleanup removes a container whatever state it is in, quietly.
func (b *bench) cleanup(r *rt, id string) {
	b.rp.run([]string{r.path, "--root", r.root, "delete", "--force", id}, nil)
}

func (b *bench) rounds(f func(r *rt)) {
	for round := 0; round < b.o.rounds; round++ {
		for _, i := range rotation(len(b.rts), round) {
			for n := 0; n < b.o.perRound; n++ {
				f(b.rts[i])
			}
		}
	}
}

func (b *bench) runPhase() {
	for _, r := range b.rts { // warm the caches
		id := b.id(r, "warm")
		if b.do(r, "run", "--bundle", b.bundle, id).err != nil {
			b.cleanup(r, id)
		}
	}
	b.rounds(func(r *rt) {
		id := b.id(r, "run")
		before := b.rp.orphanUsage()
		b.rp.takeOrphanMax()
		inv := b.do(r, "run", "--bundle", b.bundle, id)
		if inv.err != nil {
			b.cleanup(r, id)
			return
		}
		u := inv.usage.plus(b.rp.orphanUsage().minus(before))
		r.runWall = append(r.runWall, ms(inv.wall))
		r.runCPU = append(r.runCPU, ms(u.cpu))
		r.runFaults = append(r.runFaults, float64(u.faults))
		r.runRSS = append(r.runRSS, float64(max(inv.usage.maxRSS, b.rp.takeOrphanMax())))
	})
}

func (b *bench) lifecyclePhase() {
	b.rounds(func(r *rt) {
		id := b.id(r, "cycle")
		before := b.rp.orphanUsage()
		c := b.do(r, "create", "--bundle", b.bundle, id)
		if c.err != nil {
			b.cleanup(r, id)
			return
		}
		s := b.do(r, "start", id)
		if s.err != nil {
			b.cleanup(r, id)
			return
		}
		// The init runs /bin/true and is reaped here (the runtime that
		// created it has exited): wait for that before delete.
		if !b.rp.waitOrphans(before, 1, 10*time.Second) {
			b.mu.Lock()
			r.failures = append(r.failures, id+": the container's init did not exit after start")
			b.mu.Unlock()
		}
		d := b.do(r, "delete", id)
		if d.err != nil {
			b.cleanup(r, id)
			return
		}
		r.create = append(r.create, ms(c.wall))
		r.start = append(r.start, ms(s.wall))
		r.del = append(r.del, ms(d.wall))
	})
}

func (b *bench) execPhase() {
	sleeper := filepath.Join(b.work, "sleep")
	ids := map[*rt]string{}
	for _, r := range b.rts {
		id := b.id(r, "exec")
		if b.do(r, "run", "--detach", "--bundle", sleeper, id).err != nil {
			b.cleanup(r, id)
			continue
		}
		ids[r] = id
	}
	b.rounds(func(r *rt) {
		id, ok := ids[r]
		if !ok {
			return
		}
		before := b.rp.orphanUsage()
		inv := b.do(r, "exec", id, "/bin/true")
		if inv.err != nil {
			return
		}
		u := inv.usage.plus(b.rp.orphanUsage().minus(before))
		r.execWall = append(r.execWall, ms(inv.wall))
		r.execCPU = append(r.execCPU, ms(u.cpu))
	})
	for r, id := range ids {
		before := b.rp.orphanUsage()
		b.do(r, "kill", id, "KILL")
		b.rp.waitOrphans(before, 1, 10*time.Second)
		b.do(r, "delete", id)
	}
}

func (b *bench) parallelPhase() {
	for round := 0; round < 3; round++ {
		for _, i := range rotation(len(b.rts), round) {
			r := b.rts[i]
			var wg sync.WaitGroup
			t := time.Now()
			ok := 0
			var mu sync.Mutex
			for w := 0; w < b.o.parallel; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := 0; n < b.o.parallelRuns; n++ {
						id := b.id(r, "par")
						argv := []string{r.path, "--root", r.root, "run", "--bundle", b.bundle, id}
						inv := b.rp.run(argv, nil)
						if inv.err != nil {
							b.mu.Lock()
							r.failures = append(r.failures, inv.err.Error())
							b.mu.Unlock()
							b.cleanup(r, id)
							continue
						}
						mu.Lock()
						ok++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			r.perSecond = append(r.perSecond, float64(ok)/time.Since(t).Seconds())
		}
	}
}

func (b *bench) memPhase() {
	for round := 0; round < b.o.memRuns; round++ {
		for _, i := range rotation(len(b.rts), round) {
			r := b.rts[i]
			id := b.id(r, "mem")
			// Only this run's processes: not those already there.
			before := map[int]bool{}
			for _, pid := range descendants(os.Getpid()) {
				before[pid] = true
			}
			s := startSampler(before)
			inv := b.do(r, "run", "--bundle", b.bundle, id)
			peak, _ := s.finish()
			if inv.err != nil {
				b.cleanup(r, id)
				continue
			}
			r.memPeakKiB = max(r.memPeakKiB, float64(peak))
		}
	}
}

// floorPhase bisects, for each runtime, the smallest memory limit
// (memory.limit = memory.swap, so no swap) under which `run` of busybox
// true succeeds, to 64 KiB. The failing probes are expected: they are not
// counted as failures.
func (b *bench) floorPhase() {
	rootfs := filepath.Join(b.work, "rootfs")
	for _, r := range b.rts {
		probe := func(limit int64) bool {
			id := b.id(r, "floor")
			dir, err := bundle(b.work, id, rootfs, func(s *specs.Spec) {
				s.Linux.CgroupsPath = "/" + id
				s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
			}, "/bin/true")
			if err != nil {
				return false
			}
			defer os.RemoveAll(dir)
			inv := b.rp.run([]string{r.path, "--root", r.root, "run", "--bundle", dir, id}, b.scratch)
			b.cleanup(r, id)
			removeCgroups(id)
			return inv.err == nil
		}
		lo, hi := int64(64<<10), int64(64<<20)
		if !probe(hi) {
			r.failures = append(r.failures, fmt.Sprintf("memory floor: cannot run busybox true even with %d MiB", hi>>20))
			r.floorKiB = math.NaN()
			continue
		}
		for hi-lo > 64<<10 {
			mid := (lo + hi) / 2 &^ (4<<10 - 1)
			if probe(mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
		r.floorKiB = float64(hi >> 10)
	}
}

func (b *bench) report(hybrid bool, took time.Duration) string {
	names := make([]string, len(b.rts))
	for i, r := range b.rts {
		names[i] = r.name
	}
	col := func(f func(r *rt) float64) []float64 {
		out := make([]float64, len(b.rts))
		for i, r := range b.rts {
			out[i] = f(r)
		}
		return out
	}
	rows := []row{
		{name: "run: wall median", unit: "ms", prec: 1, values: col(func(r *rt) float64 { return r.runWall.median() })},
		{name: "run: wall min", unit: "ms", prec: 1, values: col(func(r *rt) float64 { return r.runWall.min() })},
		{name: "run: wall spread (IQR)", unit: "ms", prec: 1, values: col(func(r *rt) float64 { return r.runWall.spread() })},
		{name: "run: CPU per run", unit: "ms", prec: 1, values: col(func(r *rt) float64 { return r.runCPU.median() })},
		{name: "run: page faults per run", prec: 0, values: col(func(r *rt) float64 { return r.runFaults.median() })},
		{name: "create: wall median", unit: "ms", prec: 1, values: col(func(r *rt) float64 { return r.create.median() })},
		{name: "start: wall median", unit: "ms", prec: 1, values: col(func(r *rt) float64 { return r.start.median() })},
		{name: "delete: wall median", unit: "ms", prec: 1, values: col(func(r *rt) float64 { return r.del.median() })},
		{name: "exec: wall median", unit: "ms", prec: 1, values: col(func(r *rt) float64 { return r.execWall.median() })},
		{name: "exec: CPU per exec", unit: "ms", prec: 1, values: col(func(r *rt) float64 { return r.execCPU.median() })},
		{name: "largest single RSS", unit: "KiB", prec: 0, values: col(func(r *rt) float64 { return r.runRSS.max() })},
		{name: "summed private memory, peak", unit: "KiB", prec: 0, values: col(func(r *rt) float64 { return r.memPeakKiB })},
		{name: fmt.Sprintf("containers/s, %d in parallel", b.o.parallel), prec: 1, values: col(func(r *rt) float64 { return r.perSecond.median() })},
	}
	if b.o.floor {
		rows = append(rows, row{name: "memory floor (run of true)", unit: "KiB", prec: 0, values: col(func(r *rt) float64 { return r.floorKiB })})
	}
	var refs []int
	for i := 1; i < len(b.rts); i++ {
		refs = append(refs, i)
	}
	var s strings.Builder
	s.WriteString(table(names, rows, refs))
	var uts unix.Utsname
	unix.Uname(&uts)
	fmt.Fprintf(&s, "\n%s, %d CPUs, kernel %s; %d rounds x %d runs per runtime, order rotated; %.0fs.\n",
		runtime.GOARCH, runtime.NumCPU(), unix.ByteSliceToString(uts.Release[:]), b.o.rounds, b.o.perRound, took.Seconds())
	if hybrid {
		s.WriteString("Private mount namespace with /sys/fs/cgroup/unified unmounted: every runtime sees pure cgroup v1.\n")
	}
	for _, r := range b.rts {
		fmt.Fprintf(&s, "%s: %s (%s)\n", r.name, r.path, r.version)
	}
	return s.String()
}

func (b *bench) writeJSON(path string) error {
	out := map[string]any{}
	for _, r := range b.rts {
		out[r.name] = map[string]any{
			"version": r.version, "runWallMs": r.runWall, "runCpuMs": r.runCPU, "runFaults": r.runFaults,
			"runMaxRssKiB": r.runRSS, "createMs": r.create, "startMs": r.start, "deleteMs": r.del,
			"execWallMs": r.execWall, "execCpuMs": r.execCPU, "perSecond": r.perSecond,
			"memPeakKiB": r.memPeakKiB, "floorKiB": r.floorKiB, "failures": r.failures,
		}
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// bundle writes DIR/NAME/config.json: the default configuration (runc's),
// not interactive, running args on the shared rootfs. ociVersion is 1.0.2,
// the newest crun 1.8.1 accepts.
func bundle(work, name, rootfs string, edit func(*specs.Spec), args ...string) (string, error) {
	dir := filepath.Join(work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	s := specgen.Default()
	s.Version = "1.0.2"
	s.Process.Terminal = false
	s.Process.Args = args
	s.Root.Path = rootfs
	if edit != nil {
		edit(s)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
}

func isMountpoint(path string) bool {
	var a, b unix.Stat_t
	if unix.Stat(path, &a) != nil || unix.Stat(filepath.Dir(path), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// removeCgroups removes the cgroup named id at the top of every v1
// hierarchy (the floor probes use the absolute cgroupsPath /ID), deepest
// first.
func removeCgroups(id string) {
	for _, m := range cgroupMounts("cgroup") {
		if strings.HasPrefix(m, "/sys/fs/cgroup/") {
			removeTree(filepath.Join(m, id))
		}
	}
}

// cgroupMounts lists the mount points of the given type (cgroup,
// cgroup2) in this mount namespace.
func cgroupMounts(fstype string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		sep := 6
		for sep < len(f) && f[sep] != "-" {
			sep++
		}
		if sep+1 < len(f) && f[sep+1] == fstype {
			out = append(out, unescape(f[4]))
		}
	}
	return out
}

func removeTree(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			removeTree(filepath.Join(dir, e.Name()))
		}
	}
	for try := 0; try < 50; try++ {
		if err := unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// unescape decodes the octal escapes of mountinfo paths (\040 for space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
