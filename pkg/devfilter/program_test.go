package devfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// run interprets prog, the output of Program, on one device access the way
// the kernel would (struct bpf_cgroup_dev_ctx at r1), and checks what the
// verifier would insist on for such a program: known opcodes only, forward
// jumps inside the program, registers read only after they are written,
// an exit with r0 set to 0 or 1.
func run(prog []byte, typ, acc, major, minor uint32) (bool, error) {
	if len(prog) == 0 || len(prog)%insnSize != 0 {
		return false, fmt.Errorf("program of %d bytes", len(prog))
	}
	ctx := make([]byte, 12)
	binary.LittleEndian.PutUint32(ctx[0:], acc<<16|typ)
	binary.LittleEndian.PutUint32(ctx[4:], major)
	binary.LittleEndian.PutUint32(ctx[8:], minor)
	var reg [11]uint64
	var set [11]bool
	set[r1] = true
	n := len(prog) / insnSize
	for pc := 0; pc < n; pc++ {
		b := prog[pc*insnSize:]
		code, dst, src := b[0], b[1]&0x0f, b[1]>>4
		off := int16(binary.LittleEndian.Uint16(b[2:]))
		imm := int32(binary.LittleEndian.Uint32(b[4:]))
		if dst > 10 || src > 10 {
			return false, fmt.Errorf("pc %d: register out of range", pc)
		}
		use := func(r uint8) error {
			if !set[r] {
				return fmt.Errorf("pc %d: r%d read before it is written", pc, r)
			}
			return nil
		}
		jump := func(cond bool) error {
			if off < 0 || pc+1+int(off) >= n {
				return fmt.Errorf("pc %d: jump %+d leaves the program or goes back", pc, off)
			}
			if cond {
				pc += int(off)
			}
			return nil
		}
		var err error
		switch code {
		case clsLDX | modeMEM | sizeW:
			if src != r1 || off < 0 || int(off)+4 > len(ctx) || off%4 != 0 {
				return false, fmt.Errorf("pc %d: load outside the context", pc)
			}
			reg[dst], set[dst] = uint64(binary.LittleEndian.Uint32(ctx[off:])), true
		case clsALU | opAND | srcK:
			err = use(dst)
			reg[dst] = uint64(uint32(reg[dst]) & uint32(imm))
		case clsALU | opRSH | srcK:
			err = use(dst)
			reg[dst] = uint64(uint32(reg[dst]) >> (uint32(imm) & 31))
		case clsALU | opMOV | srcK:
			reg[dst], set[dst] = uint64(uint32(imm)), true
		case clsJMP | opJA:
			err = jump(true)
		case clsJMP | opJEQ | srcK:
			if err = use(dst); err == nil {
				err = jump(reg[dst] == uint64(int64(imm)))
			}
		case clsJMP | opJNE | srcK:
			if err = use(dst); err == nil {
				err = jump(reg[dst] != uint64(int64(imm)))
			}
		case clsJMP | opJSET | srcK:
			if err = use(dst); err == nil {
				err = jump(reg[dst]&uint64(int64(imm)) != 0)
			}
		case clsJMP | opJNE | srcX:
			if err = use(dst); err == nil {
				if err = use(src); err == nil {
					err = jump(reg[dst] != reg[src])
				}
			}
		case clsJMP | opEXIT:
			if err = use(r0); err != nil {
				return false, err
			}
			if reg[r0] > 1 {
				return false, fmt.Errorf("pc %d: exit with r0 = %d", pc, reg[r0])
			}
			return reg[r0] == 1, nil
		default:
			return false, fmt.Errorf("pc %d: unknown opcode %#x", pc, code)
		}
		if err != nil {
			return false, err
		}
	}
	return false, errors.New("ran off the end of the program")
}

// reference is the rule list's meaning, written the plain way: each
// access asked for takes the verdict of the last rule that matches the
// device and lists it (deny if none); all must be allowed, or, for a
// request of no access, any of them.
func reference(rules []Rule, typ, acc, major, minor uint32) bool {
	verdict := func(bit uint32, letter byte) bool {
		v := false
		for _, r := range rules {
			if r.Type == 'a' {
				v = r.Allow
				continue
			}
			typeOK := r.Type == 'a' || r.Type == 'b' && typ == devBlock || r.Type == 'c' && typ == devChar
			if typeOK && (r.Major < 0 || uint32(r.Major) == major) && (r.Minor < 0 || uint32(r.Minor) == minor) &&
				strings.IndexByte(r.Access, letter) >= 0 {
				v = r.Allow
			}
		}
		return v
	}
	bits := []struct {
		bit    uint32
		letter byte
	}{{accMknod, 'm'}, {accRead, 'r'}, {accWrite, 'w'}}
	if acc == 0 {
		for _, b := range bits {
			if verdict(b.bit, b.letter) {
				return true
			}
		}
		return false
	}
	if acc&^accAll != 0 {
		return false // an access this code does not know of
	}
	for _, b := range bits {
		if acc&b.bit != 0 && !verdict(b.bit, b.letter) {
			return false
		}
	}
	return true
}

