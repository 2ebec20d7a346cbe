module github.com/vipd/vipd

go 1.26.8

require (
	github.com/cockroachdb/datadriven v1.0.3
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.49.0
)

require github.com/pmezard/go-difflib v1.0.0 // indirect
