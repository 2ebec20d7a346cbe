package nft

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/netlab"
)

// decapProg is a tc ingress program that does for a lab real server
// what its ipip, ip6tnl, gre and fou devices would (the test kernel has
// none): it strips the tunnel headers from packets in a tunnel (GUE on
// guePort). Packets to the virtual address outside a tunnel are
// dropped, so that nothing reaches the real server as DR would.
func decapProg(vip netip.Addr, guePort uint16) ([]byte, error) {
	load := func(off, n int32) []any {
		return []any{movReg(r1, r6), movImm(r2, off), movReg(r3, r10), addImm(r3, -16), movImm(r4, n),
			call(fnSkbLoadBytes), jneImm(r0, 0, "pass")}
	}
	strip := func(name string, n int32) []any {
		return []any{label(name), movReg(r1, r6), movImm(r2, -n), movImm(r3, 1 /* BPF_ADJ_ROOM_MAC */), movImm(r4, 0),
			call(fnSkbAdjustRoom), jneImm(r0, 0, "shot"), movImm(r0, 0), exit()}
	}
	word := func(b []byte) int32 { return int32(binary.NativeEndian.Uint32(b)) }
	// 32-bit comparisons: a 64-bit one would sign-extend imm.
	const jmp32 = 0x06
	jeq32 := func(dst uint8, imm int32, to string) jump {
		return jump{insn{op: jmp32 | bpfJEQ | bpfK, dst: dst, imm: imm}, to}
	}
	jne32 := func(dst uint8, imm int32, to string) jump {
		return jump{insn{op: jmp32 | bpfJNE | bpfK, dst: dst, imm: imm}, to}
	}
	const eth = 14
	var p []any
	p = append(p, movReg(r6, r1), load(12, 2), ldx(bpfH, r0, r10, -16))
	if vip.Is4() {
		p = append(p, jneImm(r0, be16(unix.ETH_P_IP), "pass"),
			load(eth+9, 1), ldx(bpfB, r7, r10, -16),
			jeqImm(r7, unix.IPPROTO_IPIP, "ipip"),
			jneImm(r7, unix.IPPROTO_GRE, "notgre"),
			load(eth+20, 4), ldx(bpfW, r0, r10, -16), jeq32(r0, word([]byte{0, 0, 8, 0}), "gre"),
			label("notgre"),
			jneImm(r7, unix.IPPROTO_UDP, "plain"),
			load(eth+20+2, 2), ldx(bpfH, r0, r10, -16), jeqImm(r0, be16(guePort), "gue"),
			label("plain"),
			load(eth+16, 4), ldx(bpfW, r0, r10, -16), jeq32(r0, word(vip.AsSlice()), "shot"),
			ja("pass"),
			strip("ipip", 20), strip("gre", 24), strip("gue", 32))
	} else {
		a := vip.AsSlice()
		p = append(p, jneImm(r0, be16(unix.ETH_P_IPV6), "pass"),
			load(eth+6, 1), ldx(bpfB, r7, r10, -16),
			jeqImm(r7, unix.IPPROTO_IPV6, "ipip"),
			jneImm(r7, unix.IPPROTO_GRE, "plain"),
			load(eth+40, 4), ldx(bpfW, r0, r10, -16), jeq32(r0, word([]byte{0, 0, 0x86, 0xdd}), "gre"),
			label("plain"),
			load(eth+24, 16))
		for i := 0; i < 16; i += 4 {
			p = append(p, ldx(bpfW, r0, r10, int16(-16+i)), jne32(r0, word(a[i:]), "pass"))
		}
		p = append(p, ja("shot"), strip("ipip", 40), strip("gre", 44))
	}
	// TC_ACT_UNSPEC: on to the next filter (the other family's).
	p = append(p, label("pass"), movImm(r0, -1), exit(), label("shot"), movImm(r0, 2 /* TC_ACT_SHOT */), exit())
	return assemble(p...)
}

// decapsulate attaches decapProg to the host's eth0, for both families
// (a filter each).
func decapsulate(h *netlab.Host, vip, vip6 netip.Addr, guePort uint16) error {
	for i, a := range []netip.Addr{vip, vip6} {
		if err := decapsulateFamily(h, a, guePort, uint16(i+1)); err != nil {
			return err
		}
	}
	return nil
}

func decapsulateFamily(h *netlab.Host, vip netip.Addr, guePort, prio uint16) error {
	code, err := decapProg(vip, guePort)
	if err != nil {
		return err
	}
	fd, err := loadProg(unix.BPF_PROG_TYPE_SCHED_CLS, "vfnf_decap", code)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return h.Do(func() error {
		eth, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		q := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: eth.Attrs().Index,
			Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
		if err := netlink.QdiscReplace(q); err != nil {
			return fmt.Errorf("clsact: %w", err)
		}
		f := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: eth.Attrs().Index,
			Parent: netlink.HANDLE_MIN_INGRESS, Handle: netlink.MakeHandle(0, prio), Protocol: unix.ETH_P_ALL, Priority: prio},
			Fd: fd, Name: "vfnf_decap", DirectAction: true}
		if err := netlink.FilterReplace(f); err != nil {
			return fmt.Errorf("tc filter: %w", err)
		}
		return nil
	})
}