// parse reads rules written as "c 1:3 rw allow; a *:* m deny".
func parse(t testing.TB, s string) []Rule {
	t.Helper()
	var rules []Rule
	for _, f := range strings.Split(s, ";") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var typ byte
		var dev, acc, verdict string
		if _, err := fmt.Sscanf(f, "%c %s %s %s", &typ, &dev, &acc, &verdict); err != nil {
			t.Fatalf("rule %q: %v", f, err)
		}
		num := func(s string) int64 {
			if s == "*" {
				return -1
			}
			var n int64
			fmt.Sscan(s, &n)
			return n
		}
		maj, min, _ := strings.Cut(dev, ":")
		if acc == "-" {
			acc = ""
		}
		rules = append(rules, Rule{Type: typ, Major: num(maj), Minor: num(min), Access: acc, Allow: verdict == "allow"})
	}
	return rules
}

// access is one request: "c 1:3 rw".
type access struct {
	typ, acc, major, minor uint32
}

func parseAccess(t testing.TB, s string) access {
	t.Helper()
	var c byte
	var a access
	var acc string
	if _, err := fmt.Sscanf(s, "%c %d:%d %s", &c, &a.major, &a.minor, &acc); err != nil {
		t.Fatalf("access %q: %v", s, err)
	}
	a.typ = map[byte]uint32{'b': devBlock, 'c': devChar}[c]
	for _, l := range acc {
		a.acc |= map[rune]uint32{'m': accMknod, 'r': accRead, 'w': accWrite}[l]
	}
	return a
}

func TestProgramVerdicts(t *testing.T) {
	const ociDefault = "a *:* rwm deny; c 1:3 rwm allow; c 1:5 rwm allow; c 1:7 rwm allow; c 5:0 rwm allow; c 1:8 rwm allow; c 1:9 rwm allow; c 136:* rwm allow; c 5:2 rwm allow"
	for _, tc := range []struct {
		rules string
		allow []string
		deny  []string
	}{
		{"", nil, []string{"c 1:3 r", "b 8:0 m", "c 1:3 -"}},
		{ociDefault, []string{"c 1:3 rw", "c 1:3 m", "c 136:4 rw", "c 1:3 -"}, []string{"c 1:4 r", "b 1:3 r", "c 2:3 r", "c 5:1 w", "c 1:4 -"}},
		{"a *:* rwm deny; c 1:3 r allow", []string{"c 1:3 r"}, []string{"c 1:3 w", "c 1:3 rw", "c 1:3 m"}},
		// O_RDWR after an allow rwm and a later deny of w only: refused.
		{"c 1:3 rwm allow; c 1:3 w deny", []string{"c 1:3 r", "c 1:3 m"}, []string{"c 1:3 w", "c 1:3 rw"}},
		// Accesses granted by separate rules add up.
		{"c 1:3 r allow; c *:* w allow", []string{"c 1:3 rw", "c 9:9 w"}, []string{"c 9:9 rw", "b 1:3 w"}},
		{"c 1:* rwm allow; c 1:5 rwm deny", []string{"c 1:3 rwm", "c 1:4294967295 r"}, []string{"c 1:5 r", "c 2:5 r"}},
		{"c *:3 rw allow", []string{"c 7:3 rw", "c 4294967295:3 r", "c 1:3 -"}, []string{"c 7:3 m", "c 7:4 r", "b 7:3 r"}},
		{"a *:* rwm allow", []string{"c 1:1 rwm", "b 8:0 rwm", "b 8:0 -"}, nil},
		{"a *:* rwm allow; b *:* w deny", []string{"b 8:0 rm", "c 8:0 w"}, []string{"b 8:0 w", "b 8:0 rw"}},
		// 'a' is every device and access, whatever the rest says (v1, runc).
		{"a *:* m allow", []string{"b 8:0 m", "c 1:1 rw", "c 1:1 -"}, nil},
		{"c *:* rwm allow; a 1:3 r deny", nil, []string{"c 1:4 w", "b 8:0 m", "c 1:3 -"}},
		// A later deny-all wipes out what came before.
		{"c 1:3 rwm allow; a *:* rwm deny; c 1:5 r allow", []string{"c 1:5 r"}, []string{"c 1:3 r", "c 1:5 w"}},
		// Numbers of 2^31 and more are compared as u32, not sign-extended.
		{"c 2147483648:4294967295 rw allow; c 4294967295:* r allow", []string{"c 2147483648:4294967295 rw", "c 4294967295:0 r"},
			[]string{"c 2147483648:4294967294 r", "c 0:4294967295 r", "c 2147483647:4294967295 r"}},
		// Empty access: no effect.
		{"c 1:3 rwm allow; c 1:3 - deny", []string{"c 1:3 rw"}, nil},
		// A request for no access: allowed when any access is.
		{"c 1:3 rwm allow; c 1:3 rw deny", []string{"c 1:3 -", "c 1:3 m"}, []string{"c 1:3 r"}},
		{"c 1:3 r allow; c 1:3 r deny", nil, []string{"c 1:3 -", "c 1:3 r"}},
	} {
		rules := parse(t, tc.rules)
		prog, err := Program(rules)
		if err != nil {
			t.Fatalf("%q: %v", tc.rules, err)
		}
		for _, want := range []struct {
			list  []string
			allow bool
		}{{tc.allow, true}, {tc.deny, false}} {
			for _, s := range want.list {
				a := parseAccess(t, s)
				got, err := run(prog, a.typ, a.acc, a.major, a.minor)
				if err != nil {
					t.Fatalf("%q: %s: %v", tc.rules, s, err)
				}
				if got != want.allow {
					t.Errorf("%q: %s: allowed %v, want %v", tc.rules, s, got, want.allow)
				}
				if ref := reference(rules, a.typ, a.acc, a.major, a.minor); ref != want.allow {
					t.Errorf("%q: %s: reference says %v, the table %v", tc.rules, s, ref, want.allow)
				}
			}
		}
	}
}

