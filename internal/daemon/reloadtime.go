package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// parseReloadTime reads reload_time_file's first line as keepalived
// takes it: exactly "HH:MM:SS", "YY-MM-DD HH:MM:SS" or
// "YYYY-MM-DD HH:MM:SS", optionally ending in Z for UTC (else local
// time). A time with no date is its next coming after now (daily).
func parseReloadTime(line string, now time.Time) (at time.Time, daily bool, err error) {
	loc := now.Location()
	if s, ok := strings.CutSuffix(line, "Z"); ok {
		line, loc = s, time.UTC
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "06-01-02 15:04:05"} {
		if len(line) == len(layout) {
			if at, err = time.ParseInLocation(layout, line, loc); err == nil {
				return at, false, nil
			}
		}
	}
	if len(line) != len("15:04:05") {
		return time.Time{}, false, fmt.Errorf("%q is not HH:MM:SS, YY-MM-DD HH:MM:SS or YYYY-MM-DD HH:MM:SS", line)
	}
	t, err := time.ParseInLocation("15:04:05", line, loc)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%q is not HH:MM:SS, YY-MM-DD HH:MM:SS or YYYY-MM-DD HH:MM:SS", line)
	}
	n := now.In(loc)
	at = time.Date(n.Year(), n.Month(), n.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc)
	if !at.After(now) {
		at = at.AddDate(0, 0, 1)
	}
	return at, true, nil
}

// reloadTimePoll is how often reload_time_file is looked at: a
// scheduled reload comes within it of its time.
const reloadTimePoll = 250 * time.Millisecond

// watchReloadTime follows reload_time_file until stop closes: a file
// made or changed schedules a reload at its time (one in the past, none),
// a file removed cancels it. At the time it sends on the returned
// channel; the file is removed first unless repeat, which with a time
// of day reloads at it every day.
func watchReloadTime(path string, repeat bool, log *slog.Logger, stop <-chan struct{}) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		var seen os.FileInfo
		var at time.Time // zero: no reload scheduled
		daily := false
		tick := time.NewTicker(reloadTimePoll)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			fi, err := os.Stat(path)
			switch {
			case err != nil:
				if seen != nil && !at.IsZero() {
					log.Info("reload_time_file removed: the scheduled reload is cancelled", "file", path)
				}
				seen, at = nil, time.Time{}
			case seen == nil || !fi.ModTime().Equal(seen.ModTime()) || fi.Size() != seen.Size():
				seen = fi
				at, daily, err = readReloadTime(path)
				switch {
				case err != nil:
					log.Error("reload_time_file: no reload scheduled", "file", path, "err", err)
				case !at.After(time.Now()):
					log.Info("reload_time_file: its time has passed, no reload scheduled", "file", path, "time", at.String())
					at = time.Time{}
				default:
					log.Info("Reload scheduled", "file", path, "time", at.String())
				}
			}
			if at.IsZero() || time.Now().Before(at) {
				continue
			}
			if repeat && daily {
				at = at.AddDate(0, 0, 1)
			} else {
				at = time.Time{}
			}
			if !repeat {
				if err := os.Remove(path); err != nil {
					log.Warn("reload_time_file: cannot remove it", "err", err)
				}
			}
			select {
			case out <- struct{}{}:
			default: // one is pending already
			}
		}
	}()
	return out
}

func readReloadTime(path string) (time.Time, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return time.Time{}, false, errors.New("the file is empty")
	}
	return parseReloadTime(sc.Text(), time.Now())
}
