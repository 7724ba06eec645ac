// Package memtrim gives back what a runtime process holds mapped while it
// only waits: the pages of its own program.
//
// A Go program maps nearly all of its executable as it starts: its package
// initialisers and runtime touch code and tables spread over the whole
// file, and the kernel maps 64 KiB around every page fault (fault-around).
// oci-run is 5-6 MB of that, counted as its private memory because no
// other process maps the file. Once it has started a container and only
// waits for it (`run` and `exec` in the foreground, `create` until the
// init is ready), it needs a small part of that code again.
package memtrim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ELF constants (elf(5)); debug/elf would cost its package init in every
// command for these few.
const (
	ptLoad = 1
	ptPhdr = 6
	pfW    = 2
	atPhdr = 3
)

// Code unmaps the pages of this program's read-only segments (code,
// read-only data) from the process with MADV_DONTNEED: they stay in the
// page cache, and a page needed again is mapped back on its next use, for
// the cost of a page fault. Writable segments are left alone.
//
// Not while a debugger traces the process: a breakpoint it wrote is a
// private copy of a code page, which MADV_DONTNEED would discard.
func Code() error {
	if traced() {
		return nil
	}
	segs, err := readOnlySegments()
	if err != nil {
		return err
	}
	page := uintptr(os.Getpagesize())
	for _, s := range segs {
		start := s[0] &^ (page - 1)
		end := (s[1] + page - 1) &^ (page - 1)
		// The raw call: the addresses are the program's own mapping,
		// never Go memory.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED); e != 0 {
			return fmt.Errorf("madvise %#x-%#x: %w", start, end, e)
		}
	}
	return nil
}

// readOnlySegments returns the address ranges [start, end) of the
// non-writable PT_LOAD segments of the running executable, read from its
// program headers (/proc/self/exe), relocated by where the kernel put
// them (AT_PHDR), so that a position-independent build works too.
func readOnlySegments() ([][2]uintptr, error) {
	auxv, err := unix.Auxv()
	if err != nil {
		return nil, fmt.Errorf("auxiliary vector: %w", err)
	}
	var phdrAt uintptr
	for _, kv := range auxv {
		if kv[0] == atPhdr {
			phdrAt = kv[1]
		}
	}
	if phdrAt == 0 {
		return nil, errors.New("auxiliary vector: no AT_PHDR")
	}
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hdr [64]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("ELF header: %w", err)
	}
	if !bytes.Equal(hdr[:4], []byte("\x7fELF")) || hdr[4] != 2 || hdr[5] != 1 {
		return nil, errors.New("ELF header: not a little-endian 64-bit ELF file")
	}
	le := binary.LittleEndian
	phoff, phentsize, phnum := le.Uint64(hdr[32:]), int(le.Uint16(hdr[54:])), int(le.Uint16(hdr[56:]))
	if phentsize < 56 || phnum == 0 || phnum > 64 {
		return nil, fmt.Errorf("ELF header: %d program headers of %d bytes", phnum, phentsize)
	}
	tab := make([]byte, phentsize*phnum)
	if _, err := f.ReadAt(tab, int64(phoff)); err != nil {
		return nil, fmt.Errorf("ELF program headers: %w", err)
	}
	type phdr struct {
		typ, flags        uint32
		off, vaddr, memsz uint64
	}
	phdrs := make([]phdr, phnum)
	for i := range phdrs {
		b := tab[i*phentsize:]
		phdrs[i] = phdr{typ: le.Uint32(b), flags: le.Uint32(b[4:]), off: le.Uint64(b[8:]), vaddr: le.Uint64(b[16:]), memsz: le.Uint64(b[40:])}
	}
	// The load bias: where the program headers are, minus where the file
	// says they are (PT_PHDR, or within the segment that maps offset 0).
	bias, found := uintptr(0), false
	for _, p := range phdrs {
		if p.typ == ptPhdr {
			bias, found = phdrAt-uintptr(p.vaddr), true
		}
	}
	if !found {
		for _, p := range phdrs {
			if p.typ == ptLoad && p.off == 0 {
				bias, found = phdrAt-uintptr(p.vaddr+phoff), true
				break
			}
		}
	}
	if !found {
		return nil, errors.New("ELF program headers: no PT_PHDR and no segment at offset 0")
	}
	var out [][2]uintptr
	for _, p := range phdrs {
		if p.typ == ptLoad && p.flags&pfW == 0 && p.memsz > 0 {
			start := bias + uintptr(p.vaddr)
			out = append(out, [2]uintptr{start, start + uintptr(p.memsz)})
		}
	}
	return out, nil
}

// traced reports whether a tracer is attached (TracerPid in
// /proc/self/status).
func traced() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	i := bytes.Index(b, []byte("\nTracerPid:"))
	if i < 0 {
		return true
	}
	rest := bytes.TrimLeft(b[i+len("\nTracerPid:"):], " \t")
	return len(rest) == 0 || rest[0] != '0'
}
