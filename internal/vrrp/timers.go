package vrrp

import "time"

// Centisecond is the unit of the VRRPv3 advertisement interval.
const Centisecond = 10 * time.Millisecond

// DefaultDownTimerAdverts is the number of missed adverts (the "3" of
// Master_Down_Interval) unless down_timer_adverts says otherwise.
const DefaultDownTimerAdverts = 3

// SkewTime is how much longer a backup of the given priority waits than the
// best backup would, so that the highest priority takes over first.
//
// VRRPv2 (RFC 3768 §6.1): (256 - priority) / 256 seconds, whatever the
// interval. VRRPv3 (RFC 9568 §6.1): (256 - priority) × interval / 256, with
// the interval in whole centiseconds. Both are truncated to microseconds,
// as keepalived computes them, so that our timers match its to the tick.
func SkewTime(version, priority uint8, interval time.Duration) time.Duration {
	weight := 256 - int64(priority)
	if version == 2 {
		return time.Duration(weight*1_000_000/256) * time.Microsecond
	}
	cs := int64(interval / Centisecond)
	return time.Duration(weight*cs*625/16) * time.Microsecond
}

// MasterDownInterval is adverts × interval + SkewTime: how long a backup
// waits without hearing the master before it takes over.
func MasterDownInterval(version uint8, adverts int, priority uint8, interval time.Duration) time.Duration {
	return time.Duration(adverts)*interval + SkewTime(version, priority, interval)
}
