package nft

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A few eBPF instructions, enough for the small programs tunnels need,
// assembled by hand: vipd has no BPF compiler at run time, and these
// programs depend on the real server's address, known only at Apply.

// insn is one eBPF instruction.
type insn struct {
	op       uint8
	dst, src uint8
	off      int16
	imm      int32
}

// Instruction classes, sizes, operations and sources.
const (
	bpfLDX   = 0x01
	bpfST    = 0x02
	bpfSTX   = 0x03
	bpfALU   = 0x04
	bpfJMP   = 0x05
	bpfALU64 = 0x07

	bpfW  = 0x00
	bpfH  = 0x08
	bpfB  = 0x10
	bpfDW = 0x18
	bpfM  = 0x60 // BPF_MEM

	bpfADD  = 0x00
	bpfOR   = 0x40
	bpfAND  = 0x50
	bpfMOV  = 0xb0
	bpfEND  = 0xd0
	bpfJA   = 0x00
	bpfJEQ  = 0x10
	bpfJNE  = 0x50
	bpfCALL = 0x80
	bpfEXIT = 0x90

	bpfK    = 0x00
	bpfX    = 0x08
	bpfToBE = 0x08
)

// Registers: r0 results, r1-r5 arguments, r6-r9 kept across calls, r10
// the frame pointer.
const (
	r0 = iota
	r1
	r2
	r3
	r4
	r5
	r6
	r7
	r8
	r9
	r10
)

// Helper functions (enum bpf_func_id).
const (
	fnGetPrandomU32 = 7
	fnSkbStoreBytes = 9
	fnL3CsumReplace = 10
	fnSkbLoadBytes  = 26
	fnGetHashRecalc = 34
	fnSkbAdjustRoom = 50
	fnLWTPushEncap  = 73
)

// Return codes of LWT programs.
const (
	bpfOK       = 0
	bpfDrop     = 2
	lwtReroute  = unix.BPF_LWT_REROUTE
	lwtEncapIP  = unix.BPF_LWT_ENCAP_IP
	skbLenField = 0 // offsetof(struct __sk_buff, len)
	skbGSOSize  = 176
)

func movImm(dst uint8, imm int32) insn { return insn{op: bpfALU64 | bpfMOV | bpfK, dst: dst, imm: imm} }
func movReg(dst, src uint8) insn       { return insn{op: bpfALU64 | bpfMOV | bpfX, dst: dst, src: src} }
func addImm(dst uint8, imm int32) insn { return insn{op: bpfALU64 | bpfADD | bpfK, dst: dst, imm: imm} }
func andImm(dst uint8, imm int32) insn { return insn{op: bpfALU64 | bpfAND | bpfK, dst: dst, imm: imm} }
func orImm(dst uint8, imm int32) insn  { return insn{op: bpfALU64 | bpfOR | bpfK, dst: dst, imm: imm} }

// toBE16 converts the low 16 bits of dst to network order.
func toBE16(dst uint8) insn { return insn{op: bpfALU | bpfEND | bpfToBE, dst: dst, imm: 16} }

func ldx(size uint8, dst, src uint8, off int16) insn {
	return insn{op: bpfLDX | bpfM | size, dst: dst, src: src, off: off}
}
func stx(size uint8, dst uint8, off int16, src uint8) insn {
	return insn{op: bpfSTX | bpfM | size, dst: dst, src: src, off: off}
}
func st(size uint8, dst uint8, off int16, imm int32) insn {
	return insn{op: bpfST | bpfM | size, dst: dst, off: off, imm: imm}
}
func call(fn int32) insn { return insn{op: bpfJMP | bpfCALL, imm: fn} }
func exit() insn         { return insn{op: bpfJMP | bpfEXIT} }

// Jumps are to labels, resolved by assemble.
type jump struct {
	insn
	to string
}

type label string

