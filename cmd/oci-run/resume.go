package main

import "github.com/oci-run/oci-run/pkg/lifecycle"

func init() {
	register("resume", idCommand("thaw a paused container", (*lifecycle.Runtime).Resume))
}
