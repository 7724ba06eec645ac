package lifecycle_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/internal/testutil"
	"github.com/oci-run/oci-run/pkg/lifecycle"
)

func TestPreserveFDs(t *testing.T) {
	r := newRT(t)
	b, _ := bundle(t, "sh", "-c", "cat <&3; ls /proc/self/fd | tr '\\n' ' '")
	payload := filepath.Join(t.TempDir(), "payload")
	os.WriteFile(payload, []byte("through fd 3\n"), 0o644)
	f, _ := os.Open(payload)
	defer f.Close()
	cmd := exec.Command(r.bin, "--root", r.root, "run", "--preserve-fds", "1", "-b", b, testutil.ID(t))
	cmd.ExtraFiles = []*os.File{f}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v: %s", err, errb.String())
	}
	lines := strings.SplitN(out.String(), "\n", 2)
	if lines[0] != "through fd 3" {
		t.Fatalf("output %q", out.String())
	}
	// 0-2, the preserved 3, and the one ls opens to list the directory.
	if fds := strings.Fields(lines[1]); len(fds) != 5 || fds[3] != "3" {
		t.Fatalf("descriptors %q", fds)
	}
}

// Socket activation as runc does it: systemd's LISTEN_FDS descriptors
// (from 3) reach the process first, the preserved ones after them, and the
// process is told LISTEN_FDS and LISTEN_PID=1. LISTEN_PID names oci-run
// (the shell execs it, keeping its pid); for another pid nothing is passed.
func TestSocketActivation(t *testing.T) {
	r := newRT(t)
	b, _ := bundle(t, "sh", "-c", `echo "$LISTEN_FDS $LISTEN_PID"; cat <&3; cat <&4; ls /proc/self/fd | tr '\n' ' '`)
	dir := t.TempDir()
	run := func(listenPID string) (string, error) {
		// Opened for each run: a read moves the offset the files share.
		var files []*os.File
		for _, text := range []string{"activated\n", "preserved\n"} {
			p := filepath.Join(dir, strings.TrimSpace(text))
			os.WriteFile(p, []byte(text), 0o644)
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			files = append(files, f)
		}
		cmd := exec.Command("sh", "-c", `LISTEN_PID=${LISTEN_PID:-$$} exec "$@"`, "sh",
			r.bin, "--root", r.root, "run", "--preserve-fds", "1", "-b", b, testutil.ID(t))
		cmd.Env = append(os.Environ(), "LISTEN_FDS=1")
		if listenPID != "" {
			cmd.Env = append(cmd.Env, "LISTEN_PID="+listenPID)
		}
		cmd.ExtraFiles = files
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil {
			err = errors.New(err.Error() + ": " + errb.String())
		}
		return out.String(), err
	}
	out, err := run("")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(out, "\n", 4)
	if len(lines) != 4 || lines[0] != "1 1" || lines[1] != "activated" || lines[2] != "preserved" {
		t.Fatalf("output %q", out)
	}
	if fds := strings.Fields(lines[3]); len(fds) != 6 || fds[3] != "3" || fds[4] != "4" {
		t.Fatalf("descriptors %q", fds)
	}
	// For another process: only the one preserved descriptor, fd 3.
	out, err = run("1")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.SplitN(out, "\n", 3); len(lines) < 2 || lines[0] != " " || lines[1] != "activated" {
		t.Fatalf("LISTEN_PID of another process: %q", out)
	}
}

func TestConsoleSocket(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(testutil.SharedRootfs(t), "sh", "-c", "tty; echo hello from the tty")
	s.Process.Terminal = true
	b := testutil.Bundle(t, s)
	sock := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *os.File, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		f, _ := conn.(*net.UnixConn).File()
		conn.Close()
		m, err := lifecycle.ReceiveMaster(f)
		f.Close()
		if err != nil {
			t.Error(err)
		}
		got <- m
	}()
	id := testutil.ID(t)
	r.must("create", "--console-socket", sock, "-b", b, id)
	defer r.run("delete", "--force", id)
	var master *os.File
	select {
	case master = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no pty master received")
	}
	if master == nil {
		t.Fatal("no pty master received")
	}
	defer master.Close()
	r.must("start", id)
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(out.String(), "hello from the tty") {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "input/output error") {
				break
			}
			t.Fatal(err)
		}
	}
	if !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "hello from the tty") {
		t.Fatalf("tty output %q", out.String())
	}
	r.waitStatus(id, specs.StateStopped)
}

func TestConsoleSocketMismatch(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(testutil.SharedRootfs(t), "true")
	s.Process.Terminal = true
	b := testutil.Bundle(t, s)
	id := testutil.ID(t)
	if res := r.run("create", "-b", b, id); res.code == 0 || !strings.Contains(res.stderr, "console-socket") {
		t.Fatalf("terminal without console socket: %+v", res)
	}
	r.noLeaks(id, nil)
}

func TestRunWithTerminal(t *testing.T) {
	r := newRT(t)
	s := testutil.Spec(testutil.SharedRootfs(t), "sh", "-c", "tty; echo done")
	s.Process.Terminal = true
	b := testutil.Bundle(t, s)
	res := r.runIn([]byte{}, "run", "-b", b, testutil.ID(t))
	if res.code != 0 || !strings.Contains(res.stdout, "/dev/pts/") || !strings.Contains(res.stdout, "done") {
		t.Fatalf("run with terminal: %+v", res)
	}
}
