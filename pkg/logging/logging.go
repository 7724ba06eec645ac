// Package logging writes oci-run's log the way runc does, because engines
// parse it: with --log-format json one object per line with "level", "msg"
// and "time" (RFC 3339), with text logrus's `time="..." level=... msg="..."`.
package logging

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// Logger writes leveled lines to the --log file (or stderr).
type Logger struct {
	mu     sync.Mutex
	w      io.Writer
	file   *os.File
	json   bool
	debug  bool
	stderr bool // w is stderr: errors are not printed twice
}

// New opens the log. path "" logs to stderr.
func New(path, format string, debug bool) (*Logger, error) {
	l := &Logger{debug: debug}
	switch format {
	case "", "text":
	case "json":
		l.json = true
	default:
		return nil, fmt.Errorf("invalid --log-format %q: must be text or json", format)
	}
	if path == "" || path == "/dev/stderr" {
		l.w, l.stderr = os.Stderr, true
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	l.w, l.file = f, f
	return l, nil
}

// Debugf logs at debug level when --debug is set.
func (l *Logger) Debugf(format string, args ...any) {
	if l.debug {
		l.write("debug", fmt.Sprintf(format, args...))
	}
}

// Warnf logs a warning.
func (l *Logger) Warnf(format string, args ...any) { l.write("warning", fmt.Sprintf(format, args...)) }

// Error logs a fatal error; it is also printed on stderr when the log is a
// file, as runc does (clients read one or the other).
func (l *Logger) Error(msg string) {
	if l.stderr && !l.json {
		fmt.Fprintln(os.Stderr, msg)
		return
	}
	l.write("error", msg)
	if !l.stderr {
		fmt.Fprintln(os.Stderr, msg)
	}
}

func (l *Logger) write(level, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now().Format(time.RFC3339Nano)
	if l.json {
		b, _ := json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, now})
		l.w.Write(append(b, '\n'))
		return
	}
	if l.stderr && level == "warning" {
		fmt.Fprintf(l.w, "WARN: %s\n", msg)
		return
	}
	fmt.Fprintf(l.w, "time=%q level=%s msg=%s\n", now, level, strconv.Quote(msg))
}

// Close closes the log file.
func (l *Logger) Close() {
	if l.file != nil {
		l.file.Close()
	}
}
