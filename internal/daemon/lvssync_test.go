package daemon

import (
	"testing"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/lvs/syncd"
)

// The config refuses a maxlen the sync daemon could not use.
func TestLVSSyncMinLen(t *testing.T) {
	if config.MinLVSSyncLen != syncd.MinMaxLen {
		t.Errorf("config takes maxlen from %d, the sync daemon needs %d", config.MinLVSSyncLen, syncd.MinMaxLen)
	}
}
