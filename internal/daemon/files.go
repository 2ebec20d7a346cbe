package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/track"
)

// trackedFiles are the track_file definitions some instance or
// FILE_CHECK tracks.
func trackedFiles(cfg *config.Config) []*config.TrackFile {
	var out []*config.TrackFile
	for _, f := range cfg.TrackFiles {
		if cfg.TracksFile(f.Name) {
			out = append(out, f)
		}
	}
	return out
}

// initFiles writes the init_file values: to a file that does not exist,
// or with overwrite to any regular file, as keepalived does at start.
func initFiles(files []*config.TrackFile) error {
	for _, f := range files {
		if !f.Init {
			continue
		}
		st, err := os.Stat(f.Path)
		switch {
		case err == nil && !f.Overwrite:
			continue
		case err == nil && !st.Mode().IsRegular():
			return fmt.Errorf("track_file %s: cannot initialise %s: not a regular file", f.Name, f.Path)
		}
		if err := os.WriteFile(f.Path, []byte(strconv.Itoa(f.InitValue)+"\n"), 0o644); err != nil {
			return fmt.Errorf("track_file %s: init_file: %w", f.Name, err)
		}
	}
	return nil
}

// watchFiles starts watching the tracked files; nil without any.
func (d *Daemon) watchFiles() (*track.FileWatch, error) {
	if len(d.files) == 0 {
		return nil, nil
	}
	paths := make([]string, len(d.files))
	for i, f := range d.files {
		paths[i] = f.Path
	}
	return track.WatchFiles(paths)
}

// readFile reads a tracked file's value; a value out of range keeps the
// last one, as keepalived keeps it.
func (d *Daemon) readFile(f *config.TrackFile) {
	v, err := track.FileValue(f.Path)
	if err != nil {
		d.log.Warn(fmt.Sprintf("track_file %s: %v - ignoring", f.Name, err))
		return
	}
	d.fileValues[f.Name] = v
}

// fileChanged rereads a changed file and follows its value into every
// instance tracking it.
func (d *Daemon) fileChanged(c track.FileChange) {
	for _, f := range d.files {
		if filepath.Clean(f.Path) != c.Path {
			continue
		}
		was := d.fileValues[f.Name]
		d.readFile(f)
		if d.fileValues[f.Name] == was {
			continue
		}
		d.log.Info(fmt.Sprintf("track_file %s (%s) now holds %d", f.Name, f.Path, d.fileValues[f.Name]))
		for _, in := range d.instances {
			if in.cfg.TracksFile(f.Name) {
				d.applyTracking(in)
			}
		}
		if d.director != nil {
			d.director.FileChanged(f.Name, d.fileValues[f.Name])
		}
	}
}

// fileEffect is what a tracked file's value does to an instance, as
// keepalived 2.2.7 reckons it: without a weight, FAULT while the value is
// not 0 (0 with reverse); with one, value × weight (negated by reverse)
// is added to the priority, held to -254..253, and -254 means FAULT.
func fileEffect(t config.Tracked, value int64) (fault bool, adjust int) {
	if t.Weight == 0 {
		return (value != 0) != t.Reverse, 0
	}
	v := value * int64(t.Weight)
	if t.Reverse {
		v = -v
	}
	v = max(-254, min(253, v))
	if v == -254 {
		return true, 0
	}
	return false, int(v)
}
