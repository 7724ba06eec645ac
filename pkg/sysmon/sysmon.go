// Package sysmon lets the Go runtime's monitor thread sleep in steps of
// a millisecond instead of 20 µs.
//
// The runtime starts one thread of its own, sysmon, before any package
// is initialised. While any goroutine runs, it naps 20 µs at a time
// (usleep) to look for goroutines stuck in system calls or running too
// long. oci-run and the stages live for a few milliseconds: in this VM
// those naps were about half of oci-run's context switches per `run`
// (84 of 170, perf sched), each a timer reprogrammed (an exit to the
// hypervisor) and two switches. Nothing sysmon does matters at the
// scale of a millisecond here: it hands a P on when a goroutine blocks
// in a system call and another one is runnable without a P (rare with
// GOMAXPROCS ≥ 2, and the stages' only goroutine is their main one),
// preempts goroutines that ran for 10 ms, polls the network after 10 ms.
//
// Calm gives that thread a timer slack of 1 ms (/proc/TID/timerslack_ns),
// which lets the kernel defer each of its wake-ups by up to that much.
// Only that thread: a goroutine's time.Sleep or timeout is not deferred,
// and the processes this one starts inherit the slack of the thread that
// starts them, never sysmon's.
package sysmon

import (
	"bytes"
	"strconv"

	"golang.org/x/sys/unix"
)

// Slack is the timer slack Calm gives the monitor thread, in ns.
const Slack = 1000000

// Calm sets the monitor thread's timer slack to Slack and returns its
// thread id, or 0 when it did not: no procfs at /proc, no CAP_SYS_NICE
// (writing another thread's timer slack needs it), or the thread is not
// in the state that identifies it.
//
// The monitor is the first thread the runtime creates (runtime.main,
// before any package init), so the second in /proc/self/task, which
// lists threads in the order they were made; it is taken for sysmon
// only if it is asleep in nanosleep (sysmon's usleep) right now.
// Everything is opened beneath /proc checked to be a procfs, without
// crossing into another mount (RESOLVE_NO_XDEV): in a mount namespace
// that is not the host's, nothing mounted over /proc or inside it is
// read or written.
func Calm() int {
	proc, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(proc)
	var fs unix.Statfs_t
	if unix.Fstatfs(proc, &fs) != nil || fs.Type != unix.PROC_SUPER_MAGIC {
		return 0
	}
	tid := second(proc)
	if tid == 0 || !asleep(proc, tid) {
		return 0
	}
	fd, err := open(proc, strconv.Itoa(tid)+"/timerslack_ns", unix.O_WRONLY)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(strconv.Itoa(Slack))); err != nil {
		return 0
	}
	return tid
}

// open opens path beneath the procfs proc, within that one mount.
func open(proc int, path string, flags uint64) (int, error) {
	return unix.Openat2(proc, path, &unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// second returns the id of the second thread of this process, 0 if
// there is none or self/task cannot be read.
func second(proc int) int {
	fd, err := open(proc, "self/task", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	var buf [1024]byte
	n, err := unix.Getdents(fd, buf[:])
	if err != nil || n <= 0 {
		return 0
	}
	_, _, names := unix.ParseDirent(buf[:n], -1, nil)
	if len(names) < 2 {
		return 0
	}
	tid, err := strconv.Atoi(names[1])
	if err != nil {
		return 0
	}
	return tid
}

// asleep reports whether thread tid of this process is blocked in
// nanosleep, from the first field of self/task/TID/syscall.
func asleep(proc, tid int) bool {
	fd, err := open(proc, "self/task/"+strconv.Itoa(tid)+"/syscall", unix.O_RDONLY)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var b [24]byte
	n, err := unix.Read(fd, b[:])
	if err != nil || n <= 0 {
		return false
	}
	return bytes.HasPrefix(b[:n], []byte(strconv.Itoa(unix.SYS_NANOSLEEP)+" "))
}
