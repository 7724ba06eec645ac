package spec

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/oci-run/oci-run/pkg/specgen"
)

// slowParse is what Parse did before the fast decoder.
func slowParse(b []byte) (*specs.Spec, error) {
	var s specs.Spec
	err := json.NewDecoder(bytes.NewReader(b)).Decode(&s)
	return &s, err
}

// A full configuration: every Linux section with values of every kind.
const fullConfig = `{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": true, "consoleSize": {"height": 25, "width": 80},
    "user": {"uid": 1000, "gid": 100, "umask": 18, "additionalGids": [5, 6]},
    "args": ["sh", "-c", "echo \"hi\" \\ \/ \u00e9 \t\n"], "commandLine": "",
    "env": ["PATH=/bin", "é=ü"], "cwd": "/home",
    "capabilities": {"bounding": ["CAP_KILL"], "effective": [], "inheritable": null, "permitted": ["CAP_KILL"], "ambient": []},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true, "apparmorProfile": "p", "oomScoreAdj": -500,
    "scheduler": {"policy": "SCHED_OTHER", "nice": -5, "priority": 0, "flags": ["SCHED_FLAG_RESET_ON_FORK"], "runtime": 1, "deadline": 2, "period": 3},
    "selinuxLabel": "l", "ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 3},
    "execCPUAffinity": {"initial": "0", "final": "0-1"}
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "h", "domainname": "d",
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"], "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}],
  "hooks": {"prestart": [{"path": "/bin/true", "args": ["true"], "env": ["A=1"], "timeout": 5}], "poststop": []},
  "annotations": {"a": "b", "c": ""},
  "linux": {
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "sysctl": {"net.ipv4.ip_forward": "1"},
    "resources": {
      "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
      "memory": {"limit": 1048576, "reservation": -1, "swap": 2097152, "swappiness": 10, "disableOOMKiller": false, "useHierarchy": true, "checkBeforeUpdate": true},
      "cpu": {"shares": 1024, "quota": 100000, "burst": 0, "period": 100000, "realtimeRuntime": 0, "cpus": "0-1", "mems": "0", "idle": 0},
      "pids": {"limit": 100},
      "blockIO": {"weight": 10, "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 300}], "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}]},
      "hugepageLimits": [{"pageSize": "2MB", "limit": 9223372036854775807}],
      "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
      "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
      "unified": {"memory.high": "max"}
    },
    "cgroupsPath": "/a/b",
    "namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}],
    "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}],
    "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
      "listenerPath": "/run/l", "listenerMetadata": "m",
      "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "errnoRet": 2, "args": [{"index": 0, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}]},
    "rootfsPropagation": "slave", "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
    "mountLabel": "m", "personality": {"domain": "LINUX32", "flags": []},
    "timeOffsets": {"monotonic": {"secs": 1, "nanosecs": 2}},
    "intelRdt": {"closID": "c", "l3CacheSchema": "L3:0=f", "enableMonitoring": true},
    "memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]},
    "netDevices": {"eth1": {"name": "eth2"}}
  },
  "unknownTopLevel": {"x": [1, 2.5e3, true, null, "s"]}
}`

func TestFastDecoderMatchesEncodingJSON(t *testing.T) {
	def, err := json.Marshal(specgen.Default())
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"full":                  fullConfig,
		"default":               string(def),
		"empty":                 `{}`,
		"nulls":                 `{"process": null, "mounts": null, "annotations": null, "linux": {"namespaces": [null], "resources": null}}`,
		"empty arrays and maps": `{"mounts": [], "annotations": {}, "process": {"args": [], "env": [null]}}`,
		"trailing":              `{"hostname": "x"} garbage`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			want, werr := slowParse([]byte(in))
			if werr != nil {
				t.Fatalf("encoding/json: %v", werr)
			}
			got, err := decodeFast([]byte(in))
			if err != nil {
				t.Fatalf("fast decoder gave up: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("fast decoder differs:\n got %s\nwant %s", g, w)
			}
		})
	}
}

// Inputs the fast decoder must leave to encoding/json, and what Parse
// then returns: exactly encoding/json's result or error.
func TestFastDecoderGivesUp(t *testing.T) {
	for _, in := range []string{
		`[]`, `null`, ``, `{"hostname": 1}`, `{"process": {"user": {"uid": 1.5}}}`,
		`{"process": {"user": {"uid": -1}}}`, `{"process": {"oomScoreAdj": 1e3}}`,
		`{"Hostname": "x"}`, `{"HOSTNAME": "x", "hostname": "y"}`, `{"hostname": "a", "hostname": "b"}`,
		`{"process": {"cwd": "/a"}, "process": {"args": ["x"]}}`, `{"hostname": "\ud800"}`,
		`{"hostname": "a` + "\xff" + `"}`, `{"hostname": "a` + "\x01" + `"}`, `{"ho\u0073tname": "x"}`,
		`{"windows": {"layerFolders": ["c"]}}`, `{"linux": {"resources": {"pids": {"limit": 99999999999999999999}}}}`,
		`{"hostname": "x",}`, `{"hostname" "x"}`, `{"unknown": [1, 2,]}`, `{"unknown": 01}`, `{"hostname": tru}`,
		`{"process": {"terminal": "yes"}}`, `{"mounts": {"a": 1}}`, `{"annotations": {"a": 1}}`,
	} {
		if _, err := decodeFast([]byte(in)); err == nil {
			t.Errorf("fast decoder accepted %q", in)
		}
		want, werr := slowParse([]byte(in))
		got, err := Parse([]byte(in))
		if (err == nil) != (werr == nil) {
			t.Errorf("%q: Parse error %v, encoding/json %v", in, err, werr)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q: Parse differs from encoding/json", in)
		}
	}
}

// decode_gen.go is what scripts/specdecode makes of the runtime-spec
// module in go.mod.
func TestGeneratedDecoderIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..")
	out, err := exec.Command("go", "run", filepath.Join(repo, "scripts", "specdecode"), "-o", "-").Output()
	if err != nil {
		t.Fatalf("go run scripts/specdecode: %v", err)
	}
	have, err := os.ReadFile(filepath.Join(filepath.Dir(file), "decode_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, have) {
		t.Error("pkg/spec/decode_gen.go is stale: run go generate ./pkg/spec")
	}
}

func BenchmarkParse(b *testing.B) {
	in := []byte(fullConfig)
	for b.Loop() {
		if _, err := decodeFast(in); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFullConfigIsComplete(t *testing.T) {
	// Guard the test itself: the full config sets every Linux section.
	s, err := slowParse([]byte(fullConfig))
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(*s.Linux)
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if v.Field(i).IsZero() && !strings.Contains("GIDMappings", name) {
			t.Logf("linux.%s is not set in fullConfig", name)
		}
	}
}
