package mountclean

import (
	"reflect"
	"strings"
	"testing"
)

// A host where the rootfs is itself a mount point (30) holding a volume
// (31), and a neighbour whose name starts like the rootfs (32).
const beforeInfo = `27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 27 0:50 / /b/rootfs rw,relatime shared:2 - tmpfs tmpfs rw
31 30 0:51 / /b/rootfs/mnt rw,relatime shared:3 - tmpfs vol rw
32 27 0:52 / /b/rootfs2 rw,relatime - tmpfs other rw
`

// After create: the bind of the rootfs (40, on top of 30) with its copy of
// the volume (41) and the container's mounts (42-44, one stacked on 42);
// 45 reuses a freed id number elsewhere; 46 was mounted on the original
// volume from outside, with the id the volume's copy had before.
const afterInfo = beforeInfo + `40 30 254:0 /b/rootfs /b/rootfs ro shared:9 - tmpfs tmpfs rw
41 40 0:51 / /b/rootfs/mnt rw - tmpfs vol rw
42 40 0:60 / /b/rootfs/proc rw - proc proc rw
43 40 0:61 / /b/rootfs/dev rw - tmpfs tmpfs rw
44 42 0:62 / /b/rootfs/proc rw - tmpfs stacked rw
45 27 0:63 / /elsewhere rw - tmpfs x rw
46 31 0:64 / /b/rootfs/mnt/sub rw - tmpfs y rw
`

func parse(t *testing.T, s string) []Mount {
	t.Helper()
	m, err := parseMounts(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ids(ms []Mount) []int {
	var out []int
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func TestUnder(t *testing.T) {
	for p, want := range map[string]bool{
		"/b/rootfs": true, "/b/rootfs/proc": true, "/b/rootfs2": false, "/b": false, "/": false,
	} {
		if got := Under("/b/rootfs", p); got != want {
			t.Errorf("Under(/b/rootfs, %s) = %v", p, got)
		}
	}
	if !Under("/", "/x") {
		t.Error("everything is under /")
	}
}

func TestNewAndToDetach(t *testing.T) {
	before := parse(t, beforeInfo)
	var rec []Mount
	for _, m := range before {
		if Under("/b/rootfs", m.Point) {
			rec = append(rec, m)
		}
	}
	if got := ids(rec); !reflect.DeepEqual(got, []int{30, 31}) {
		t.Fatalf("recorded %v", got)
	}
	now := parse(t, afterInfo)
	if got := ids(New("/b/rootfs", rec, now)); !reflect.DeepEqual(got, []int{40, 41, 42, 43, 44, 46}) {
		t.Errorf("New = %v", got)
	}
	// 40 takes 41-44 along; 46 sits on a mount that was there before.
	if got := ids(ToDetach("/b/rootfs", rec, now)); !reflect.DeepEqual(got, []int{40, 46}) {
		t.Errorf("ToDetach = %v", got)
	}
	if got := ToDetach("/b/rootfs", rec, before); len(got) != 0 {
		t.Errorf("nothing new, ToDetach = %v", ids(got))
	}
}

// A mount id reused by the container for another mount point, device or
// root is not taken for the recorded one.
func TestReusedID(t *testing.T) {
	rec := []Mount{{ID: 50, Parent: 27, Dev: "0:50", Root: "/", Point: "/r"}}
	now := []Mount{
		{ID: 27, Parent: 1, Dev: "254:0", Root: "/", Point: "/"},
		{ID: 50, Parent: 27, Dev: "0:70", Root: "/", Point: "/r"},
	}
	if got := ids(ToDetach("/r", rec, now)); !reflect.DeepEqual(got, []int{50}) {
		t.Errorf("ToDetach = %v", got)
	}
}

func TestParseEscapes(t *testing.T) {
	m := parse(t, `60 27 0:70 / /b/root\040fs rw - tmpfs tmpfs rw`+"\n")
	if len(m) != 1 || m[0].Point != "/b/root fs" || m[0].Dev != "0:70" || m[0].Parent != 27 {
		t.Errorf("parsed %+v", m)
	}
}

func TestIdentity(t *testing.T) {
	a := Identity{ID: 7, Dev: 4, Ino: 100}
	if !a.matches(Identity{ID: 7, Dev: 4, Ino: 100}) {
		t.Error("same namespace")
	}
	// The inode of a namespace that is gone can be given to another one:
	// the 64-bit id decides where both are known.
	if a.matches(Identity{ID: 8, Dev: 4, Ino: 100}) {
		t.Error("reused inode taken for the namespace")
	}
	if !(Identity{Dev: 4, Ino: 100}).matches(Identity{Dev: 4, Ino: 100}) || (Identity{Dev: 4, Ino: 100}).matches(Identity{Dev: 4, Ino: 101}) {
		t.Error("inode comparison without ids")
	}
}
