package main

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vipd/vipd/internal/vrrplab"
)

func netInterface(name string) (*net.Interface, error) { return net.InterfaceByName(name) }

// checkNeighbour checks the MAC the client has for an address.
func checkNeighbour(t *testing.T, l *vrrplab.Lab, addr netip.Addr, want string) {
	t.Helper()
	mac, err := l.Client.Neighbour(addr)
	if err != nil {
		t.Fatal(err)
	}
	got := mac.String()
	if got != want {
		t.Errorf("client's neighbour entry for %v: %q, want %q", addr, got, want)
	}
}
