package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/inject"
	"github.com/keyward/keyward/internal/memlock"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/sensitive"
)

func init() { register(newServerCmd) }

type serverFlags struct {
	configFile   string
	dev          bool
	devPersist   string
	devListen    string
	devRootToken string
	logLevel     string
	logFormat    string
}

func newServerCmd(e *env) *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a Keyward server",
		Long: `Run a Keyward server.

With -config FILE the server reads its HCL configuration (listener, storage,
api_addr, log_level, ...) and starts sealed: initialize it once with
'keyward operator init', then unseal it after each start with
'keyward operator unseal'.

With -dev it starts unsealed on 127.0.0.1:8200 with in-memory storage, mounts
KV version 2 at secret/ and prints the root token and unseal key. Dev mode is
for trying Keyward out: nothing survives a restart unless -dev-persist DIR is
given, and then the unseal key is kept beside the data.`,
		Example: `  keyward server -dev
  keyward server -dev -dev-listen-address=127.0.0.1:8300 -dev-root-token-id=dev-only-token
  keyward server -config /etc/keyward/server.hcl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServer(ctx, e, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configFile, "config", "", "path to the server's HCL configuration file")
	fl.BoolVar(&f.dev, "dev", false, "start a dev server: unsealed, in-memory, plain HTTP on localhost")
	fl.StringVar(&f.devPersist, "dev-persist", "", "dev mode on the embedded store in this directory (implies -dev)")
	fl.StringVar(&f.devListen, "dev-listen-address", "127.0.0.1:8200", "dev server listen address")
	fl.StringVar(&f.devRootToken, "dev-root-token-id", "", "use this string as the dev root token")
	fl.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (overrides the config file)")
	fl.StringVar(&f.logFormat, "log-format", "", "text or json (overrides the config file)")
	return cmd
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug", "trace":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runServer(ctx context.Context, e *env, f *serverFlags) error {
	// The server will hold the master key and every secret it serves: no
	// core file, no /proc/PID/mem for processes of the same uid.
	if err := inject.ProtectProcess(); err != nil {
		return err
	}
	if f.devPersist != "" {
		f.dev = true
	}
	var cfg *config.Config
	switch {
	case f.dev && f.configFile != "":
		return usagef("-dev and -config cannot be used together")
	case f.dev:
		cfg = config.Default()
		// As in Vault, a dev server does not lock memory: it needs no
		// capability to try out.
		cfg.DisableMlock = true
		cfg.Listeners = []config.Listener{{Type: "tcp", Address: f.devListen, TLSDisable: true}}
		cfg.Storage = config.Storage{Type: "inmem"}
		if f.devPersist != "" {
			cfg.Storage = config.Storage{Type: "bolt", Path: f.devPersist}
		}
	case f.configFile != "":
		var err error
		cfg, err = config.Load(f.configFile, e.getenv)
		if err != nil {
			return err
		}
	default:
		return withHint(usagef("a configuration is required"), "use -config FILE, or -dev to try Keyward out")
	}
	if f.logLevel != "" {
		cfg.LogLevel = f.logLevel
	}
	if f.logFormat != "" {
		cfg.LogFormat = f.logFormat
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger := newLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	lockMemory(logger, cfg.DisableMlock)
	n, err := node.New(cfg, logger)
	if err != nil {
		return err
	}
	defer n.Close()
	if f.dev {
		if err := startDev(ctx, e, n, f); err != nil {
			return err
		}
	}
	if err := n.Start(); err != nil {
		return err
	}
	if f.dev {
		fmt.Fprintf(e.stdout, "\n  export KEYWARD_ADDR='%s'\n\nThe dev server is running. Stop it with Ctrl-C.\n", n.URLs()[0])
	} else {
		fmt.Fprintf(e.stdout, "Keyward server listening on %s (sealed until unsealed; see 'keyward status').\n", strings.Join(n.URLs(), ", "))
	}
	err = n.Run(ctx)
	logger.Info("shut down")
	return err
}

// lockMemory locks the server's memory so no secret reaches swap, unless
// disable_mlock says not to. Not permitted, the server still starts (as
// Vault's does not: most container runtimes and unprivileged users cannot
// lock memory, and a refused start teaches them to disable the check
// rather than to grant it) and says loudly what is missing.
func lockMemory(logger *slog.Logger, disabled bool) {
	if disabled {
		logger.Info("memory not locked (disable_mlock = true, or a dev server)")
		return
	}
	if err := memlock.Lock(); err != nil {
		logger.Warn("cannot lock memory: secrets may be written to swap", "err", err, "fix", memlock.Hint)
		return
	}
	logger.Info("memory locked")
}

const devKeyFile = "dev-unseal.key"

func startDev(ctx context.Context, e *env, n *node.Node, f *serverFlags) error {
	c := n.Core()
	init, err := c.Initialized(ctx)
	if err != nil {
		return err
	}
	if init && f.devPersist != "" {
		raw, err := os.ReadFile(filepath.Join(f.devPersist, devKeyFile))
		if err != nil {
			return fmt.Errorf("dev store is initialized but its unseal key is missing: %w", err)
		}
		key, err := hex.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil {
			return errors.New("dev unseal key file is damaged")
		}
		if err := c.Unseal(ctx, []sensitive.Bytes{sensitive.NewBytes(key)}); err != nil {
			return fmt.Errorf("unseal dev store: %w", err)
		}
		fmt.Fprintf(e.stdout, "Keyward dev server (persisted in %s): unsealed with the key kept beside the data. Not for production.\n", f.devPersist)
		return nil
	}
	res, err := n.InitDev(ctx, f.devRootToken)
	if err != nil {
		return err
	}
	keyHex := hex.EncodeToString(res.UnsealKey.Reveal())
	if f.devPersist != "" {
		if err := os.WriteFile(filepath.Join(f.devPersist, devKeyFile), []byte(keyHex+"\n"), 0o600); err != nil {
			return fmt.Errorf("write dev unseal key: %w", err)
		}
	}
	storage := "in memory: nothing survives a restart"
	if f.devPersist != "" {
		storage = "persisted in " + f.devPersist
	}
	fmt.Fprintf(e.stdout, `WARNING: dev mode. Keyward runs unsealed, over plain HTTP, with storage %s.
Never use dev mode in production.

Unseal Key: %s
Root Token: %s
`, storage, keyHex, res.RootToken.Reveal())
	return nil
}
