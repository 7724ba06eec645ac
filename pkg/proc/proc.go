// Package proc identifies processes across pid reuse: a pid plus its start
// time (field 22 of /proc/PID/stat) names one process for its whole life.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Stat is what the runtime reads from /proc/PID/stat.
type Stat struct {
	State     byte   // R, S, D, Z, T, X, ...
	PPid      int    // parent pid
	StartTime uint64 // clock ticks after boot
}

// ReadStat parses /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return parseStat(b)
}

func parseStat(b []byte) (Stat, error) {
	// The command name (field 2) is in parentheses and may itself contain
	// spaces and parentheses: split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 {
		return Stat{}, errors.New("short /proc stat")
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return Stat{}, fmt.Errorf("bad ppid: %w", err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("bad starttime: %w", err)
	}
	return Stat{State: f[0][0], PPid: ppid, StartTime: start}, nil
}

// Alive reports whether the process pid that started at start still runs
// (a zombie has finished running and counts as gone).
func Alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := ReadStat(pid)
	if err != nil {
		return false
	}
	return st.StartTime == start && st.State != 'Z' && st.State != 'X'
}

// Signal sends sig to the process pid that started at start, through a
// pidfd so that a pid reused between the check and the signal is never hit.
// It returns unix.ESRCH when that process is gone.
func Signal(pid int, start uint64, sig unix.Signal) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if !Alive(pid, start) {
		st, err := ReadStat(pid)
		// A zombie still takes signals harmlessly; a new process must not.
		if err != nil || st.StartTime != start {
			return unix.ESRCH
		}
	}
	return unix.PidfdSendSignal(fd, sig, nil, 0)
}

// WaitGone blocks until the process pid that started at start is gone or a
// zombie: pidfds become readable when the process exits.
func WaitGone(pid int, start uint64, timeoutMs int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if st, err := ReadStat(pid); err != nil || st.StartTime != start {
		return nil
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, timeoutMs)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("process %d still running after %d ms", pid, timeoutMs)
		}
		return nil
	}
}
