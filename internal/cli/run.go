package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/inject"
	"github.com/keyward/keyward/internal/mask"
	"github.com/keyward/keyward/internal/secretref"
)

func init() {
	register(newRunCmd)
	register(newRunGuardCmd)
	register(newRunExecCmd)
}

// runGuardCmd is the hidden command keyward run starts as its guard
// process (inject.Guard): if keyward is killed, the guard kills the
// command's process group.
const runGuardCmd = "__run-guard"

func newRunGuardCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:           runGuardCmd,
		Short:         "Kill the command of a keyward run that died (started by keyward run)",
		Hidden:        true,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(*cobra.Command, []string) error {
			return inject.Guard(e.stdin)
		},
	}
}

// runExecCmd is the hidden command keyward run starts in its command's
// place (inject.ExecGate): it execs the command once the guard knows its
// process group.
const runExecCmd = "__run-exec"

func newRunExecCmd(*env) *cobra.Command {
	return &cobra.Command{
		Use:                runExecCmd + " -- PATH ARGV0 [ARG...]",
		Short:              "Exec the command of a keyward run once its guard is ready (started by keyward run)",
		Hidden:             true,
		DisableFlagParsing: true, // the command's arguments are its own
		SilenceUsage:       true,
		SilenceErrors:      true,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 && args[0] == "--" {
				args = args[1:]
			}
			return inject.ExecGate(args)
		},
	}
}

// guardArgv returns the command lines of the guard and the start gate:
// this binary with runGuardCmd and runExecCmd, or nil when the binary
// cannot be found.
func guardArgv(log *slog.Logger) (guard, gate []string) {
	exe, err := os.Executable()
	if err != nil {
		log.Warn("no guard process: if keyward is killed, the command's background processes survive it", "err", err)
		return nil, nil
	}
	return []string{exe, runGuardCmd}, []string{exe, runExecCmd}
}

// revokeTimeout bounds the revocations at the end of a job.
const revokeTimeout = 30 * time.Second

// refFlags are the reference flags run and env share.
type refFlags struct {
	env, envFrom, files, templates []string
	envPrefix                      string
	config                         string
}

func (f *refFlags) add(cmd *cobra.Command, withFiles bool) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.env, "env", nil, "inject `NAME=PATH#FIELD[@VERSION]` as an environment variable (repeatable)")
	fl.StringArrayVar(&f.envFrom, "env-from", nil, "inject every field of the secret at `PATH` as a variable, upper-cased (repeatable)")
	fl.StringVar(&f.envPrefix, "env-prefix", "", "prefix for the variables of --env-from (the prefixed names are checked again)")
	fl.StringVar(&f.config, "config", "", "references file (default ./"+secretref.DefaultConfig+" when it exists)")
	if withFiles {
		fl.StringArrayVar(&f.files, "file", nil, "write `NAME=PATH#FIELD[:MODE]` to a file in the secrets directory (repeatable)")
		fl.StringArrayVar(&f.templates, "template", nil, "render the Go template `IN:OUT` into the file OUT in the secrets directory (repeatable)")
	}
}