func TestProgramShape(t *testing.T) {
	// Nothing allowed: two instructions, r0 = 0 and exit.
	for _, s := range []string{"", "a *:* rwm deny", "c 1:3 rwm deny; b *:* r deny", "c 1:3 rwm allow; a *:* rwm deny"} {
		prog, err := Program(parse(t, s))
		if err != nil {
			t.Fatal(err)
		}
		want := []byte{clsALU | opMOV | srcK, r0, 0, 0, 0, 0, 0, 0, clsJMP | opEXIT, 0, 0, 0, 0, 0, 0, 0}
		if string(prog) != string(want) {
			t.Errorf("%q: program %x, want %x", s, prog, want)
		}
	}
	// One rule: the prologue, its test in both halves, the two exits.
	prog, err := Program(parse(t, "a *:* rwm deny; c 1:3 r allow"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"61 12 0000 00000000", // r2 = *(u32 *)(r1 + 0)
		"54 02 0000 ffff0000", // w2 &= 0xffff
		"61 13 0000 00000000", // r3 = *(u32 *)(r1 + 0)
		"74 03 0000 10000000", // w3 >>= 16
		"61 14 0400 00000000", // r4 = *(u32 *)(r1 + 4)
		"61 15 0800 00000000", // r5 = *(u32 *)(r1 + 8)
		"15 03 0600 00000000", // if r3 == 0 goto +6 (no access asked)
		"55 02 0400 02000000", // if r2 != char goto next
		"55 04 0300 01000000", // if r4 != 1 goto next
		"55 05 0200 03000000", // if r5 != 3 goto next
		"54 03 0000 fdffffff", // w3 &= ~read
		"15 03 0800 00000000", // if r3 == 0 goto allow
		"05 00 0500 00000000", // goto deny
		"b4 03 0000 07000000", // w3 = rwm
		"55 02 0300 02000000", // if r2 != char goto +3
		"55 04 0200 01000000",
		"55 05 0100 03000000",
		"45 03 0200 02000000", // if r3 & read goto allow
		"b4 00 0000 00000000", // deny: w0 = 0
		"95 00 0000 00000000", // exit
		"b4 00 0000 01000000", // allow: w0 = 1
		"95 00 0000 00000000",
	}
	var got []string
	for i := 0; i < len(prog); i += insnSize {
		b := prog[i:]
		got = append(got, fmt.Sprintf("%02x %02x %04x %08x", b[0], b[1], b[2:4], b[4:8]))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("program:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestProgramRefuses(t *testing.T) {
	for _, tc := range []struct {
		rule Rule
		msg  string
	}{
		{Rule{Type: 'u', Major: 1, Minor: 1, Access: "r"}, `device rule 1: type 'u' is not a, b or c`},
		{Rule{Type: 0, Major: 1, Minor: 1, Access: "r"}, `device rule 1: type '\x00' is not a, b or c`},
		{Rule{Type: 'c', Major: -2, Minor: 1, Access: "r"}, `device rule 1: major -2 is out of range`},
		{Rule{Type: 'c', Major: 1, Minor: math.MaxUint32 + 1, Access: "r"}, `device rule 1: minor 4294967296 is out of range`},
		{Rule{Type: 'c', Major: 1, Minor: 1, Access: "rx"}, `device rule 1: access "rx": 'x' is not r, w or m`},
	} {
		_, err := Program([]Rule{{Type: 'a', Major: -1, Minor: -1, Access: "rwm"}, tc.rule})
		var re *RuleError
		if err == nil || err.Error() != tc.msg || !errors.As(err, &re) || re.Index != 1 {
			t.Errorf("%v: error %v, want %q at index 1", tc.rule, err, tc.msg)
		}
	}
}

func TestAllowsAll(t *testing.T) {
	for s, want := range map[string]bool{
		"a *:* rwm allow":                                true,
		"c 1:3 r deny; a *:* rwm allow":                  true,
		"a *:* rwm deny; a *:* rwm allow":                true,
		"b *:* rwm allow; c *:* rwm allow":               true,
		"a *:* rw allow; a *:* m allow; c 1:3 rwm allow": true,
		"":                                false,
		"a *:* rwm allow; a *:* rwm deny": false,
		"a *:* rwm allow; c 1:3 w deny":   false,
		"a 1:3 r allow":                   true,
		"b *:* rwm allow":                 false,
		"c *:0 rwm allow; c *:* rw allow; b *:* rwm allow": false,
	} {
		checked, err := check(parse(t, s))
		if err != nil {
			t.Fatal(err)
		}
		if got := allowsAll(prune(checked)); got != want {
			t.Errorf("%q: allowsAll %v, want %v", s, got, want)
		}
	}
}

// randomRules draws rule lists over a few numbers, so that rules overlap.
func randomRules(r *rand.Rand) []Rule {
	nums := []int64{-1, -1, 0, 1, 3, 5, math.MaxInt32 + 1, math.MaxUint32}
	rules := make([]Rule, r.IntN(8))
	for i := range rules {
		var acc []byte
		for _, l := range "rwm" {
			if r.IntN(2) == 0 {
				acc = append(acc, byte(l))
			}
		}
		rules[i] = Rule{Type: "abc"[r.IntN(3)], Major: nums[r.IntN(len(nums))], Minor: nums[r.IntN(len(nums))], Access: string(acc), Allow: r.IntN(2) == 0}
	}
	return rules
}

// compare runs prog and the reference over every combination of the
// numbers the rules use (and others), every access and both types.
func compare(t *testing.T, rules []Rule, prog []byte) {
	t.Helper()
	nums := []uint32{0, 1, 2, 3, 5, math.MaxInt32, math.MaxInt32 + 1, math.MaxUint32}
	for _, r := range rules {
		for _, n := range []int64{r.Major, r.Minor} {
			if n >= 0 && !slices.Contains(nums, uint32(n)) {
				nums = append(nums, uint32(n))
			}
		}
	}
	for _, typ := range []uint32{devBlock, devChar, 0, 4} {
		for acc := uint32(0); acc <= accAll+8; acc++ {
			for _, maj := range nums {
				for _, min := range nums {
					got, err := run(prog, typ, acc, maj, min)
					if err != nil {
						t.Fatalf("%v: %v", rules, err)
					}
					if want := reference(rules, typ, acc, maj, min); got != want {
						t.Fatalf("%v: type %d access %d %d:%d: program says %v, reference %v", rules, typ, acc, maj, min, got, want)
					}
				}
			}
		}
	}
	checked, _ := check(rules)
	if allowsAll(prune(checked)) {
		for _, typ := range []uint32{devBlock, devChar} {
			for acc := uint32(0); acc <= accAll; acc++ {
				for _, n := range nums {
					if !reference(rules, typ, acc, n, n) {
						t.Fatalf("%v: allowsAll, but type %d access %d %d:%d is denied", rules, typ, acc, n, n)
					}
				}
			}
		}
	}
}

func TestProgramMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		rules := randomRules(r)
		prog, err := Program(rules)
		if err != nil {
			t.Fatalf("%v: %v", rules, err)
		}
		compare(t, rules, prog)
	}
}

// FuzzProgram: go test ./pkg/devfilter -fuzz FuzzProgram. Each 4 bytes of
// input make a rule.
func FuzzProgram(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0xff})
	f.Add([]byte{2, 1, 3, 0x0f, 2, 1, 3, 0x04})
	f.Fuzz(func(t *testing.T, data []byte) {
		nums := []int64{-1, 0, 1, 3, math.MaxInt32 + 1, math.MaxUint32, 7, 8}
		var rules []Rule
		for ; len(data) >= 4 && len(rules) < 64; data = data[4:] {
			var acc []byte
			for i, l := range "rwm" {
				if data[3]&(1<<i) != 0 {
					acc = append(acc, byte(l))
				}
			}
			rules = append(rules, Rule{Type: "abc"[int(data[0])%3], Major: nums[data[1]%8], Minor: nums[data[2]%8], Access: string(acc), Allow: data[3]&8 != 0})
		}
		prog, err := Program(rules)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, rules, prog)
	})
}
