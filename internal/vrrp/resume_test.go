package vrrp

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestResume: after a reload a master goes on as master at once (no
// Master_Down_Interval of silence), a backup listens again, a new
// instance starts as any other, and a sync group resumes mastership
// only whole.
func TestResume(t *testing.T) {
	named := func(name string, vrid uint8) Config {
		return testConfig(func(c *Config) { c.Name, c.VRID = name, vrid })
	}
	for _, tc := range []struct {
		name    string
		groups  []GroupConfig
		resumed map[string]State
		want    string // each instance's state and the reason it got there
	}{
		{"master and backup", nil, map[string]State{"A": Master, "B": Backup},
			"A MASTER reload, B BACKUP reload, C BACKUP startup"},
		{"a fault cleared listens", nil, map[string]State{"A": Fault},
			"A BACKUP reload, B BACKUP startup, C BACKUP startup"},
		{"group whole", []GroupConfig{{Name: "G", Members: []string{"A", "B"}}}, map[string]State{"A": Master, "B": Master},
			"A MASTER reload, B MASTER reload, C BACKUP startup"},
		{"group half", []GroupConfig{{Name: "G", Members: []string{"A", "C"}}}, map[string]State{"A": Master, "B": Master},
			"A BACKUP reload, B MASTER reload, C BACKUP startup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRouter([]Config{named("A", 1), named("B", 2), named("C", 3)}, tc.groups)
			if err != nil {
				t.Fatal(err)
			}
			r.Resume(tc.resumed)
			var got []string
			adds := map[string]bool{}
			for _, a := range r.Start(0) {
				switch a.Kind {
				case Transition:
					got = append(got, fmt.Sprintf("%s %v %v", a.Instance.Name(), a.To, a.Reason))
				case AddAddresses:
					adds[a.Instance.Name()] = true
				}
			}
			slices.Sort(got) // groups start first
			if s := strings.Join(got, ", "); s != tc.want {
				t.Errorf("got  %s\nwant %s", s, tc.want)
			}
			for _, in := range r.Instances() {
				if adds[in.Name()] != (in.State() == Master) {
					t.Errorf("%s in %v: addresses added %v", in.Name(), in.State(), adds[in.Name()])
				}
			}
		})
	}
}
