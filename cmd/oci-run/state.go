package main

import (
	"encoding/json"
	"os"

	"github.com/oci-run/oci-run/pkg/lifecycle"
)

func init() {
	register("state", idCommand("print the state of a container as JSON", func(r *lifecycle.Runtime, id string) error {
		st, err := r.State(id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}))
}
