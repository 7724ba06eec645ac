package signal

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParse: a parsed signal is 1..64, a number parses to itself, and a
// name parses the same in any case and with or without SIG.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"9", "KILL", "SIGKILL", "kill", "sigterm", "TERM", "HUP", "USR1", "SIGRTMIN", "RTMIN+2",
		"SIGRTMAX-1", "64", "0", "65", "-1", "", "SIG", "9x", "RTMIN+40", "SIGWINCH", "CHLD", "+9", "09"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := Parse(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		if sig < 1 || sig > 64 {
			t.Fatalf("Parse(%q) = %d", s, sig)
		}
		if again, err := Parse(strconv.Itoa(int(sig))); err != nil || again != sig {
			t.Errorf("Parse(%d) = %v, %v", sig, again, err)
		}
		if _, err := strconv.Atoi(s); err != nil {
			for _, v := range []string{strings.ToUpper(s), strings.ToLower(s)} {
				if again, err := Parse(v); err != nil || again != sig {
					t.Errorf("Parse(%q) = %v, %v; Parse(%q) = %v", v, again, err, s, sig)
				}
			}
		}
	})
}
