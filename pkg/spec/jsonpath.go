package spec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The decoder's errors name a field without array indices
// ("linux.namespaces.type"), which does not say which entry is wrong. The
// walkers here read the raw JSON again to recover the full path
// ("linux.namespaces[2].type").

// frame is one level of nesting while walking JSON tokens.
type frame struct {
	array bool
	index int    // next element's index (arrays)
	key   string // key of the value being read (objects)
	// keyNext: the next string token of an object is a key.
	keyNext bool
}

// jsonWalker turns a token stream into the path of each value.
type jsonWalker struct {
	dec   *json.Decoder
	stack []frame
}

func newJSONWalker(b []byte) *jsonWalker {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return &jsonWalker{dec: dec}
}

// path renders the location of the value about to be read.
func (w *jsonWalker) path() string {
	p := ""
	for _, f := range w.stack {
		if f.array {
			p += "[" + strconv.Itoa(f.index) + "]"
			continue
		}
		p = joinKey(p, f.key)
	}
	return p
}

// next reads one token. It returns the path of the value the token starts
// (empty for keys and closing delimiters), whether it starts a value, and
// whether the token was an object key.
func (w *jsonWalker) next() (tok json.Token, path string, value bool, err error) {
	tok, err = w.dec.Token()
	if err != nil {
		return nil, "", false, err
	}
	if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
		w.stack = w.stack[:len(w.stack)-1]
		w.endValue()
		return tok, "", false, nil
	}
	if n := len(w.stack); n > 0 && !w.stack[n-1].array && w.stack[n-1].keyNext {
		w.stack[n-1].key, w.stack[n-1].keyNext = tok.(string), false
		return tok, "", false, nil
	}
	path = w.path()
	if d, ok := tok.(json.Delim); ok {
		w.stack = append(w.stack, frame{array: d == '[', keyNext: d == '{'})
		return tok, path, true, nil
	}
	w.endValue()
	return tok, path, true, nil
}

// endValue moves past a complete value inside its container.
func (w *jsonWalker) endValue() {
	if n := len(w.stack); n > 0 {
		if w.stack[n-1].array {
			w.stack[n-1].index++
		} else {
			w.stack[n-1].keyNext = true
		}
	}
}

// pathAtOffset returns the path of the value the decoder was reading when
// it reported an error at offset off: the decoder reports scalars just
// after their last byte and objects and arrays just after their opening
// delimiter, which is where the token reader stands after that token.
func pathAtOffset(b []byte, off int64) (string, bool) {
	w := newJSONWalker(b)
	for {
		_, path, value, err := w.next()
		if err != nil {
			return "", false
		}
		if value && w.dec.InputOffset() == off {
			return path, true
		}
		if w.dec.InputOffset() > off {
			return "", false
		}
	}
}

// UnknownFields lists, by JSON path, the object keys of a configuration
// that no field of the runtime-spec (the version this runtime is built
// with) takes. The runtime-spec requires runtimes to ignore them, so
// create does; `oci-run check` reports them because a misspelt key is
// silently ignored too. Keys match fields case-insensitively, as
// encoding/json matches them.
func UnknownFields(b []byte) []string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	var out []string
	unknown(v, reflect.TypeOf(specs.Spec{}), "", &out)
	sort.Strings(out)
	return out
}

func unknown(v any, t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch val := v.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			for k, sub := range val {
				ft, ok := fields[strings.ToLower(k)]
				p := joinKey(path, k)
				if !ok {
					*out = append(*out, p)
					continue
				}
				unknown(sub, ft, p, out)
			}
		case reflect.Map:
			for k, sub := range val {
				unknown(sub, t.Elem(), joinKey(path, k), out)
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, sub := range val {
				unknown(sub, t.Elem(), path+"["+strconv.Itoa(i)+"]", out)
			}
		}
	}
}

// joinKey appends an object key to a path; keys that are not plain names
// (map keys such as sysctl names or annotations) are quoted.
func joinKey(path, k string) string {
	plain := k != ""
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if !plain {
		return path + "[" + strconv.Quote(k) + "]"
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

// jsonFields maps the lower-cased JSON names of a struct's fields
// (embedded structs flattened) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					out[k] = v
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[strings.ToLower(name)] = f.Type
	}
	return out
}
