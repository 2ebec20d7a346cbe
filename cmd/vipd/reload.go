package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/daemon"
)

// reloader reads the configuration again on SIGHUP as vipd read it at
// start: the same file and options, validated. The running
// configuration's reload_file marks the read, and its
// reload_check_config LOG gets the verdict.
func reloader(o *options, running *config.Config, log *slog.Logger) daemon.Loader {
	settings := running.Global.Reload
	return func() (*config.Config, error) {
		if settings.File != "" {
			if err := os.WriteFile(settings.File, nil, 0o644); err != nil {
				log.Warn("reload_file: cannot mark the read", "err", err)
			} else {
				defer os.Remove(settings.File)
			}
		}
		cfg, err := config.Load(o.configFile, o.configOptions())
		if err == nil {
			err = cfg.Validate()
		}
		if settings.CheckConfig {
			writeCheckLog(settings.CheckLog, cfg, err, log)
		}
		if err != nil {
			return nil, err
		}
		settings = cfg.Global.Reload
		return cfg, nil
	}
}

// writeCheckLog writes a reload's check to reload_check_config's file:
// every error and warning with its file:line, as -t prints them.
func writeCheckLog(path string, cfg *config.Config, err error, log *slog.Logger) {
	var b strings.Builder
	if err != nil {
		fmt.Fprintln(&b, err)
	} else {
		for _, w := range cfg.Warnings {
			fmt.Fprintf(&b, "warning: %v\n", w)
		}
		fmt.Fprintln(&b, "configuration OK: reloading")
	}
	if werr := os.WriteFile(path, []byte(b.String()), 0o644); werr != nil {
		log.Warn("reload_check_config: cannot write the check's log", "err", werr)
	}
}
