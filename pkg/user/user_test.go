package user

import (
	"io"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const passwd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
first:x:1000:1000::/home/first:/bin/sh
second:x:1000:1000::/home/second:/bin/sh
nohome:x:1001:1001:::/bin/sh
`

func TestResolve(t *testing.T) {
	umask := uint32(0o077)
	bad := uint32(0o1000)
	tests := []struct {
		name    string
		u       specs.User
		passwd  io.Reader
		want    Identity
		wantErr string
	}{
		{name: "root", u: specs.User{}, passwd: strings.NewReader(passwd),
			want: Identity{Home: "/root", Umask: 0o022}},
		{name: "first passwd entry wins", u: specs.User{UID: 1000, GID: 1000},
			passwd: strings.NewReader(passwd), want: Identity{UID: 1000, GID: 1000, Home: "/home/first", Umask: 0o022}},
		{name: "gid as configured, not from passwd", u: specs.User{UID: 1, GID: 42},
			passwd: strings.NewReader(passwd), want: Identity{UID: 1, GID: 42, Home: "/usr/sbin", Umask: 0o022}},
		{name: "uid without an entry", u: specs.User{UID: 4242, GID: 4242},
			passwd: strings.NewReader(passwd), want: Identity{UID: 4242, GID: 4242, Home: "/", Umask: 0o022}},
		{name: "empty home", u: specs.User{UID: 1001, GID: 1001},
			passwd: strings.NewReader(passwd), want: Identity{UID: 1001, GID: 1001, Home: "/", Umask: 0o022}},
		{name: "no passwd file", u: specs.User{UID: 10, GID: 10, AdditionalGids: []uint32{5}},
			want: Identity{UID: 10, GID: 10, Groups: []int{5}, Home: "/", Umask: 0o022}},
		{name: "umask", u: specs.User{Umask: &umask}, want: Identity{Home: "/", Umask: 0o077}},
		{name: "bad umask", u: specs.User{Umask: &bad}, wantErr: "process.user.umask: 01000 is not a permission mask"},
		{name: "uid -1", u: specs.User{UID: 1<<32 - 1}, wantErr: "process.user.uid: 4294967295 is out of range"},
		{name: "additional gid -1", u: specs.User{AdditionalGids: []uint32{5, 1<<32 - 1}},
			wantErr: "process.user.additionalGids[1]: 4294967295 is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.u, tt.passwd)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
