package main

import "github.com/oci-run/oci-run/pkg/lifecycle"

func init() {
	register("pause", idCommand("freeze every process of a container", (*lifecycle.Runtime).Pause))
}