// plan combines the config file and the flags (flags come after the file,
// so an --env overrides nothing silently: a name given twice is an error).
func (f *refFlags) plan(extraEnv []string) (secretref.Plan, error) {
	var p secretref.Plan
	cfg := f.config
	if cfg == "" {
		if _, err := os.Stat(secretref.DefaultConfig); err == nil {
			cfg = secretref.DefaultConfig
		} else if !errors.Is(err, fs.ErrNotExist) {
			return p, fmt.Errorf("config: %w", err)
		}
	}
	if cfg != "" {
		c, err := secretref.LoadConfig(cfg)
		if err != nil {
			return p, usagef("%v", err)
		}
		p.Add(c)
	}
	var errs []error
	for _, s := range append(slices.Clone(f.env), extraEnv...) {
		e, err := secretref.ParseEnv(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.Env = append(p.Env, e)
	}
	for _, s := range f.envFrom {
		e, err := secretref.ParseEnvFrom(s, f.envPrefix)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.EnvFrom = append(p.EnvFrom, e)
	}
	for _, s := range f.files {
		fr, err := secretref.ParseFile(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.Files = append(p.Files, fr)
	}
	for _, s := range f.templates {
		t, err := secretref.ParseTemplate(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.Templates = append(p.Templates, t)
	}
	if err := p.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return p, usagef("%w", errors.Join(errs...))
	}
	return p, nil
}

type runFlags struct {
	conn          connFlags
	refs          refFlags
	dryRun        bool
	revoke        bool
	passToken     bool
	allowUnmasked []string
	maskStyle     string
	envFiles      []string
}

func newRunCmd(e *env) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARG...]",
		Short: "Run a command with secrets in its environment or files, masked in its output",
		Long: `Run fetches the secrets a job needs, starts COMMAND with them as environment
variables (--env, --env-from) or as files in a private directory on a
memory-backed file system (--file, --template; its path is in
$KEYWARD_SECRETS_DIR and each file's in $KEYWARD_FILE_<NAME>), masks every
injected value (and its base64, hex, URL, JSON and shell-escaped forms) in
COMMAND's stdout and stderr, and removes the files when COMMAND exits. The
exit code is COMMAND's.

References are PATH#FIELD, with @VERSION to pin a KV version 2 version. A
KV version 2 path may be written secret/data/prod/db or secret/prod/db. Any
path that returns a lease (dynamic credentials such as database/creds/ROLE)
is read once, however many fields are used. References may also come from
keyward.yaml (read from the current directory when present, or --config).
--env-file decrypts a file encrypted with keyward encrypt into variables.

--env-from takes variable names from the secret's field names, which its
writer chooses: a field that would set a variable changing how COMMAND
runs (LD_PRELOAD, PATH, BASH_ENV, NODE_OPTIONS, GIT_*, KEYWARD_*, ...) or
that is no variable name is refused. Import such a secret with
--env-prefix, or map the field yourself with --env.

Nothing starts unless every secret was fetched; the error names the
reference, never a value. Values shorter than 6 bytes cannot be masked
safely: run refuses them unless --allow-unmasked NAME is given.

With --revoke (the default when CI=true) every lease obtained and then the
token itself are revoked when COMMAND exits, so the credentials die with the
job. While COMMAND runs, leases and the token are renewed at 2/3 of their
TTL. SIGINT, SIGTERM, SIGHUP and SIGQUIT are forwarded to COMMAND's
process group; one ignored when keyward starts (nohup ignores SIGHUP, a
shell ignores SIGINT and SIGQUIT for a background job) stays ignored for
COMMAND, as it would be without keyward in between. If keyward is killed (kill -9), COMMAND and its process
group are killed too.
KEYWARD_TOKEN and VAULT_TOKEN are removed from COMMAND's environment unless
--pass-token is given, and the token is masked in its output. COMMAND runs
with keyward's uid, so keyward first makes itself non-dumpable: COMMAND
cannot read keyward's memory or environment through /proc.`,
		Example: `  keyward run --env DB_PASSWORD=secret/data/prod/db#password -- ./deploy.sh
  keyward run --env-from secret/prod/app --env-prefix APP_ -- make release
  keyward run --file tls.pem=secret/prod/tls#cert:0400 -- sh -c 'serve --cert "$KEYWARD_FILE_TLS_PEM"'
  keyward run --template app.conf.tmpl:app.conf -- sh -c 'app -c "$KEYWARD_SECRETS_DIR/app.conf"'
  keyward run --env-file deploy/prod/secrets.enc.yaml -- ./deploy.sh
  keyward run --dry-run -- ./deploy.sh`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd, e, f, args)
		},
	}
	f.conn.add(cmd)
	f.refs.add(cmd, true)
	fl := cmd.Flags()
	fl.BoolVar(&f.dryRun, "dry-run", false, "list what would be injected, without fetching anything")
	fl.BoolVar(&f.revoke, "revoke", e.getenv("CI") == "true", "revoke leases and the token when the command exits (default true when CI=true)")
	fl.BoolVar(&f.passToken, "pass-token", false, "leave KEYWARD_TOKEN and VAULT_TOKEN in the command's environment")
	fl.StringArrayVar(&f.allowUnmasked, "allow-unmasked", nil, "inject `NAME` even if its value is too short to mask (it is then not masked)")
	fl.StringVar(&f.maskStyle, "mask-style", "stars", "what replaces a secret in the output: stars (***) or name ([NAME])")
	fl.StringArrayVar(&f.envFiles, "env-file", nil, "decrypt the keyward-encrypted `FILE` into the environment (dotenv names as they are, other paths joined with _ and upper-cased; repeatable)")
	return cmd
}

