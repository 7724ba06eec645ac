// Package usage reads what a container's cgroup has used (CPU time,
// memory, I/O, pids, huge pages, pressure) from the cgroup v1 or v2 files,
// for `oci-run events --stats`, in runc's JSON shape (Stats). It reads the
// files runc's drivers read and converts them the same way: v1 ticks and
// v2 microseconds to nanoseconds, v2 swap alone to memory+swap, "max" to
// the largest number.
//
// A controller that is not there (not mounted, not enabled in a v2
// cgroup) leaves its part empty; a file that exists and does not parse is
// an error.
package usage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/oci-run/oci-run/pkg/cgroup/limits"
)

// ReadV1 reads the v1 hierarchies of dirs (controller → directory).
func ReadV1(dirs map[string]string) (*Stats, error) {
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	steps := []struct {
		ctrl string
		read func(string, *Stats) error
	}{
		{"cpuset", cpusetV1}, {"memory", memoryV1}, {"cpu", cpuV1}, {"cpuacct", cpuacctV1},
		{"pids", pidsV1}, {"blkio", blkioV1}, {"hugetlb", hugetlbV1},
	}
	for _, st := range steps {
		d := dirs[st.ctrl]
		if d == "" {
			continue
		}
		if err := st.read(d, s); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("cgroup stats (%s): %w", st.ctrl, err)
		}
	}
	return s, nil
}

// ReadV2 reads a cgroup v2 directory.
func ReadV2(dir string) (*Stats, error) {
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	var errs []error
	for _, f := range []func(string, *Stats) error{pidsV2, memoryV2, ioV2, cpuV2, hugetlbV2} {
		if err := f(dir, s); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	var err error
	if s.Memory.PSI, err = readPSI(dir, "memory.pressure"); err != nil {
		errs = append(errs, err)
	}
	if s.Blkio.PSI, err = readPSI(dir, "io.pressure"); err != nil {
		errs = append(errs, err)
	}
	if s.CPU.PSI, err = readPSI(dir, "cpu.pressure"); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("cgroup stats: %w", errors.Join(errs...))
	}
	return s, nil
}

// ---- v1 --------------------------------------------------------------------

func cpuV1(dir string, s *Stats) error {
	return eachKV(dir, "cpu.stat", func(k string, v uint64) {
		switch k {
		case "nr_periods":
			s.CPU.Throttling.Periods = v
		case "nr_throttled":
			s.CPU.Throttling.ThrottledPeriods = v
		case "throttled_time":
			s.CPU.Throttling.ThrottledTime = v
		}
	})
}

// userHZ is USER_HZ, the unit of cpuacct.stat, fixed at 100 on Linux.
const userHZ = 100

func cpuacctV1(dir string, s *Stats) error {
	b, err := readFile(dir, "cpuacct.stat")
	if err != nil {
		return err
	}
	f := strings.Fields(b)
	if len(f) < 4 || f[0] != "user" || f[2] != "system" {
		return malformed(dir, "cpuacct.stat", b)
	}
	user, err1 := strconv.ParseUint(f[1], 10, 64)
	sys, err2 := strconv.ParseUint(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return malformed(dir, "cpuacct.stat", b)
	}
	u := &s.CPU.Usage
	u.User, u.Kernel = user*1e9/userHZ, sys*1e9/userHZ
	if u.Total, err = readUint(dir, "cpuacct.usage"); err != nil {
		return err
	}
	b, err = readFile(dir, "cpuacct.usage_percpu")
	if err != nil {
		return err
	}
	u.Percpu = []uint64{}
	for _, f := range strings.Fields(b) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return malformed(dir, "cpuacct.usage_percpu", b)
		}
		u.Percpu = append(u.Percpu, v)
	}
	// "cpu user system" then one line per CPU (Linux 4.7).
	b, err = readFile(dir, "cpuacct.usage_all")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(b), "\n")
	if !strings.HasPrefix(lines[0], "cpu user system") {
		return malformed(dir, "cpuacct.usage_all", lines[0])
	}
	u.PercpuUser, u.PercpuKernel = []uint64{}, []uint64{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		user, err1 := strconv.ParseUint(f[1], 10, 64)
		sys, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return malformed(dir, "cpuacct.usage_all", l)
		}
		u.PercpuUser = append(u.PercpuUser, user)
		u.PercpuKernel = append(u.PercpuKernel, sys)
	}
	return nil
}

