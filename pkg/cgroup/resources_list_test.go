package cgroup

import "testing"

func TestValidList(t *testing.T) {
	for _, s := range []string{"0", "0-3", "0,2", "0-3,6,8-9", " 1 ", "0-7:2/4", "1, 3"} {
		if !validList(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"abc", "0-", "-1", "3-1", "1,,2", "0x1", "1-2-3", ","} {
		if validList(s) {
			t.Errorf("%q accepted", s)
		}
	}
}
