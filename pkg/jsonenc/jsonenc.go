// Package jsonenc appends JSON values the way encoding/json writes them,
// without reflection: for the few documents oci-run writes on every
// container start (state.json, the sync messages), where encoding/json's
// first use of a type in a fresh process costs 0.1-0.2 ms of building its
// encoder. Callers test their output byte for byte against encoding/json.
package jsonenc

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

// Key appends a member name and its colon, after a comma unless first.
func Key(b []byte, name string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = String(b, name)
	return append(b, ':')
}

// Int and Uint append a member that encoding/json's omitempty leaves out
// when zero.
func Int(b []byte, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendInt(Key(b, name, false), v, 10)
}

func Uint(b []byte, name string, v uint64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendUint(Key(b, name, false), v, 10)
}

// Bool appends a member that omitempty leaves out when false.
func Bool(b []byte, name string, v bool) []byte {
	if !v {
		return b
	}
	return append(Key(b, name, false), "true"...)
}

// OmitString appends a string member that omitempty leaves out when empty.
func OmitString(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return String(Key(b, name, false), v)
}

// Map appends m as encoding/json does: null when nil, keys sorted.
func Map(b []byte, m map[string]string) []byte {
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
		b = String(b, k)
		b = append(b, ':')
		b = String(b, m[k])
	}
	return append(b, '}')
}

const hex = "0123456789abcdef"

// String appends s as a JSON string the way encoding/json writes
// it: HTML-safe (<, >, & escaped), invalid UTF-8 as U+FFFD, U+2028 and
// U+2029 escaped.
func String(b []byte, s string) []byte {
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