func cpusetV1(dir string, s *Stats) error {
	c := &s.CPUSet
	var err error
	if c.CPUs, err = readList(dir, "cpuset.cpus"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if c.Mems, err = readList(dir, "cpuset.mems"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for file, dst := range map[string]*uint64{
		"cpu_exclusive": &c.CPUExclusive, "mem_hardwall": &c.MemHardwall, "mem_exclusive": &c.MemExclusive,
		"memory_migrate": &c.MemoryMigrate, "memory_spread_page": &c.MemorySpreadPage,
		"memory_spread_slab": &c.MemorySpreadSlab, "memory_pressure": &c.MemoryPressure,
		"sched_load_balance": &c.SchedLoadBalance,
	} {
		if *dst, err = readUint(dir, "cpuset."+file); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	b, err := readFile(dir, "cpuset.sched_relax_domain_level")
	if err == nil {
		if c.SchedRelaxDomainLevel, err = strconv.ParseInt(strings.TrimSpace(b), 10, 64); err != nil {
			return malformed(dir, "cpuset.sched_relax_domain_level", b)
		}
	}
	return nil
}

func memoryV1(dir string, s *Stats) error {
	raw := map[string]uint64{}
	if err := eachKV(dir, "memory.stat", func(k string, v uint64) { raw[k] = v }); err != nil {
		return err
	}
	m := &s.Memory
	m.Raw, m.Cache = raw, raw["cache"]
	var err error
	if m.Usage, err = memoryEntryV1(dir, "memory", false); err != nil {
		return err
	}
	for prefix, dst := range map[string]*MemoryEntry{"memory.memsw": &m.Swap, "memory.kmem": &m.Kernel, "memory.kmem.tcp": &m.KernelTCP} {
		if *dst, err = memoryEntryV1(dir, prefix, true); err != nil {
			return err
		}
	}
	return nil
}

// memoryEntryV1 reads PREFIX.{usage_in_bytes,max_usage_in_bytes,failcnt,
// limit_in_bytes}; optional ones (swap not accounted, no kmem limit on
// 6.x) read as zero where missing.
func memoryEntryV1(dir, prefix string, optional bool) (MemoryEntry, error) {
	var e MemoryEntry
	var err error
	if e.Usage, err = readUint(dir, prefix+".usage_in_bytes"); err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return MemoryEntry{}, nil
		}
		return e, err
	}
	if e.Max, err = readUint(dir, prefix+".max_usage_in_bytes"); err != nil {
		return e, err
	}
	if e.Failcnt, err = readUint(dir, prefix+".failcnt"); err != nil {
		return e, err
	}
	if e.Limit, err = readUint(dir, prefix+".limit_in_bytes"); err != nil && !(optional && errors.Is(err, os.ErrNotExist)) {
		return e, err
	}
	return e, nil
}

func pidsV1(dir string, s *Stats) error {
	cur, err := readUint(dir, "pids.current")
	if err != nil {
		return err
	}
	limit, err := readUint(dir, "pids.max")
	if err != nil {
		return err
	}
	if limit == math.MaxUint64 {
		limit = 0
	}
	s.Pids = Pids{Current: cur, Limit: limit}
	return nil
}

// blkioV1 reads the first set of statistics this kernel has, as runc
// does: BFQ with debug statistics, BFQ, CFQ, then the throttle ones.
func blkioV1(dir string, s *Stats) error {
	b := &s.Blkio
	type src struct {
		file string
		dst  *[]BlkioEntry
	}
	sets := [][]src{
		{{"blkio.bfq.sectors_recursive", &b.SectorsRecursive}, {"blkio.bfq.io_service_time_recursive", &b.IoServiceTimeRecursive},
			{"blkio.bfq.io_wait_time_recursive", &b.IoWaitTimeRecursive}, {"blkio.bfq.io_merged_recursive", &b.IoMergedRecursive},
			{"blkio.bfq.io_queued_recursive", &b.IoQueuedRecursive}, {"blkio.bfq.time_recursive", &b.IoTimeRecursive},
			{"blkio.bfq.io_serviced_recursive", &b.IoServicedRecursive}, {"blkio.bfq.io_service_bytes_recursive", &b.IoServiceBytesRecursive}},
		{{"blkio.bfq.io_serviced_recursive", &b.IoServicedRecursive}, {"blkio.bfq.io_service_bytes_recursive", &b.IoServiceBytesRecursive}},
		{{"blkio.sectors_recursive", &b.SectorsRecursive}, {"blkio.io_service_time_recursive", &b.IoServiceTimeRecursive},
			{"blkio.io_wait_time_recursive", &b.IoWaitTimeRecursive}, {"blkio.io_merged_recursive", &b.IoMergedRecursive},
			{"blkio.io_queued_recursive", &b.IoQueuedRecursive}, {"blkio.time_recursive", &b.IoTimeRecursive},
			{"blkio.io_serviced_recursive", &b.IoServicedRecursive}, {"blkio.io_service_bytes_recursive", &b.IoServiceBytesRecursive}},
		{{"blkio.throttle.io_serviced_recursive", &b.IoServicedRecursive}, {"blkio.throttle.io_service_bytes_recursive", &b.IoServiceBytesRecursive}},
		{{"blkio.throttle.io_serviced", &b.IoServicedRecursive}, {"blkio.throttle.io_service_bytes", &b.IoServiceBytesRecursive}},
	}
	for _, set := range sets {
		// A set whose first file is missing or empty is not this
		// kernel's (or has seen no I/O): try the next.
		first, err := blkioEntries(dir, set[0].file)
		if err != nil || len(first) == 0 {
			continue
		}
		*set[0].dst = first
		for _, f := range set[1:] {
			if *f.dst, err = blkioEntries(dir, f.file); err != nil {
				return err
			}
		}
		return nil
	}
	return nil
}

// blkioEntries reads "MAJ:MIN [OP] VALUE" lines; "Total N" lines are sums.
func blkioEntries(dir, file string) ([]BlkioEntry, error) {
	b, err := readFile(dir, file)
	if err != nil {
		return nil, err
	}
	var out []BlkioEntry
	for _, l := range strings.Split(b, "\n") {
		f := strings.FieldsFunc(l, func(r rune) bool { return r == ' ' || r == ':' })
		if len(f) == 0 || len(f) == 2 && f[0] == "Total" {
			continue
		}
		if len(f) < 3 {
			return nil, malformed(dir, file, l)
		}
		var e BlkioEntry
		var err1, err2, err3 error
		e.Major, err1 = strconv.ParseUint(f[0], 10, 64)
		e.Minor, err2 = strconv.ParseUint(f[1], 10, 64)
		v := f[2]
		if len(f) == 4 {
			e.Op, v = f[2], f[3]
		}
		e.Value, err3 = strconv.ParseUint(v, 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, malformed(dir, file, l)
		}
		out = append(out, e)
	}
	return out, nil
}

func hugetlbV1(dir string, s *Stats) error {
	for _, size := range limits.HugePageSizes() {
		prefix := "hugetlb." + size
		usage, err := readUint(dir, prefix+".rsvd.usage_in_bytes")
		if errors.Is(err, os.ErrNotExist) {
			usage, err = readUint(dir, prefix+".usage_in_bytes")
		}
		if err != nil {
			return err
		}
		h := Hugetlb{Usage: usage}
		if h.Max, err = readUint(dir, prefix+".max_usage_in_bytes"); err != nil {
			return err
		}
		if h.Failcnt, err = readUint(dir, prefix+".failcnt"); err != nil {
			return err
		}
		s.Hugetlb[size] = h
	}
	return nil
}

// ---- v2 --------------------------------------------------------------------

func pidsV2(dir string, s *Stats) error {
	cur, err := readUint(dir, "pids.current")
	if errors.Is(err, os.ErrNotExist) {
		// No pids controller: count the processes.
		b, err := readFile(dir, "cgroup.procs")
		if err != nil {
			return err
		}
		s.Pids = Pids{Current: uint64(strings.Count(b, "\n"))}
		return nil
	}
	if err != nil {
		return err
	}
	limit, err := readUint(dir, "pids.max")
	if err != nil {
		return err
	}
	if limit == math.MaxUint64 {
		limit = 0
	}
	s.Pids = Pids{Current: cur, Limit: limit}
	return nil
}

func memoryV2(dir string, s *Stats) error {
	raw := map[string]uint64{}
	if err := eachKV(dir, "memory.stat", func(k string, v uint64) { raw[k] = v }); err != nil {
		return err
	}
	m := &s.Memory
	m.Raw, m.Cache = raw, raw["file"]
	usage, err := memoryEntryV2(dir, "memory", false)
	if err != nil {
		return err
	}
	m.Usage = usage
	swap, err := memoryEntryV2(dir, "memory.swap", true)
	if err != nil {
		return err
	}
	// runc's shape has v1's memory+swap: add the memory to the swap.
	swap.Usage += usage.Usage
	if swap.Limit != math.MaxUint64 {
		swap.Limit += usage.Limit
	}
	swap.Max = 0
	m.Swap = swap
	return nil
}

func memoryEntryV2(dir, prefix string, optional bool) (MemoryEntry, error) {
	var e MemoryEntry
	var err error
	if e.Usage, err = readUint(dir, prefix+".current"); err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return MemoryEntry{}, nil
		}
		return e, err
	}
	if e.Limit, err = readUint(dir, prefix+".max"); err != nil {
		return e, err
	}
	if e.Max, err = readUint(dir, prefix+".peak"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return e, err
	}
	return e, nil
}