func jeqImm(dst uint8, imm int32, to string) jump {
	return jump{insn{op: bpfJMP | bpfJEQ | bpfK, dst: dst, imm: imm}, to}
}
func jneImm(dst uint8, imm int32, to string) jump {
	return jump{insn{op: bpfJMP | bpfJNE | bpfK, dst: dst, imm: imm}, to}
}
func ja(to string) jump { return jump{insn{op: bpfJMP | bpfJA}, to} }

// stBytes stores b (a multiple of 4 bytes long) at dst+off, a word at a
// time, as it lies in memory.
func stBytes(dst uint8, off int16, b []byte) []any {
	var out []any
	for i := 0; i+4 <= len(b); i += 4 {
		out = append(out, st(bpfW, dst, off+int16(i), int32(binary.NativeEndian.Uint32(b[i:]))))
	}
	return out
}

// be16 is v in network order, as st stores it.
func be16(v uint16) int32 {
	return int32(binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v)))
}

// assemble lays out instructions, jumps and labels (nested lists are
// flattened) as the kernel wants them.
func assemble(prog ...any) ([]byte, error) {
	var flat []any
	var walk func(p []any)
	walk = func(p []any) {
		for _, x := range p {
			if l, ok := x.([]any); ok {
				walk(l)
			} else {
				flat = append(flat, x)
			}
		}
	}
	walk(prog)
	at := map[string]int{}
	n := 0
	for _, x := range flat {
		switch x := x.(type) {
		case label:
			at[string(x)] = n
		case insn, jump:
			n++
		default:
			return nil, fmt.Errorf("bpf: %T in a program", x)
		}
	}
	out := make([]byte, 0, 8*n)
	i := 0
	for _, x := range flat {
		var in insn
		switch x := x.(type) {
		case insn:
			in = x
		case jump:
			to, ok := at[x.to]
			if !ok {
				return nil, fmt.Errorf("bpf: no label %q", x.to)
			}
			in = x.insn
			in.off = int16(to - i - 1)
		default:
			continue
		}
		out = append(out, in.op, in.dst|in.src<<4)
		out = binary.NativeEndian.AppendUint16(out, uint16(in.off))
		out = binary.NativeEndian.AppendUint32(out, uint32(in.imm))
		i++
	}
	return out, nil
}

// progLoadAttr is the start of union bpf_attr as BPF_PROG_LOAD reads it.
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
	progName    [unix.BPF_OBJ_NAME_LEN]byte
}

// errBPF: the kernel cannot load the programs tunnels need.
var errBPF = errors.New("eBPF")

// loadProg loads a program and returns its file descriptor. When the
// verifier refuses it, its log comes back in the error.
func loadProg(typ uint32, name string, code []byte) (int, error) {
	fd, err := bpfProgLoad(typ, name, code, nil)
	if err == nil {
		return fd, nil
	}
	// Too big for the stack (see bpfLicense).
	log := make([]byte, 256<<10)
	if _, err := bpfProgLoad(typ, name, code, log); err != nil {
		if n := bytes.IndexByte(log, 0); n > 0 {
			return -1, fmt.Errorf("%w: loading program %s: %v: %s", errBPF, name, err, log[:n])
		}
	}
	return -1, fmt.Errorf("%w: loading program %s: %v", errBPF, name, err)
}

// bpfLicense is a package variable: what the kernel reads through the
// attribute's pointers must not be on a goroutine's stack, which moves
// (code is on the heap: assemble returns it).
//
// The kernel reads the license only to allow helpers it keeps for GPL
// programs; these programs call none.
var bpfLicense = []byte("GPL\x00")

func bpfProgLoad(typ uint32, name string, code, log []byte) (int, error) {
	license := bpfLicense
	attr := progLoadAttr{progType: typ, insnCnt: uint32(len(code) / 8),
		insns:   uint64(uintptr(unsafe.Pointer(&code[0]))),
		license: uint64(uintptr(unsafe.Pointer(&license[0])))}
	if len(log) > 0 {
		attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), uint64(uintptr(unsafe.Pointer(&log[0])))
	}
	copy(attr.progName[:unix.BPF_OBJ_NAME_LEN-1], name)
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	runtime.KeepAlive(log)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}
