package idmap

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestWanted(t *testing.T) {
	own := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}}
	ctr := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s := &specs.Spec{
		Linux: &specs.Linux{UIDMappings: ctr, GIDMappings: ctr},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/a", Type: "bind", Source: "vol", Options: []string{"bind", "idmap"}},
			{Destination: "/b", Type: "bind", Source: "/abs/src", Options: []string{"rbind", "ridmap", "ro"}, UIDMappings: own, GIDMappings: own},
			{Destination: "/c", Type: "bind", Source: "/plain", Options: []string{"bind"}},
			{Destination: "/d", Type: "bind", Source: "/x", Options: []string{"rbind", "idmap"}},
		},
	}
	got, err := Wanted(s, "/bundle")
	if err != nil {
		t.Fatal(err)
	}
	want := []Want{
		{Index: 1, Source: "/bundle/vol", UIDMappings: ctr, GIDMappings: ctr},
		{Index: 2, Source: "/abs/src", Recursive: true, RIDMap: true, UIDMappings: own, GIDMappings: own},
		{Index: 4, Source: "/x", Recursive: true, UIDMappings: ctr, GIDMappings: ctr},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestWantedErrorsNameTheField(t *testing.T) {
	for _, c := range []struct {
		name string
		m    specs.Mount
		want string
	}{
		{"no mappings", specs.Mount{Destination: "/a", Type: "bind", Source: "/x", Options: []string{"bind", "idmap"}}, "mounts[0]: an idmapped mount needs uidMappings"},
		{"no source", specs.Mount{Destination: "/a", Type: "bind", Options: []string{"bind", "idmap"}}, "mounts[0].source:"},
		{"bad option", specs.Mount{Destination: "/a", Type: "tmpfs", Options: []string{"idmap"}}, "mounts[0].options[0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Wanted(&specs.Spec{Mounts: []specs.Mount{c.m}}, "/b")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestEnvAndHanded(t *testing.T) {
	var none *Trees
	if none.Env(nil) != "" {
		t.Error("nil trees have a value")
	}
	none.Close()
	a, _ := os.Open(os.DevNull)
	b, _ := os.Open(os.DevNull)
	tr := &Trees{Files: []*os.File{a, b}, Index: []int{3, 5}}
	defer tr.Close()
	own := fmt.Sprintf("3=%d,5=%d", a.Fd(), b.Fd())
	if v := tr.Env(nil); v != own {
		t.Errorf("at their own numbers: %q, want %q", v, own)
	}
	if v := tr.Env([]int{7, 8}); v != "3=7,5=8" {
		t.Errorf("placed: %q", v)
	}
	t.Setenv(EnvMountFDs, "3=7,5=8")
	if fd, ok := Handed(5); !ok || fd != 8 {
		t.Errorf("Handed(5) = %d, %v", fd, ok)
	}
	if _, ok := Handed(4); ok {
		t.Error("Handed(4) found")
	}
}