func ioV2(dir string, s *Stats) error {
	b, err := readFile(dir, "io.stat")
	if err != nil {
		return err
	}
	var blk Blkio
	lines := strings.Split(strings.TrimSpace(b), "\n")
	slices.Sort(lines)
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		maj, min, ok := strings.Cut(f[0], ":")
		if !ok {
			continue
		}
		major, err1 := strconv.ParseUint(maj, 10, 64)
		minor, err2 := strconv.ParseUint(min, 10, 64)
		if err1 != nil || err2 != nil {
			return malformed(dir, "io.stat", l)
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			var dst *[]BlkioEntry
			op := "Read"
			switch k {
			case "rbytes":
				dst = &blk.IoServiceBytesRecursive
			case "wbytes":
				dst, op = &blk.IoServiceBytesRecursive, "Write"
			case "rios":
				dst = &blk.IoServicedRecursive
			case "wios":
				dst, op = &blk.IoServicedRecursive, "Write"
			default:
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return malformed(dir, "io.stat", l)
			}
			*dst = append(*dst, BlkioEntry{Major: major, Minor: minor, Op: op, Value: n})
		}
	}
	s.Blkio = blk
	return nil
}

func cpuV2(dir string, s *Stats) error {
	return eachKV(dir, "cpu.stat", func(k string, v uint64) {
		switch k {
		case "usage_usec":
			s.CPU.Usage.Total = v * 1000
		case "user_usec":
			s.CPU.Usage.User = v * 1000
		case "system_usec":
			s.CPU.Usage.Kernel = v * 1000
		case "nr_periods":
			s.CPU.Throttling.Periods = v
		case "nr_throttled":
			s.CPU.Throttling.ThrottledPeriods = v
		case "throttled_usec":
			s.CPU.Throttling.ThrottledTime = v * 1000
		}
	})
}

