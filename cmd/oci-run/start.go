package main

import "github.com/oci-run/oci-run/pkg/lifecycle"

func init() {
	register("start", idCommand("start the user process of a created container", (*lifecycle.Runtime).Start))
}
