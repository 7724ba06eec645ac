package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// usage is what the kernel accounted for a set of reaped processes.
type usage struct {
	cpu    time.Duration // user + system
	faults int64         // minor + major page faults
	maxRSS int64         // KiB, the largest single process (hiwater RSS)
	procs  int
}

func (u *usage) add(ru *unix.Rusage) {
	u.cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	u.faults += ru.Minflt + ru.Majflt
	u.maxRSS = max(u.maxRSS, ru.Maxrss)
	u.procs++
}

func (u usage) plus(v usage) usage {
	return usage{cpu: u.cpu + v.cpu, faults: u.faults + v.faults, maxRSS: max(u.maxRSS, v.maxRSS), procs: u.procs + v.procs}
}

func (u usage) minus(v usage) usage {
	// maxRSS is not subtractable: callers keep the one of the window.
	return usage{cpu: u.cpu - v.cpu, faults: u.faults - v.faults, maxRSS: u.maxRSS, procs: u.procs - v.procs}
}

// reaper is the only caller of wait4 in the process. The bench is a child
// subreaper, so every process a runtime leaves behind (a container's init
// after `create`, a detached stage) ends up here: its rusage (which includes
// everything it reaped itself) is added to the orphans' account, and a
// registered child's result goes to whoever started it. Together they cover
// every process of a runtime's tree.
type reaper struct {
	mu      sync.Mutex
	waiting map[int]chan result
	orphans usage
	// orphanMax is the largest hiwater RSS among orphans since the last
	// takeOrphanMax.
	orphanMax int64
	wake      chan struct{}
}

type result struct {
	ws unix.WaitStatus
	ru unix.Rusage
}

func newReaper() (*reaper, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("become subreaper: %w", err)
	}
	r := &reaper{waiting: map[int]chan result{}, wake: make(chan struct{}, 1)}
	go r.loop()
	return r, nil
}

func (r *reaper) loop() {
	for {
		var ws unix.WaitStatus
		var ru unix.Rusage
		pid, err := unix.Wait4(-1, &ws, 0, &ru)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ECHILD) {
			<-r.wake
			continue
		}
		if err != nil {
			panic(fmt.Sprintf("wait4: %v", err))
		}
		// Classified under the lock that start holds from fork to
		// registration: an unknown pid is an orphan.
		r.mu.Lock()
		if ch, ok := r.waiting[pid]; ok {
			delete(r.waiting, pid)
			ch <- result{ws, ru}
		} else {
			r.orphans.add(&ru)
			r.orphanMax = max(r.orphanMax, ru.Maxrss)
		}
		r.mu.Unlock()
	}
}

// orphanUsage is the running total of what orphans used.
func (r *reaper) orphanUsage() usage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.orphans
}

func (r *reaper) takeOrphanMax() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.orphanMax
	r.orphanMax = 0
	return m
}

// waitOrphans waits until n more orphans than before have been reaped.
func (r *reaper) waitOrphans(before usage, n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if r.orphanUsage().procs-before.procs >= n {
			return true
		}
		time.Sleep(200 * time.Microsecond)
	}
	return false
}

// invocation is one finished command.
type invocation struct {
	argv   []string
	wall   time.Duration
	usage  usage // the command and what it reaped (not orphans)
	err    error
	output string
}

// run starts argv with stdin from /dev/null and stdout/stderr into a
// scratch file, waits for it and checks its exit status.
func (r *reaper) run(argv []string, scratch *os.File) invocation {
	inv := invocation{argv: argv}
	if scratch != nil {
		scratch.Truncate(0)
		scratch.Seek(0, 0)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		inv.err = err
		return inv
	}
	defer null.Close()
	out := uintptr(null.Fd())
	if scratch != nil {
		out = scratch.Fd()
	}
	ch := make(chan result, 1)
	r.mu.Lock()
	start := time.Now()
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{null.Fd(), out, out},
	})
	if err == nil {
		r.waiting[pid] = ch
	}
	r.mu.Unlock()
	if err != nil {
		inv.err = fmt.Errorf("start %s: %w", argv[0], err)
		return inv
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	res := <-ch
	inv.wall = time.Since(start)
	inv.usage.add(&res.ru)
	if scratch != nil {
		b, _ := os.ReadFile(scratch.Name())
		inv.output = strings.TrimSpace(string(b))
	}
	switch {
	case res.ws.Exited() && res.ws.ExitStatus() == 0:
	case res.ws.Exited():
		inv.err = fmt.Errorf("%s: exit status %d: %s", strings.Join(argv, " "), res.ws.ExitStatus(), inv.output)
	default:
		inv.err = fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), res.ws.Signal(), inv.output)
	}
	return inv
}
