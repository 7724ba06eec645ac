package jsonenc

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"testing"
)

// String escapes as encoding/json does, byte for byte: HTML characters,
// control characters, invalid UTF-8, U+2028 and U+2029.
func TestStringSameAsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	pieces := []string{"a", "<", ">", "&", "\"", "\\", "\x00", "\b", "\f", "\n", "\r", "\t", "\x1f", "\x7f", "\u2028", "\u2029", "é", "\xff", "\xe2\x80", "😀", "/", " "}
	for i := 0; i < 5000; i++ {
		var b []byte
		for j := r.Intn(12); j > 0; j-- {
			if r.Intn(3) == 0 {
				b = append(b, byte(r.Intn(256)))
			} else {
				b = append(b, pieces[r.Intn(len(pieces))]...)
			}
		}
		want, _ := json.Marshal(string(b))
		if got := String(nil, string(b)); !bytes.Equal(got, want) {
			t.Fatalf("String(%q) = %s, encoding/json %s", b, got, want)
		}
	}
}

func TestMapSameAsEncodingJSON(t *testing.T) {
	for _, m := range []map[string]string{nil, {}, {"b": "1", "a": "<2>", "": ""}} {
		want, _ := json.Marshal(m)
		if got := Map(nil, m); !bytes.Equal(got, want) {
			t.Errorf("Map(%v) = %s, encoding/json %s", m, got, want)
		}
	}
}
