package vrrp

// State is the protocol state of an instance or a sync group.
type State uint8

// States, named as keepalived logs them.
const (
	Init State = iota
	Backup
	Master
	Fault
	// Stop is reached when the instance has been stopped and holds nothing.
	Stop
)

func (s State) String() string {
	switch s {
	case Init:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	case Fault:
		return "FAULT"
	case Stop:
		return "STOP"
	}
	return "UNKNOWN"
}
