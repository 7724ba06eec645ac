package memtrim

import (
	"bufio"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var writable = 42

// The read-only segments hold this package's code and not its variables.
func TestReadOnlySegments(t *testing.T) {
	segs, err := readOnlySegments()
	if err != nil {
		t.Fatal(err)
	}
	in := func(a uintptr) bool {
		for _, s := range segs {
			if a >= s[0] && a < s[1] {
				return true
			}
		}
		return false
	}
	if code := reflect.ValueOf(Code).Pointer(); !in(code) {
		t.Errorf("Code at %#x is in none of %x", code, segs)
	}
	if data := reflect.ValueOf(&writable).Pointer(); in(data) {
		t.Errorf("a variable at %#x is in a read-only segment %x", data, segs)
	}
}

// Code gives back resident pages of the executable, and the program goes
// on running (its code is mapped back as it runs).
func TestCodeReleasesPages(t *testing.T) {
	if traced() {
		t.Skip("traced: Code does nothing")
	}
	before := exeRss(t)
	if err := Code(); err != nil {
		t.Fatal(err)
	}
	after := exeRss(t)
	t.Logf("resident pages of the executable: %d KiB before, %d KiB after", before, after)
	if after >= before {
		t.Errorf("resident %d KiB after Code, %d KiB before", after, before)
	}
	if writable != 42 {
		t.Errorf("a variable changed: %d", writable)
	}
}

// exeRss sums Rss over the mappings of this test's executable.
func exeRss(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, ours := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			ours = len(fields) >= 6 && fields[5] == exe && !strings.Contains(fields[1], "w")
		case ours && len(fields) >= 2 && fields[0] == "Rss:":
			n, _ := strconv.Atoi(fields[1])
			sum += n
		}
	}
	return sum
}
