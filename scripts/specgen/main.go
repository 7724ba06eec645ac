// Command specgen prints the configuration `oci-run spec` writes (package
// specgen), made non-interactive and running the given command (default sh).
// scripts/mkbundle falls back to it when bin/oci-run cannot write the spec.
//
//	go run ./scripts/specgen [-- CMD ARGS...] > config.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/oci-run/oci-run/pkg/specgen"
)

func main() {
	terminal := flag.Bool("terminal", false, "process.terminal")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: specgen [-terminal] [-- CMD ARGS...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	s := specgen.Default()
	s.Process.Terminal = *terminal
	if flag.NArg() > 0 {
		s.Process.Args = flag.Args()
	}
	// Tab indentation like `runc spec`, so the file reads and diffs the same.
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		fmt.Fprintln(os.Stderr, "specgen:", err)
		os.Exit(1)
	}
	os.Stdout.Write(append(b, '\n'))
}
