package state

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"testing"
	"time"

	"github.com/oci-run/oci-run/pkg/cgroup"
	"github.com/oci-run/oci-run/pkg/mountclean"
)

func sameAsEncodingJSON(t *testing.T, s *State) {
	t.Helper()
	want, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got, err := marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("marshal differs from encoding/json:\n got %s\nwant %s", got, want)
	}
}

// marshal writes the very bytes encoding/json's MarshalIndent writes.
func TestMarshalSameAsEncodingJSON(t *testing.T) {
	created := time.Date(2026, 11, 27, 5, 0, 0, 123456789, time.UTC)
	for _, s := range []*State{
		{},
		{ID: "c1", Bundle: "/b", Rootfs: "/b/rootfs", Created: created,
			CgroupPaths: cgroup.Paths{Dirs: map[string]string{"memory": "/sys/fs/cgroup/memory/c1", "": "/sys/fs/cgroup/unified/c1", "name=systemd": "/x"}},
			Creator:     42, CreatorStart: 7},
		{ID: "c2", Pid: 1234, PidStart: 99, Created: created.In(time.FixedZone("x", 3600)), Owner: "me",
			Annotations: map[string]string{"b": "2", "a": "<1> & \"q\" \\ \n\t\r\b\f\x01\x7f é \u2028\u2029 \xff\xfe", "": ""},
			CgroupPaths: cgroup.Paths{Dirs: map[string]string{}, Keep: map[string]string{"/a": "/"},
				Systemd: &cgroup.SystemdUnit{Slice: "s.slice", Prefix: "p", Name: "n"}},
			Mounts:  &mountclean.Record{NSPath: "/proc/1/ns/mnt", NS: mountclean.Identity{ID: 5, Dev: 3, Ino: 4}, Rootfs: "/r", Before: []mountclean.Mount{{ID: 1, Parent: 2, Dev: "0:1", Root: "/", Point: "/r"}}},
			Systemd: true, NoNewKeyring: true, Chain: -1, ChainStart: 1 << 63},
	} {
		sameAsEncodingJSON(t, s)
	}
}

// Strings of random bytes and runes, escaped the same way.
func TestMarshalStringsSameAsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	pieces := []string{"a", "<", ">", "&", "\"", "\\", "\x00", "\x1f", "\x7f", "\u2028", "\u2029", "é", "\xff", "\xe2\x80", "😀", "/", " "}
	for i := 0; i < 2000; i++ {
		var b []byte
		for j := r.Intn(12); j > 0; j-- {
			if r.Intn(3) == 0 {
				b = append(b, byte(r.Intn(256)))
			} else {
				b = append(b, pieces[r.Intn(len(pieces))]...)
			}
		}
		s := string(b)
		sameAsEncodingJSON(t, &State{ID: s, Annotations: map[string]string{s: s}, CgroupPaths: cgroup.Paths{Dirs: map[string]string{s: s}}})
	}
}
