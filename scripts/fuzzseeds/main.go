// Command fuzzseeds writes the seed corpora of the fuzz targets from real
// configurations (the config.json files Docker, podman and containerd
// write, in /work/shared/compat by default): whole files for
// spec.FuzzParse, their linux.seccomp for seccomp.FuzzCompile, their
// mounts for mountopt.FuzzParse. Run from the repository's top:
//
//	go run ./scripts/fuzzseeds [DIR...]
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func main() {
	dirs := os.Args[1:]
	if len(dirs) == 0 {
		dirs = []string{"/work/shared/compat"}
	}
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "*.json"))
		for _, f := range files {
			if err := seed(f); err != nil {
				fmt.Fprintln(os.Stderr, "fuzzseeds:", err)
				os.Exit(1)
			}
		}
	}
}

func seed(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var c struct {
		Mounts []struct {
			Type    string   `json:"type"`
			Options []string `json:"options"`
		} `json:"mounts"`
		Linux struct {
			Seccomp json.RawMessage `json:"seccomp"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	name := strings.TrimSuffix(filepath.Base(path), ".json")
	if err := write("pkg/spec", "FuzzParse", name, "[]byte("+strconv.Quote(string(b))+")"); err != nil {
		return err
	}
	if len(c.Linux.Seccomp) > 0 {
		if err := write("pkg/seccomp", "FuzzCompile", name, "[]byte("+strconv.Quote(string(c.Linux.Seccomp))+")"); err != nil {
			return err
		}
	}
	for _, m := range c.Mounts {
		v := "string(" + strconv.Quote(m.Type) + ")\nstring(" + strconv.Quote(strings.Join(m.Options, ",")) + ")"
		if err := write("pkg/mountopt", "FuzzParse", name, v); err != nil {
			return err
		}
	}
	return nil
}

// write stores one corpus entry, named by its source and content.
func write(pkg, target, source, values string) error {
	content := "go test fuzz v1\n" + values + "\n"
	sum := sha256.Sum256([]byte(content))
	dir := filepath.Join(pkg, "testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	id := hex.EncodeToString(sum[:4])
	if same, _ := filepath.Glob(filepath.Join(dir, "*-"+id)); len(same) > 0 {
		return nil // the same entry from another configuration
	}
	return os.WriteFile(filepath.Join(dir, source+"-"+id), []byte(content), 0o644)
}
