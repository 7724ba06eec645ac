package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Each validation program runs under a reaper: this same binary started
// with reaperEnv set. The reaper is a child subreaper, so whatever the test
// leaves behind (detached container inits, `unshare --fork sleep` helpers
// in their own process groups) is re-parented to it and nothing escapes to
// the host's PID 1, which does not reap here. Containers' inits are reaped
// as soon as they exit, so runtimes see them stopped, as under a
// containerd shim or conmon.
//
// Protocol with the runner: fd 3 receives one JSON Exit when the program
// ends; the reaper then keeps reaping while the runner deletes leftover
// containers through the runtime, and when the runner closes fd 4 it
// kills every remaining descendant, reaps them, and exits.
const reaperEnv = "OCI_CONFORMANCE_REAPER_TIMEOUT"

func reaperMain(timeout time.Duration, argv []string) int {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "reaper: set child subreaper:", err)
		return 2
	}
	status := os.NewFile(3, "status")
	finishPipe := os.NewFile(4, "finish")
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reaper:", err)
		return 2
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, reaperEnv+"=") {
			env = append(env, kv)
		}
	}
	start := time.Now()
	// Own process group, so a timeout kills the program and the runtime
	// commands it is waiting for in one signal.
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{devnull.Fd(), 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "reaper: start %s: %v\n", argv[0], err)
		return 2
	}
	devnull.Close()
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout, func() {
		timedOut.Store(true)
		syscall.Kill(-pid, syscall.SIGKILL)
	})

	finish := make(chan struct{})
	go func() {
		io.Copy(io.Discard, finishPipe)
		close(finish)
	}()

	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.ECHILD {
			// No descendant is left (orphans are re-parented to us before
			// their parent's exit is reported, so none can appear later).
			<-finish
			return 0
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "reaper: wait:", err)
			return 2
		}
		if wpid != pid {
			continue
		}
		timer.Stop()
		e := Exit{Code: ws.ExitStatus(), TimedOut: timedOut.Load(), Seconds: time.Since(start).Seconds()}
		if ws.Signaled() {
			e.Code, e.Signal = -1, unix.SignalName(ws.Signal())
		}
		json.NewEncoder(status).Encode(e)
		status.Close()
		go func() {
			<-finish
			killChildren()
		}()
	}
}

// killChildren SIGKILLs the reaper's children until it has none; their own
// children are re-parented to the reaper and killed in the next round. The
// wait loop reaps them and returns on ECHILD.
func killChildren() {
	self := os.Getpid()
	for {
		for _, pid := range childrenOf(self) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childrenOf lists the pids whose parent is ppid.
func childrenOf(ppid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if pp, _ := strconv.Atoi(f[1]); pp == ppid {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, pid)
		}
	}
	return out
}
