package nft

import (
	"fmt"

	"github.com/google/nftables"
)

// dynamicEntries reads, from the table as it is now (left by an earlier
// Apply or an earlier run), the entries of the dynamic maps the new
// program will have again, by map name. Entries the packet path adds
// between this read and the batch's commit are lost: a client or DR
// connection first seen in those few milliseconds may be scheduled anew.
func dynamicEntries(conn *nftables.Conn, t *nftables.Table, svcs []*service) (map[string][]nftables.SetElement, error) {
	want := map[string]bool{}
	for _, s := range svcs {
		for _, name := range s.dynamicSets() {
			want[name] = true
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	tables, err := conn.ListTablesOfFamily(t.Family)
	if err != nil {
		return nil, fmt.Errorf("nftables: listing tables: %w", err)
	}
	found := false
	for _, x := range tables {
		found = found || x.Name == t.Name
	}
	if !found {
		return nil, nil
	}
	sets, err := conn.GetSets(t)
	if err != nil {
		return nil, fmt.Errorf("nftables: listing sets of table %s: %w", t.Name, err)
	}
	out := map[string][]nftables.SetElement{}
	for _, set := range sets {
		if !want[set.Name] {
			continue
		}
		elems, err := conn.GetSetElements(set)
		if err != nil {
			return nil, fmt.Errorf("nftables: reading map %s of table %s: %w", set.Name, t.Name, err)
		}
		out[set.Name] = elems
	}
	return out, nil
}
