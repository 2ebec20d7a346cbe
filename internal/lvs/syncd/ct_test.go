package syncd

import (
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// What the receiver asks the kernel to create reads back, through the
// parser the sender uses on the kernel's messages, as the same
// connection (with the reply tuple before NAT, which the kernel's NAT
// set-up rewrites).
func TestEntryAttrsParse(t *testing.T) {
	for _, e := range []Entry{tcp4, sctp4, udp6} {
		e.Op = OpUpdate
		if e.Proto == ProtoUDP {
			e.Timeout = 30
		}
		attrs, err := entryAttrs(&e, true, true)
		if err != nil {
			t.Fatal(err)
		}
		m := request(ctMsgNew, 0, family(e.Orig.Src.Addr()), attrs)
		f, ok, err := parseFlow(m)
		if err != nil || !ok {
			t.Fatalf("%+v: ok %v, %v", e, ok, err)
		}
		want := e
		want.Reply = Tuple{Src: e.Orig.Dst, Dst: e.Orig.Src}
		if f.Entry != want {
			t.Errorf("parsed %+v\nwant   %+v", f.Entry, want)
		}
		if !f.hasState || !f.hasTime || f.status&ipsConfirmed == 0 {
			t.Errorf("%+v: state %v, time %v, status %#x", e, f.hasState, f.hasTime, f.status)
		}
		ad, err := netlink.NewAttributeDecoder(attrs)
		if err != nil {
			t.Fatal(err)
		}
		var nat bool
		for ad.Next() {
			nat = nat || ad.Type() == ctaNatDst
		}
		if !nat {
			t.Errorf("%+v: no DNAT", e)
		}
	}
}

// A destroy event ends the connection; an ICMP entry is not ours.
func TestParseFlowKinds(t *testing.T) {
	attrs, err := entryAttrs(&tcp4, true, true)
	if err != nil {
		t.Fatal(err)
	}
	f, ok, err := parseFlow(request(ctMsgDelete, 0, unix.AF_INET, attrs))
	if err != nil || !ok || f.Op != OpDelete || f.State != 0 || f.Timeout != 0 {
		t.Errorf("delete: %+v %v %v", f, ok, err)
	}
	icmp := tcp4
	icmp.Proto = 1
	attrs, err = entryAttrs(&icmp, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := parseFlow(request(ctMsgNew, 0, unix.AF_INET, attrs)); ok || err != nil {
		t.Errorf("icmp: ok %v, %v", ok, err)
	}
	if _, _, err := parseFlow(netlink.Message{Data: []byte{2}}); err == nil {
		t.Error("short message parsed")
	}
}
