// Package firewall keeps a master that is not in accept mode from taking
// traffic addressed to its virtual addresses (RFC 5798 §6.4.3: only the
// address owner, or a router with Accept_Mode, accepts it). It owns one
// nftables table of the inet family: a set of blocked addresses per
// family, and rules that drop packets to or from them, neighbour
// discovery excepted, so the master still answers for the addresses on
// the link.
package firewall

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// DefaultTable is the table vipd uses unless told otherwise.
const DefaultTable = "vipd"

// priority runs our chains just before the filter table's, so that a
// host firewall accepting everything cannot let the traffic through.
const priority = nftables.ChainPriority(-1)

// Link-local addresses are matched without their interface (keepalived
// pairs them with it): one link-local virtual address on two interfaces
// of one router is not a case worth a second set.

// Table is the open nftables table. Its methods are not safe for
// concurrent use; the daemon's event loop owns it.
type Table struct {
	conn       *nftables.Conn
	table      *nftables.Table
	set4, set6 *nftables.Set
	// blocked counts the holders of each address, so that two instances
	// with one address keep it blocked until both have let go.
	blocked map[netip.Addr]int
}

// Open creates the table afresh. A table of that name left by an earlier
// run (killed before it could delete it) is replaced, in the same
// transaction, so no stale block survives a restart.
func Open(name string) (*Table, error) {
	conn, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	t := &Table{
		conn:    conn,
		table:   &nftables.Table{Name: name, Family: nftables.TableFamilyINet},
		blocked: map[netip.Addr]int{},
	}
	conn.AddTable(t.table) // so that the delete below cannot fail
	conn.DelTable(t.table)
	conn.AddTable(t.table)
	t.set4 = &nftables.Set{Table: t.table, Name: "vips4", KeyType: nftables.TypeIPAddr}
	t.set6 = &nftables.Set{Table: t.table, Name: "vips6", KeyType: nftables.TypeIP6Addr}
	for _, s := range []*nftables.Set{t.set4, t.set6} {
		if err := conn.AddSet(s, nil); err != nil {
			return nil, fmt.Errorf("nftables table %s: %w", name, err)
		}
	}
	for _, c := range []struct {
		name string
		hook *nftables.ChainHook
		addr addrField
	}{
		{"in", nftables.ChainHookInput, destination},
		{"out", nftables.ChainHookOutput, source},
	} {
		chain := conn.AddChain(&nftables.Chain{
			Name:     c.name,
			Table:    t.table,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  c.hook,
			Priority: nftables.ChainPriorityRef(priority),
		})
		for _, r := range [][]expr.Any{
			drop(unix.NFPROTO_IPV4, c.addr.off4, 4, t.set4),
			acceptNeighbourDiscovery(),
			drop(unix.NFPROTO_IPV6, c.addr.off6, 16, t.set6),
		} {
			conn.AddRule(&nftables.Rule{Table: t.table, Chain: chain, Exprs: r})
		}
	}
	if err := conn.Flush(); err != nil {
		return nil, fmt.Errorf("nftables: creating table inet %s: %w", name, err)
	}
	return t, nil
}

// Name is the table's name.
func (t *Table) Name() string { return t.table.Name }

// Block drops traffic to and from the addresses (one more holder each).
func (t *Table) Block(addrs ...netip.Addr) error {
	var add []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if t.blocked[a] == 0 {
			add = append(add, a)
		}
		t.blocked[a]++
	}
	return t.change(add, t.conn.SetAddElements)
}

// Unblock lets the addresses' traffic through again once their last
// holder has let go.
func (t *Table) Unblock(addrs ...netip.Addr) error {
	var del []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		switch t.blocked[a] {
		case 0:
			continue
		case 1:
			del = append(del, a)
			delete(t.blocked, a)
		default:
			t.blocked[a]--
		}
	}
	return t.change(del, t.conn.SetDeleteElements)
}

func (t *Table) change(addrs []netip.Addr, op func(*nftables.Set, []nftables.SetElement) error) error {
	if len(addrs) == 0 {
		return nil
	}
	var v4, v6 []nftables.SetElement
	for _, a := range addrs {
		if a.Is4() {
			v4 = append(v4, nftables.SetElement{Key: a.AsSlice()})
		} else {
			v6 = append(v6, nftables.SetElement{Key: a.AsSlice()})
		}
	}
	var errs []error
	if len(v4) > 0 {
		errs = append(errs, op(t.set4, v4))
	}
	if len(v6) > 0 {
		errs = append(errs, op(t.set6, v6))
	}
	errs = append(errs, t.conn.Flush())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nftables table inet %s: %w", t.table.Name, err)
	}
	return nil
}

// Close deletes the table: nothing stays blocked after vipd.
func (t *Table) Close() error {
	t.conn.DelTable(t.table)
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("nftables: deleting table inet %s: %w", t.table.Name, err)
	}
	return nil
}

// Remove deletes the table if a run that needed it left it behind, and
// says whether there was one. A host without it (or without nftables)
// is fine.
func Remove(name string) (removed bool, err error) {
	conn, err := nftables.New()
	if err != nil {
		return false, fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
	if _, err := conn.ListTableOfFamily(name, t.Family); err != nil {
		return false, nil
	}
	conn.DelTable(t)
	if err := conn.Flush(); err != nil {
		return false, fmt.Errorf("nftables: deleting table inet %s: %w", name, err)
	}
	return true, nil
}

// addrField is where an address sits in the IPv4 and IPv6 headers.
type addrField struct{ off4, off6 uint32 }

var (
	source      = addrField{off4: 12, off6: 8}
	destination = addrField{off4: 16, off6: 24}
)

// drop is "ip {s,d}addr @vips4 counter drop" or its IPv6 twin.
func drop(family byte, off, size uint32, set *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{family}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// acceptNeighbourDiscovery is "meta l4proto ipv6-icmp icmpv6 type
// nd-neighbor-solicit-nd-neighbor-advert accept": a blocked IPv6 address
// must still be resolvable, or nobody could route through the master.
func acceptNeighbourDiscovery() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: []byte{135}, ToData: []byte{136}},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}
