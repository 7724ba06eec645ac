package state

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
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
	b = key(b, "id", true)
	b = appendString(b, s.ID)
	b = key(b, "bundle", false)
	b = appendString(b, s.Bundle)
	b = key(b, "rootfs", false)
	b = appendString(b, s.Rootfs)
	b = appendInt(b, "pid", int64(s.Pid))
	b = appendUint(b, "pidStart", s.PidStart)
	created, err := s.Created.MarshalJSON()
	if err != nil {
		return nil, err
	}
	b = key(b, "created", false)
	b = append(b, created...)
	if s.Owner != "" {
		b = key(b, "owner", false)
		b = appendString(b, s.Owner)
	}
	if len(s.Annotations) > 0 {
		b = key(b, "annotations", false)
		b = appendMap(b, s.Annotations)
	}
	b = key(b, "cgroupPaths", false)
	b = append(b, '{')
	b = key(b, "dirs", true)
	b = appendMap(b, s.CgroupPaths.Dirs)
	if len(s.CgroupPaths.Keep) > 0 {
		b = key(b, "keep", false)
		b = appendMap(b, s.CgroupPaths.Keep)
	}
	if s.CgroupPaths.Systemd != nil {
		if b, err = appendJSON(key(b, "systemd", false), s.CgroupPaths.Systemd); err != nil {
			return nil, err
		}
	}
	b = append(b, '}')
	if s.Mounts != nil {
		if b, err = appendJSON(key(b, "mounts", false), s.Mounts); err != nil {
			return nil, err
		}
	}
	b = appendBool(b, "systemd", s.Systemd)
	b = appendBool(b, "noNewKeyring", s.NoNewKeyring)
	b = appendInt(b, "creator", int64(s.Creator))
	b = appendUint(b, "creatorStart", s.CreatorStart)
	b = appendInt(b, "chain", int64(s.Chain))
	b = appendUint(b, "chainStart", s.ChainStart)
	b = append(b, '}')
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/2)
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// key appends a member name (after a comma unless first).
func key(b []byte, name string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// appendInt and appendUint append a member that is omitted when zero.
func appendInt(b []byte, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendInt(key(b, name, false), v, 10)
}

func appendUint(b []byte, name string, v uint64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendUint(key(b, name, false), v, 10)
}

func appendBool(b []byte, name string, v bool) []byte {
	if !v {
		return b
	}
	return append(key(b, name, false), "true"...)
}

// appendMap appends m as encoding/json does: null when nil, keys sorted.
func appendMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

func appendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json writes
// it: HTML-safe (<, >, & escaped), invalid UTF-8 as U+FFFD, U+2028 and
// U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
