package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// sampler follows the bench's process tree while a command runs and keeps
// the largest sum of private memory (Private_Clean + Private_Dirty of
// /proc/PID/smaps_rollup) over the processes alive at one moment. The
// runtimes' processes live for milliseconds, so it samples as fast as it
// can; it is only used in its own phase, never while timing.
type sampler struct {
	stop    atomic.Bool
	done    chan struct{}
	peakKiB int64
	samples int
	exclude map[int]bool
}

func startSampler(exclude map[int]bool) *sampler {
	s := &sampler{done: make(chan struct{}), exclude: exclude}
	go func() {
		defer close(s.done)
		self := os.Getpid()
		for !s.stop.Load() {
			var sum int64
			// The bench itself is not counted, nor a child of its own
			// between vfork and exec.
			counted := []int{self}
			for _, pid := range descendants(self) {
				if s.exclude[pid] || sharesMM(pid, counted) {
					continue
				}
				counted = append(counted, pid)
				sum += privateKiB(pid)
			}
			if os.Getenv("BENCH_MEMDEBUG") != "" && sum > s.peakKiB {
				var parts []string
				for _, pid := range counted[1:] {
					exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
					parts = append(parts, exe+"="+strconv.FormatInt(privateKiB(pid), 10))
				}
				println("peak", sum, strings.Join(parts, " "))
			}
			s.peakKiB = max(s.peakKiB, sum)
			s.samples++
			time.Sleep(100 * time.Microsecond)
		}
	}()
	return s
}

// finish stops sampling and returns the peak.
func (s *sampler) finish() (peakKiB int64, samples int) {
	s.stop.Store(true)
	<-s.done
	return s.peakKiB, s.samples
}

// kcmpVM is KCMP_VM of kcmp(2): do two processes share their memory?
const kcmpVM = 1

// sharesMM reports whether pid uses the memory of one of the counted
// processes: a child between vfork and exec (Go's fork of a runtime's
// process) would count its parent's memory twice.
func sharesMM(pid int, counted []int) bool {
	for _, c := range counted {
		r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(pid), uintptr(c), kcmpVM, 0, 0, 0)
		if errno == 0 && r == 0 {
			return true
		}
	}
	return false
}

// descendants lists every process below pid through the children files
// of each thread (CONFIG_PROC_CHILDREN).
func descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(p) + "/task")
		if err != nil {
			continue
		}
		for _, t := range tasks {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/task/" + t.Name() + "/children")
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
					queue = append(queue, c)
				}
			}
		}
	}
	return out
}

// privateKiB reads Private_Clean + Private_Dirty of a process; 0 when it
// is gone (or a kernel thread).
func privateKiB(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	var sum int64
	for _, line := range bytes.Split(b, []byte("\n")) {
		for _, key := range []string{"Private_Clean:", "Private_Dirty:"} {
			if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
				f := strings.Fields(string(v))
				if len(f) > 0 {
					n, _ := strconv.ParseInt(f[0], 10, 64)
					sum += n
				}
			}
		}
	}
	return sum
}
