package syncsock

import (
	"io"
	"os"
	"testing"
)

func TestMessageWithDescriptor(t *testing.T) {
	rt, st, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := st.Send(Message{Type: TypeSeccompListener, Files: []*os.File{w}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	m, err := rt.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != TypeSeccompListener || len(m.Files) != 1 {
		t.Fatalf("got %+v", m)
	}
	// The received descriptor is the pipe's write end.
	m.Files[0].WriteString("x")
	m.Files[0].Close()
	b, _ := io.ReadAll(r)
	if string(b) != "x" {
		t.Errorf("read %q through the passed descriptor", b)
	}
	if err := st.Send(Message{Type: TypeReady}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if m, err := rt.Recv(); err != nil || m.Type != TypeReady || m.Files != nil {
		t.Fatalf("got %+v, %v", m, err)
	}
	if _, err := rt.Recv(); err != io.EOF {
		t.Fatalf("after close: %v, want EOF", err)
	}
}
