package state

import (
	"bytes"
	"encoding/json"

	"github.com/oci-run/oci-run/pkg/jsonenc"
)

// marshal returns state.json's contents for s: the bytes
// json.MarshalIndent(s, "", "  ") gives (TestMarshalSameAsEncodingJSON),
// written field by field. encoding/json builds its encoder for a type by
// reflection on first use, 0.2 ms for State in a fresh process, and
// create saves the state in front of the container's start; every
// oci-run command is such a fresh process. The rare nested records
// (a systemd unit, the mounts of a joined mount namespace) still go
// through encoding/json.
func marshal(s *State) ([]byte, error) {
	b := make([]byte, 0, 1024)
	b = append(b, '{')
	b = jsonenc.Key(b, "id", true)
	b = jsonenc.String(b, s.ID)
	b = jsonenc.Key(b, "bundle", false)
	b = jsonenc.String(b, s.Bundle)
	b = jsonenc.Key(b, "rootfs", false)
	b = jsonenc.String(b, s.Rootfs)
	b = jsonenc.Int(b, "pid", int64(s.Pid))
	b = jsonenc.Uint(b, "pidStart", s.PidStart)
	created, err := s.Created.MarshalJSON()
	if err != nil {
		return nil, err
	}
	b = jsonenc.Key(b, "created", false)
	b = append(b, created...)
	b = jsonenc.OmitString(b, "owner", s.Owner)
	if len(s.Annotations) > 0 {
		b = jsonenc.Key(b, "annotations", false)
		b = jsonenc.Map(b, s.Annotations)
	}
	b = jsonenc.Key(b, "cgroupPaths", false)
	b = append(b, '{')
	b = jsonenc.Key(b, "dirs", true)
	b = jsonenc.Map(b, s.CgroupPaths.Dirs)
	if len(s.CgroupPaths.Keep) > 0 {
		b = jsonenc.Key(b, "keep", false)
		b = jsonenc.Map(b, s.CgroupPaths.Keep)
	}
	if s.CgroupPaths.Systemd != nil {
		if b, err = appendJSON(jsonenc.Key(b, "systemd", false), s.CgroupPaths.Systemd); err != nil {
			return nil, err
		}
	}
	b = append(b, '}')
	if s.Mounts != nil {
		if b, err = appendJSON(jsonenc.Key(b, "mounts", false), s.Mounts); err != nil {
			return nil, err
		}
	}
	b = jsonenc.Bool(b, "systemd", s.Systemd)
	b = jsonenc.Bool(b, "noNewKeyring", s.NoNewKeyring)
	b = jsonenc.Int(b, "creator", int64(s.Creator))
	b = jsonenc.Uint(b, "creatorStart", s.CreatorStart)
	b = jsonenc.Int(b, "chain", int64(s.Chain))
	b = jsonenc.Uint(b, "chainStart", s.ChainStart)
	b = append(b, '}')
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/2)
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func appendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}
