//go:build !cgo

package nsjoin

// Available reports whether the constructor is linked in: not without cgo.
const Available = false

// Result reports that nothing was joined: without cgo there is no
// constructor.
func Result() (ran bool, failed int, err error) { return false, -1, nil }

// ForkError is nil: without cgo there is no constructor.
func ForkError() error { return nil }
