package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/inject"
	"github.com/keyward/keyward/internal/secretref"
)

func init() { register(newCertCmd) }

func newCertCmd(e *env) *cobra.Command {
	cmd := groupCmd("cert", "Keep certificates from a pki secrets engine renewed",
		`Cert commands look after certificates a pki secrets engine issues.`,
		`  keyward cert agent --role web --cn www.example.com --out-dir /etc/nginx/tls --exec 'nginx -s reload'`)
	cmd.AddCommand(newCertAgentCmd(e))
	return cmd
}

// Retry bounds of the agent when the server cannot issue: the first retry
// comes after agentRetryMin, each next one after twice as long, up to
// agentRetryMax.
const (
	agentRetryMin = time.Second
	agentRetryMax = 5 * time.Minute
)

type certAgentFlags struct {
	conn    connFlags
	req     issueFlags
	role    string
	exec    string
	signal  string
	pidFile string
	once    bool
}

func newCertAgentCmd(e *env) *cobra.Command {
	f := &certAgentFlags{}
	cmd := &cobra.Command{
		Use:   "agent --role ROLE --cn NAME --out-dir DIR [--exec CMD | --signal SIG --pid-file FILE] [flags]",
		Short: "Issue a certificate, keep it renewed, and reload the server that uses it",
		Long: `Agent issues a certificate from ROLE of the pki engine at --mount, writes
it to --out-dir as keyward pki issue does (` + keyFile + ` 0600, ` + certFile + `,
` + chainFile + `, ` + fullchainFile + `; each file replaced atomically), then tells the
server using it: it runs --exec with sh -c, or sends --signal to the process
whose pid is in --pid-file. It renews the certificate at two thirds of its
lifetime (from its NotBefore and NotAfter), writes it again and reloads
again, until SIGTERM or SIGINT stops it (exit 0). --once stops after the
first certificate is written and the server reloaded.

When the server cannot issue (down, sealed, unreachable), the agent keeps
the files it wrote and retries after 1s, doubling to at most 5m; it never
removes a certificate. A failed reload is retried the same way. If the
token is renewable, the agent renews it at two thirds of its TTL. The
reload command gets the agent's environment without KEYWARD_TOKEN and
VAULT_TOKEN, plus KEYWARD_CERT_DIR and KEYWARD_CERT_SERIAL; nothing secret
is on its command line. Logs go to stderr (slog text; --log-format json);
they name serials and times, never keys or tokens.`,
		Example: `  keyward cert agent --role web --cn www.example.com --out-dir /etc/nginx/tls --exec 'nginx -t && nginx -s reload'
  keyward cert agent --mount pki_int --role svc --cn svc.internal --ttl 8h --out-dir /run/svc/tls \
      --signal HUP --pid-file /run/svc.pid`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCertAgent(cmd, e, f)
		},
	}
	f.conn.add(cmd)
	f.req.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.role, "role", "", "pki role to issue from (required)")
	fl.StringVar(&f.exec, "exec", "", "reload command, run with sh -c after each write")
	fl.StringVar(&f.signal, "signal", "", "signal (HUP, USR1, ...) to send to the process in --pid-file after each write")
	fl.StringVar(&f.pidFile, "pid-file", "", "file holding the pid to signal")
	fl.BoolVar(&f.once, "once", false, "issue, write and reload once, then exit")
	fl.String("log-format", "text", "log format: text or json")
	return cmd
}

