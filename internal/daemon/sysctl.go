package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// promoted are the interfaces vipd turned promote_secondaries on for,
// with the value to put back when it stops, as keepalived puts it back.
type promoted map[string]string

func promoteSecondariesPath(iface string) string {
	return filepath.Join("/proc/sys/net/ipv4/conf", iface, "promote_secondaries")
}

// promote turns promote_secondaries on for an interface: removing a
// virtual address then keeps the other addresses of its subnet, which
// the kernel would otherwise remove with it.
func (p promoted) promote(iface string) error {
	if _, done := p[iface]; done {
		return nil
	}
	path := promoteSecondariesPath(iface)
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("promote_secondaries on %s: %w", iface, err)
	}
	if err := os.WriteFile(path, []byte("1"), 0); err != nil {
		return fmt.Errorf("promote_secondaries on %s: %w", iface, err)
	}
	p[iface] = strings.TrimSpace(string(old))
	return nil
}

// restore puts back what promote changed; an interface gone meanwhile
// has nothing to put back.
func (p promoted) restore() error {
	var errs []string
	for iface, old := range p {
		if err := os.WriteFile(promoteSecondariesPath(iface), []byte(old), 0); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err.Error())
		}
		delete(p, iface)
	}
	if len(errs) > 0 {
		return fmt.Errorf("restoring promote_secondaries: %s", strings.Join(errs, "; "))
	}
	return nil
}
