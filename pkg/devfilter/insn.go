package devfilter

import (
	"fmt"
	"math"
)

// Opcodes of the few eBPF instructions the device program needs
// (include/uapi/linux/bpf_common.h, bpf.h): class | operation | source.
const (
	clsLDX   = 0x01
	clsALU   = 0x04 // 32-bit ALU: the upper half of the register is zeroed
	clsJMP   = 0x05 // 64-bit comparisons
	modeMEM  = 0x60
	sizeW    = 0x00
	opAND    = 0x50
	opRSH    = 0x70
	opMOV    = 0xb0
	opJA     = 0x00
	opJEQ    = 0x10
	opJSET   = 0x40
	opJNE    = 0x50
	opEXIT   = 0x90
	srcK     = 0x00 // operand is the immediate
	srcX     = 0x08 // operand is the source register
	insnSize = 8
)

// insn is struct bpf_insn before encoding; target, when not noLabel, is the
// label a jump goes to (off is computed when the program is assembled).
type insn struct {
	code     uint8
	dst, src uint8
	off      int16
	imm      int32
	target   int
}

const noLabel = -1

// asm collects instructions and forward jumps to labels.
type asm struct {
	insns  []insn
	labels []int // label -> index of the instruction it is bound to, -1 unbound
}

func (a *asm) emit(i insn) { a.insns = append(a.insns, i) }

func (a *asm) newLabel() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

func (a *asm) bind(l int) { a.labels[l] = len(a.insns) }

// ldxW: dst = *(u32 *)(src + off), zero-extended.
func (a *asm) ldxW(dst, src uint8, off int16) {
	a.emit(insn{code: clsLDX | modeMEM | sizeW, dst: dst, src: src, off: off, target: noLabel})
}

func (a *asm) alu32Imm(op, dst uint8, imm int32) {
	a.emit(insn{code: clsALU | op | srcK, dst: dst, imm: imm, target: noLabel})
}

// jmpImm: if dst <op> imm (sign-extended to 64 bits) goto l.
func (a *asm) jmpImm(op, dst uint8, imm int32, l int) {
	a.emit(insn{code: clsJMP | op | srcK, dst: dst, imm: imm, target: l})
}

// jmpReg: if dst <op> src goto l.
func (a *asm) jmpReg(op, dst, src uint8, l int) {
	a.emit(insn{code: clsJMP | op | srcX, dst: dst, src: src, target: l})
}

func (a *asm) ja(l int) { a.emit(insn{code: clsJMP | opJA, target: l}) }

func (a *asm) exit() { a.emit(insn{code: clsJMP | opEXIT, target: noLabel}) }

// assemble resolves the jumps and encodes the program as the kernel reads
// it (struct bpf_insn: code, dst_reg:4 | src_reg:4, s16 off, s32 imm; the
// bit-field order is that of little-endian machines, the only ones this
// runtime is built for).
func (a *asm) assemble() ([]byte, error) {
	out := make([]byte, 0, len(a.insns)*insnSize)
	for i, in := range a.insns {
		if in.target != noLabel {
			to := a.labels[in.target]
			if to < 0 {
				return nil, fmt.Errorf("instruction %d: jump to an unbound label", i)
			}
			d := to - (i + 1)
			if d < 0 || d > math.MaxInt16 {
				return nil, fmt.Errorf("instruction %d: jump of %d out of range (too many rules)", i, d)
			}
			in.off = int16(d)
		}
		out = append(out, in.code, in.dst&0x0f|in.src<<4, byte(in.off), byte(in.off>>8),
			byte(in.imm), byte(in.imm>>8), byte(in.imm>>16), byte(in.imm>>24))
	}
	return out, nil
}