func runCertAgent(cmd *cobra.Command, e *env, f *certAgentFlags) error {
	if err := f.req.check(); err != nil {
		return err
	}
	if f.role == "" {
		return usagef("--role is required")
	}
	if f.exec != "" && f.signal != "" {
		return usagef("--exec and --signal exclude each other")
	}
	if (f.signal == "") != (f.pidFile == "") {
		return usagef("--signal and --pid-file go together")
	}
	var sig syscall.Signal
	if f.signal != "" {
		var err error
		if sig, err = parseSignal(f.signal); err != nil {
			return err
		}
	}
	logFormat, _ := cmd.Flags().GetString("log-format")
	log, err := agentLogger(e.stderr, logFormat)
	if err != nil {
		return err
	}
	// The agent holds its token and, briefly, each private key: processes
	// of the same uid (the reload command) must not read its memory.
	if err := inject.ProtectProcess(); err != nil {
		return err
	}
	c, err := f.conn.client(e)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var reload func(context.Context, *x509.Certificate) error
	switch {
	case f.exec != "":
		reload = execReload(f.exec, f.req.outDir, e.stderr)
	case f.signal != "":
		reload = signalReload(f.pidFile, sig)
	default:
		reload = func(context.Context, *x509.Certificate) error { return nil }
	}
	req := f.req.request()
	a := &certAgent{
		issue: func(ctx context.Context) (*api.IssuedCertificate, error) {
			return c.IssueCertificate(ctx, f.req.mount, f.role, req)
		},
		write: func(ctx context.Context, ic *api.IssuedCertificate) (*x509.Certificate, error) {
			return writeCertFiles(ctx, f.req.outDir, ic)
		},
		reload:   reload,
		now:      time.Now,
		after:    func(d time.Duration, fn func()) func() bool { return time.AfterFunc(d, fn).Stop },
		log:      log,
		retryMin: agentRetryMin,
		retryMax: agentRetryMax,
	}
	renewCtx, stopRenew := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		if !f.once {
			secretref.NewKeeper(c, nil, log).Renew(renewCtx)
		}
	}()
	err = a.run(ctx, f.once)
	stopRenew()
	<-renewed
	if err != nil {
		return explain(err, c)
	}
	return nil
}

// agentLogger logs at info level to w.
func agentLogger(w io.Writer, format string) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)).With("component", "cert-agent"), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)).With("component", "cert-agent"), nil
	}
	return nil, usagef("invalid --log-format %q: want text or json", format)
}

// certAgent keeps one certificate renewed. Its clock and timer are fields
// so tests drive it with clocktest.Clock.
type certAgent struct {
	issue  func(context.Context) (*api.IssuedCertificate, error)
	write  func(context.Context, *api.IssuedCertificate) (*x509.Certificate, error)
	reload func(context.Context, *x509.Certificate) error
	now    func() time.Time
	// after runs f once d has passed; stop cancels it (time.AfterFunc).
	after              func(d time.Duration, f func()) (stop func() bool)
	log                *slog.Logger
	retryMin, retryMax time.Duration
}

// renewAt is when a certificate is due for renewal: two thirds into its
// lifetime.
func renewAt(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
}

// run issues, writes and reloads, then renews at renewAt, until ctx ends
// (it then returns nil) or, with once, until the first certificate is
// written and reloaded. A failed issue or write is retried with backoff
// and leaves the files as they are; so is a failed reload. Only the first
// issue can end the agent with an error, when the server refuses it (4xx:
// a wrong role, name or token), and with once any failure does.
func (a *certAgent) run(ctx context.Context, once bool) error {
	var (
		leaf          *x509.Certificate // the certificate last written
		needReload    bool
		issueBackoff  = a.retryMin
		reloadBackoff = a.retryMin
	)
	for {
		var wait time.Duration
		if leaf == nil || !a.now().Before(renewAt(leaf)) {
			l, err := a.renew(ctx)
			switch {
			case err == nil:
				leaf, needReload, issueBackoff = l, true, a.retryMin
				a.log.Info("certificate written", "serial", serialHex(l), "not_after", l.NotAfter.UTC(), "renew_at", renewAt(l).UTC())
			case ctx.Err() != nil:
				return nil
			case once, leaf == nil && isRefused(err):
				return err
			default:
				attrs := []any{"err", err, "retry_in", issueBackoff}
				if leaf != nil {
					attrs = append(attrs, "current_not_after", leaf.NotAfter.UTC(), "current_expired", !a.now().Before(leaf.NotAfter))
				}
				a.log.Warn("cannot renew the certificate; will retry", attrs...)
				wait = issueBackoff
				issueBackoff = min(issueBackoff*2, a.retryMax)
			}
		}
		if needReload {
			if err := a.reload(ctx, leaf); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if once {
					return fmt.Errorf("reload: %w", err)
				}
				a.log.Warn("reload failed; will retry", "err", err, "retry_in", reloadBackoff)
				if wait == 0 || reloadBackoff < wait {
					wait = reloadBackoff
				}
				reloadBackoff = min(reloadBackoff*2, a.retryMax)
			} else {
				needReload, reloadBackoff = false, a.retryMin
				a.log.Info("reloaded", "serial", serialHex(leaf))
			}
		}
		if once && !needReload {
			return nil
		}
		if wait == 0 {
			wait = max(renewAt(leaf).Sub(a.now()), a.retryMin)
		}
		if !a.sleep(ctx, wait) {
			return nil
		}
	}
}