func parseMaskStyle(s string) (mask.Style, error) {
	switch s {
	case "stars", "":
		return mask.StyleStars, nil
	case "name":
		return mask.StyleName, nil
	}
	return 0, usagef("invalid --mask-style %q: want stars or name", s)
}

func runRun(cmd *cobra.Command, e *env, f *runFlags, args []string) error {
	if len(args) == 0 {
		return usagef("a COMMAND is required: keyward run [flags] -- COMMAND [ARG...]")
	}
	style, err := parseMaskStyle(f.maskStyle)
	if err != nil {
		return err
	}
	plan, err := f.refs.plan(nil)
	if err != nil {
		return err
	}
	if f.dryRun {
		return printPlan(cmd.OutOrStdout(), plan, args)
	}
	// Refuse before any secret is fetched where Run cannot protect them.
	if err := inject.Supported(); err != nil {
		return err
	}
	// keyward holds the job token from its first instruction and will hold
	// the secrets: the job, which runs with the same uid, must not read
	// them from /proc/PID/{environ,mem}.
	if err := inject.ProtectProcess(); err != nil {
		return err
	}
	log := cliLogger(e.stderr)
	if err := inject.CleanStale(""); err != nil {
		log.Warn("cannot remove stale secrets directories", "err", err)
	}

	// Signals are ours from now on: before the child starts they stop the
	// fetch (and what was obtained is revoked), afterwards inject forwards
	// them to the child.
	sigs := make(chan os.Signal, 4)
	if take := forwardedSignals(); len(take) > 0 { // Notify with none would take every signal
		signal.Notify(sigs, take...)
	}
	defer signal.Stop(sigs)

	c, err := f.conn.client(e)
	if err != nil {
		return err
	}
	tokenEnv := dropTokenEnv()
	fetcher := secretref.NewFetcher(c)
	res, sig, err := fetchAll(cmd.Context(), fetcher, plan, sigs)
	keeper := secretref.NewKeeper(c, fetcher.Leases(), log)
	if err == nil && sig == nil {
		err = addEnvFiles(cmd.Context(), e, c.Token(), f.envFiles, res)
	}
	if err == nil && sig == nil {
		err = checkShort(res, f.allowUnmasked)
	}
	if err != nil || sig != nil {
		if rerr := finish(keeper, f.revoke, log); rerr != nil {
			log.Warn("revocation after a failed start", "err", rerr)
		}
		if sig != nil {
			return &exitError{code: 128 + int(sig.(syscall.Signal)), err: fmt.Errorf("interrupted by %v before the command started", sig)}
		}
		return explain(err, c)
	}

	renewCtx, stopRenew := context.WithCancel(context.Background())
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		keeper.Renew(renewCtx)
	}()

	secrets := unmaskedRemoved(res.Secrets, f.allowUnmasked)
	// The token is a secret of the job like the others (the job can also
	// find it in the token file, or get it with --pass-token).
	if tok := c.Token(); len(tok) >= mask.DefaultMinLen {
		secrets = append(secrets, mask.Secret{Name: "KEYWARD_TOKEN", Value: tok})
	} else if tok != "" {
		log.Warn("the token is too short to be masked in the output", "length", len(tok))
	}
	base := withoutAgeKey(os.Environ())
	if f.passToken {
		base = append(base, tokenEnv...)
	}
	guard, gate := guardArgv(log)
	opts := mask.Options{Style: style}
	stdout := mask.NewWriter(cmd.OutOrStdout(), secrets, opts)
	stderr := mask.NewWriter(e.stderr, secrets, opts)
	code, runErr := inject.Run(cmd.Context(), args, res.Spec, inject.Options{
		Stdin:   e.stdin,
		Stdout:  stdout,
		Stderr:  stderr,
		BaseEnv: base,
		Signals: sigs,
		Guard:   guard,
		Gate:    gate,
		Logger:  log,
	})
	stdout.Close()
	stderr.Close()
	stopRenew()
	<-renewed
	if rerr := finish(keeper, f.revoke, log); rerr != nil {
		log.Warn("revocation failed", "err", rerr)
		if code == 0 {
			code = ExitError
		}
	}
	if code < 0 {
		if errors.Is(runErr, exec.ErrNotFound) || errors.Is(runErr, fs.ErrNotExist) {
			code = 127
		} else {
			code = ExitError
		}
	}
	return &exitError{code: code, err: runErr}
}

