// Package spec reads an OCI runtime configuration (config.json) from a file
// or a descriptor and checks it before anything is created. Errors name the
// offending field by its JSON path.
package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

//go:generate go run ../../scripts/specdecode -o decode_gen.go

// Parse decodes config.json bytes. Type mismatches name the field.
//
// The generated decoder (fastjson.go) does the common case without
// reflection; whatever it does not handle, errors included, is decoded by
// encoding/json, which decides the result.
func Parse(b []byte) (*specs.Spec, error) {
	if s, err := decodeFast(b); err == nil {
		return s, nil
	}
	var s specs.Spec
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&s); err != nil {
		return nil, describeJSONError(b, err)
	}
	return &s, nil
}

func describeJSONError(b []byte, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field, ok := pathAtOffset(b, te.Offset)
		if !ok {
			field = te.Field
		}
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("%s: expected %s, got JSON %s", field, typeName(te.Type), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
		return fmt.Errorf("invalid JSON at line %d: %v", line, se)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("empty configuration")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: the document ends early")
	}
	return err
}

// typeName says what JSON a Go type takes, in the spec's terms: the
// configuration's named string types (specs.LinuxNamespaceType, ...) are
// strings to whoever writes the file.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array of " + typeName(t.Elem())
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}

// LoadFile reads and parses a config.json file.
func LoadFile(path string) (*specs.Spec, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	s, err := Parse(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, b, nil
}

// ReadFD reads the whole spec from fd without moving its offset, so every
// stage of a chain reads the same bytes from the same descriptor. A pipe
// cannot be re-read: its content is moved into a memfd placed at the same
// descriptor number, so `3< <(generate-config)` works for a whole chain.
func ReadFD(fd int) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("spec fd %d: %w", fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return readStream(fd)
	}
	buf := make([]byte, st.Size)
	for off := 0; off < len(buf); {
		n, err := unix.Pread(fd, buf[off:], int64(off))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("spec fd %d: read: %w", fd, err)
		}
		if n == 0 {
			return buf[:off], nil
		}
		off += n
	}
	return buf, nil
}

func readStream(fd int) ([]byte, error) {
	f := os.NewFile(uintptr(fd), "spec")
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("spec fd %d: read: %w", fd, err)
	}
	mfd, err := SealedMemfd("config.json", b)
	if err != nil {
		return nil, err
	}
	defer unix.Close(mfd)
	// Dup3 without O_CLOEXEC: the memfd takes the descriptor's place for the
	// stages that follow.
	if err := unix.Dup3(mfd, fd, 0); err != nil {
		return nil, fmt.Errorf("spec fd %d: replace pipe: %w", fd, err)
	}
	return b, nil
}

// SealedMemfd returns a close-on-exec memfd holding b, sealed against any
// change, so a stage can trust that what it reads is what the runtime wrote.
func SealedMemfd(name string, b []byte) (int, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	for off := 0; off < len(b); {
		n, err := unix.Write(fd, b[off:])
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("write memfd: %w", err)
		}
		off += n
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("seal memfd: %w", err)
	}
	return fd, nil
}

// RootPath is root.path resolved against the bundle directory.
func RootPath(s *specs.Spec, bundle string) string {
	if s.Root == nil {
		return ""
	}
	return Resolve(bundle, s.Root.Path)
}

// Resolve makes a spec path absolute against the bundle directory.
func Resolve(bundle, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(bundle, p)
}

// HasNamespace reports whether the spec lists a namespace of type t and
// returns its entry.
func HasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) (specs.LinuxNamespace, bool) {
	if s.Linux == nil {
		return specs.LinuxNamespace{}, false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return ns, true
		}
	}
	return specs.LinuxNamespace{}, false
}

// Annotation returns an annotation value or "".
func Annotation(s *specs.Spec, key string) string {
	if s.Annotations == nil {
		return ""
	}
	return s.Annotations[key]
}
