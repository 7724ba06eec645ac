package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The shell bundle maker (scripts/mkbundle, used by people and the README)
// and MakeRootfs (used by the tests) must build the same rootfs, and the
// bundle's config.json must be the default spec with the given command.
func TestMkbundleMatchesMakeRootfs(t *testing.T) {
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("busybox-static not installed")
	}
	goRootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := MakeRootfs(goRootfs); err != nil {
		t.Fatal(err)
	}
	bundle := t.TempDir()
	args := []string{"sh", "-c", `echo "pid $$"; printf '\t%s\n' \back`}
	mkbundle := filepath.Join(RepoRoot(), "scripts", "mkbundle")
	// Twice: the second run over an existing bundle must leave the same result.
	for i := 0; i < 2; i++ {
		cmd := exec.Command(mkbundle, append([]string{bundle, "--"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mkbundle: %v\n%s", err, out)
		}
	}

	want, got := tree(t, goRootfs), tree(t, filepath.Join(bundle, "rootfs"))
	if !reflect.DeepEqual(want, got) {
		for p, w := range want {
			if got[p] != w {
				t.Errorf("%s: MakeRootfs %q, mkbundle %q", p, w, got[p])
			}
		}
		for p, g := range got {
			if _, ok := want[p]; !ok {
				t.Errorf("%s: only in mkbundle's rootfs (%q)", p, g)
			}
		}
	}

	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("config.json: %v", err)
	}
	expect := Spec("rootfs", args...)
	// With bin/oci-run built, config.json comes from `oci-run spec`: it may
	// write runc's older ociVersion, the rest must agree.
	s.Version = expect.Version
	if !reflect.DeepEqual(&s, expect) {
		e, _ := json.MarshalIndent(expect, "", " ")
		t.Errorf("config.json differs from the default spec with args %q:\n%s\nwant:\n%s", args, b, e)
	}
}

// tree describes every entry under root: type, permissions, and the
// symlink target or content hash.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v", info.Mode())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:8])
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