// fetchAll resolves plan, giving up when a signal arrives first; it returns
// that signal.
func fetchAll(ctx context.Context, f *secretref.Fetcher, plan secretref.Plan, sigs <-chan os.Signal) (*secretref.Result, os.Signal, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		res *secretref.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := resolve(ctx, f, plan)
		done <- result{r, err}
	}()
	select {
	case r := <-done:
		return r.res, nil, r.err
	case s := <-sigs:
		cancel()
		<-done
		return nil, s, nil
	}
}

// resolve fetches what plan asks for, refusing the variable names
// --env-from would take from a secret's field names that are not valid
// names or that change how the job runs (see checkImported). run and env
// use it; mask, which sets no variable, resolves directly.
func resolve(ctx context.Context, f *secretref.Fetcher, plan secretref.Plan) (*secretref.Result, error) {
	if err := checkImported(ctx, f, plan); err != nil {
		return nil, err
	}
	return secretref.Resolve(ctx, f, plan)
}

// checkImported reads the secrets of plan's EnvFrom entries (the fetcher
// keeps them for Resolve) and refuses every field whose name is empty or
// holds '=' or a control byte, or would set a variable inject.Reserved (or,
// without a prefix, inject.ToolSetting)
// names (LD_PRELOAD, PATH, BASH_ENV, GIT_*, KEYWARD_*...): whoever can
// write a secret must not choose the job's loader, shell or tools. A name
// the user mapped with --env is skipped, as Resolve skips it: that is the
// user's choice. The error names the secret and the field, never a value.
func checkImported(ctx context.Context, f *secretref.Fetcher, plan secretref.Plan) error {
	explicit := map[string]bool{}
	for _, e := range plan.Env {
		explicit[e.Name] = true
	}
	var errs []error
	for _, ef := range plan.EnvFrom {
		data, err := f.Data(ctx, ef.Ref)
		if err != nil {
			return fmt.Errorf("env-from %w", err)
		}
		for _, k := range slices.Sorted(maps.Keys(data)) {
			name := ef.Prefix + secretref.EnvName(k)
			switch {
			case explicit[name]:
			case !validFieldName(k):
				errs = append(errs, fmt.Errorf("env-from %s: field %q is not a valid variable name", ef.Ref, k))
			case inject.Reserved(name), ef.Prefix == "" && inject.ToolSetting(name):
				errs = append(errs, fmt.Errorf("env-from %s: field %q would set %s, which changes how the job's programs run", ef.Ref, k, name))
			}
		}
	}
	if len(errs) > 0 {
		return withHint(fmt.Errorf("refusing to start: %w", errors.Join(errs...)),
			"the secret's writer chooses these names: import it under a prefix (--env-prefix APP_), or map a field you trust yourself (--env NAME=PATH#FIELD)")
	}
	return nil
}