// renew issues a certificate and writes it.
func (a *certAgent) renew(ctx context.Context) (*x509.Certificate, error) {
	ic, err := a.issue(ctx)
	if err != nil {
		return nil, err
	}
	return a.write(ctx, ic)
}

// sleep waits d on the agent's timer; false if ctx ended first.
func (a *certAgent) sleep(ctx context.Context, d time.Duration) bool {
	fired := make(chan struct{}, 1)
	stop := a.after(d, func() { fired <- struct{}{} })
	select {
	case <-ctx.Done():
		stop()
		return false
	case <-fired:
		return true
	}
}

// isRefused reports whether the server answered err with a 4xx other than
// 429 (too many requests), which retrying does not cure.
func isRefused(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 && re.StatusCode != 429
}

// serialHex writes a certificate's serial as Vault does (aa:bb:...).
func serialHex(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	var s strings.Builder
	for i, x := range b {
		if i > 0 {
			s.WriteByte(':')
		}
		fmt.Fprintf(&s, "%02x", x)
	}
	return s.String()
}

// execReload runs cmdline with sh -c, in the agent's environment without
// the token variables, plus KEYWARD_CERT_DIR and KEYWARD_CERT_SERIAL. Its
// output goes to out (the agent's stderr).
func execReload(cmdline, dir string, out io.Writer) func(context.Context, *x509.Certificate) error {
	return func(ctx context.Context, leaf *x509.Certificate) error {
		c := exec.CommandContext(ctx, "sh", "-c", cmdline)
		c.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
			name, _, _ := strings.Cut(kv, "=")
			return slices.Contains(tokenVars, name)
		}), "KEYWARD_CERT_DIR="+dir, "KEYWARD_CERT_SERIAL="+serialHex(leaf))
		c.Stdout, c.Stderr = out, out
		if err := c.Run(); err != nil {
			return fmt.Errorf("exec: %w", err)
		}
		return nil
	}
}

// signalReload sends sig to the process whose pid is in pidFile, read anew
// each time (the process may have restarted).
func signalReload(pidFile string, sig syscall.Signal) func(context.Context, *x509.Certificate) error {
	return func(context.Context, *x509.Certificate) error {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return fmt.Errorf("pid file: %w", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			return fmt.Errorf("pid file %s: no valid pid", pidFile)
		}
		if err := signalPID(pid, sig); err != nil {
			return fmt.Errorf("signal %d: %w", pid, err)
		}
		return nil
	}
}

// parseSignal parses HUP, SIGHUP, hup or a number.
func parseSignal(s string) (syscall.Signal, error) {
	names := signalNames()
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	if sig, ok := names[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return sig, nil
	}
	return 0, usagef("invalid --signal %q: want HUP, USR1, USR2, INT, TERM, QUIT, WINCH or a number", s)
}