func hugetlbV2(dir string, s *Stats) error {
	for _, size := range limits.HugePageSizes() {
		prefix := "hugetlb." + size
		usage, err := readUint(dir, prefix+".rsvd.current")
		if errors.Is(err, os.ErrNotExist) {
			usage, err = readUint(dir, prefix+".current")
		}
		if err != nil {
			return err
		}
		h := Hugetlb{Usage: usage}
		if err := eachKV(dir, prefix+".events", func(k string, v uint64) {
			if k == "max" {
				h.Failcnt = v
			}
		}); err != nil {
			return err
		}
		s.Hugetlb[size] = h
	}
	return nil
}

// readPSI reads a pressure file: nil where there is none (kernel without
// PSI, or psi=0).
func readPSI(dir, file string) (*PSIStats, error) {
	b, err := readFile(dir, file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "not supported") {
			return nil, nil
		}
		return nil, err
	}
	var p PSIStats
	for _, l := range strings.Split(strings.TrimSpace(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		var d *PSIData
		switch f[0] {
		case "some":
			d = &p.Some
		case "full":
			d = &p.Full
		default:
			continue
		}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			var err error
			switch k {
			case "avg10":
				d.Avg10, err = strconv.ParseFloat(v, 64)
			case "avg60":
				d.Avg60, err = strconv.ParseFloat(v, 64)
			case "avg300":
				d.Avg300, err = strconv.ParseFloat(v, 64)
			case "total":
				d.Total, err = strconv.ParseUint(v, 10, 64)
			}
			if err != nil {
				return nil, malformed(dir, file, l)
			}
		}
	}
	return &p, nil
}

// ---- files -----------------------------------------------------------------

func readFile(dir, file string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	return string(b), err
}

// readUint reads a one-number file; "max" is the largest number, and a
// negative number (v1 "-1") is 0, as runc reads them.
func readUint(dir, file string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	return parseUint(dir, file, string(bytes.TrimSpace(b)))
}

func parseUint(dir, file, s string) (uint64, error) {
	if s == "max" {
		return math.MaxUint64, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if n, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && n < 0 {
			return 0, nil
		}
		return 0, malformed(dir, file, s)
	}
	return v, nil
}

// eachKV calls f for each "key value" line of a flat-keyed file.
func eachKV(dir, file string, f func(string, uint64)) error {
	fh, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			return malformed(dir, file, sc.Text())
		}
		n, err := parseUint(dir, file, v)
		if err != nil {
			return err
		}
		f(k, n)
	}
	return sc.Err()
}

// readList reads a cpuset list ("0-3,6").
func readList(dir, file string) ([]uint16, error) {
	b, err := readFile(dir, file)
	if err != nil {
		return nil, err
	}
	b = strings.TrimSpace(b)
	if b == "" {
		return nil, malformed(dir, file, "(empty)")
	}
	var out []uint16
	for _, part := range strings.Split(b, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.ParseUint(lo, 10, 16)
		z := a
		var err2 error
		if isRange {
			z, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 != nil || err2 != nil || z < a {
			return nil, malformed(dir, file, b)
		}
		for i := a; i <= z; i++ {
			out = append(out, uint16(i))
		}
	}
	return out, nil
}

func malformed(dir, file, line string) error {
	return fmt.Errorf("%s: cannot parse %q", filepath.Join(dir, file), line)
}