// validFieldName accepts a field name --env-from can turn into a variable
// name: not empty, no '=', no control bytes. Other bytes that are not
// letters or digits become '_' (secretref.EnvName).
func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c == '=' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// finish revokes what the job obtained when revoke is set.
func finish(k *secretref.Keeper, revoke bool, log *slog.Logger) error {
	if !revoke {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
	defer cancel()
	return k.Revoke(ctx, true)
}

// checkShort refuses values too short to mask, except those allowed.
func checkShort(res *secretref.Result, allowed []string) error {
	err := mask.Check(unmaskedRemoved(res.Secrets, allowed))
	var short *mask.ErrTooShort
	if errors.As(err, &short) {
		return withHint(fmt.Errorf("refusing to start: %w", err),
			fmt.Sprintf("a value that short cannot be masked without wrecking the log; pass --allow-unmasked %s to inject it unmasked", short.Names[0]))
	}
	return err
}

// unmaskedRemoved drops the secrets named in allowed.
func unmaskedRemoved(secrets []mask.Secret, allowed []string) []mask.Secret {
	out := make([]mask.Secret, 0, len(secrets))
	for _, s := range secrets {
		if !slices.Contains(allowed, s.Name) {
			out = append(out, s)
		}
	}
	return out
}

// tokenVars are the variables the client reads the token from
// (api.ConfigFromEnv).
var tokenVars = []string{"KEYWARD_TOKEN", "VAULT_TOKEN"}

// environWithoutToken is this process's environment less the token
// variables, for a child that needs no token (ssh, an editor).
func environWithoutToken() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(tokenVars, name)
	})
}

// dropTokenEnv removes the token variables from keyward's environment once
// the client has read them, so no child or later lookup gets them by
// accident, and returns them as NAME=VALUE for --pass-token. It changes the
// process's environment: run is a whole-process command. (/proc/PID/environ
// still shows the environment keyward started with; ProtectProcess keeps
// the job from reading it.)
func dropTokenEnv() []string {
	var taken []string
	for _, k := range tokenVars {
		if v, ok := os.LookupEnv(k); ok {
			taken = append(taken, k+"="+v)
			os.Unsetenv(k)
		}
	}
	return taken
}

// printPlan lists what run would inject: names and references, no values.
func printPlan(w io.Writer, p secretref.Plan, args []string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tSOURCE")
	for _, ef := range p.EnvFrom {
		fmt.Fprintf(tw, "env-from\t%s*\t%s\n", ef.Prefix, ef.Ref)
	}
	for _, en := range p.Env {
		fmt.Fprintf(tw, "env\t%s\t%s\n", en.Name, en.Ref)
	}
	for _, fr := range p.Files {
		mode := fr.Mode
		if mode == 0 {
			mode = 0o600
		}
		fmt.Fprintf(tw, "file\t%s\t%s (mode %04o, $%s)\n", fr.Name, fr.Ref, mode, inject.FileEnvName(fr.Name))
	}
	for _, t := range p.Templates {
		src, err := os.ReadFile(t.Source)
		if err != nil {
			return fmt.Errorf("template %s: %w", t.Source, err)
		}
		refs, err := secretref.Refs(t.Source, src)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "template\t%s\t%s: %s ($%s)\n", t.Dest, t.Source, strings.Join(refs, ", "), inject.FileEnvName(t.Dest))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "command: %s\n", strings.Join(args, " "))
	return err
}

// cliLogger writes warnings as "keyward: warning: MSG key=value" lines.
func cliLogger(w io.Writer) *slog.Logger { return slog.New(&warnHandler{w: w}) }

type warnHandler struct {
	w     io.Writer
	attrs []slog.Attr
}

func (h *warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warnHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("keyward: warning: ")
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *warnHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &warnHandler{w: h.w, attrs: append(slices.Clone(h.attrs), as...)}
}

func (h *warnHandler) WithGroup(string) slog.Handler { return h }

var _ secretref.Client = (*api.Client)(nil)
var _ secretref.TokenClient = (*api.Client)(nil)

// forwardedSignals are the signals run takes and forwards to COMMAND:
// SIGINT, SIGTERM, SIGHUP and SIGQUIT, less those ignored when keyward
// started. Taking an ignored signal would un-ignore it for COMMAND too (a
// signal with a handler is reset to the default at exec), so under nohup a
// hangup would reach a job that asked not to get one.
func forwardedSignals() []os.Signal {
	var take []os.Signal
	for _, s := range []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT} {
		if !signal.Ignored(s) {
			take = append(take, s)
		}
	}
	return take
}
