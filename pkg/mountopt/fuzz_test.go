package mountopt

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: options (comma-separated in the input) of any filesystem
// type parse the same every time, and an error names an option that is
// in the list, by its index. Seeds: the mounts of the compat configs.
func FuzzParse(f *testing.F) {
	f.Add("proc", "nosuid,noexec,nodev")
	f.Add("tmpfs", "nosuid,strictatime,mode=755,size=65536k")
	f.Add("bind", "rbind,ro,rprivate,idmap")
	f.Add("cgroup", "nosuid,noexec,nodev,relatime,ro")
	f.Add("tmpfs", "tmpcopyup,rro,uid=0,gid=5")
	f.Fuzz(func(t *testing.T, typ, list string) {
		var opts []string
		if list != "" {
			opts = strings.Split(list, ",")
		}
		o, err := Parse(typ, opts)
		o2, err2 := Parse(typ, opts)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(o, o2) {
			t.Fatalf("Parse(%q, %q) not deterministic", typ, opts)
		}
		if err == nil {
			if IsBind(typ, opts) != o.Bind {
				t.Errorf("IsBind(%q, %q) = %v, Parse says %v", typ, opts, !o.Bind, o.Bind)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is not a *mountopt.Error", err)
		}
		if e.Index < 0 || e.Index >= len(opts) || opts[e.Index] != e.Option {
			t.Errorf("error %v names options[%d] %q of %q", err, e.Index, e.Option, opts)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("multi-line error %q", err)
		}
	})
}
