package node

import (
	"log/slog"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/engine/ssh"
)

// withSSH adds the ssh secrets engine (an SSH certificate authority).
func withSSH(_ *config.Config, cc *core.Config, _ *slog.Logger) error {
	cc.Engines["ssh"] = ssh.Factory
	return nil
}
