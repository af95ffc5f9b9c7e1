package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/scan"
)

func init() { register(newScanCmd) }

type scanFlags struct {
	git, staged, stdin, noIgnore, binary bool
	allowIncomplete, testMaterial        bool
	minConfidence                        string
	since, rng, image                    string
	config, baseline, writeBaseline      string
	format, output, failOn               string
	color, progress                      string
	maxDepth, workers                    int
	maxArchiveMB, maxEntryMB             int64
}

func newScanCmd(e *env) *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:   "scan [path...]",
		Short: "Find credentials in files, git history, staged changes, archives and images",
		Long: `Scan finds credentials before they leak: in a directory tree (respecting
.gitignore), in every commit of a repository's history, in the changes staged
for commit, on stdin, inside archives and in every layer of a container image.

Secrets are only ever shown redacted. Each finding has a confidence (high,
medium or low); findings in test material (test vectors, fixtures, test
files, published test keys) are low and hidden unless --include-test-material
or --min-confidence low, and the report says how many it hid. Exit status: 0
when nothing shown at or above --fail-on is found, 1 when something is, 2 on
error. A scan a limit or an
error cut short (a member over --max-entry-size, an archive over
--max-archive-size, an unreadable file) is an error too, unless
--allow-incomplete: the report lists every input not scanned, or not to
the end, and why.

A rules file (.keyward-scan.toml or .keyward-scan.yaml in the scanned
directory, or --config) adds, overrides and disables rules and allowlists
paths, patterns and values. A line containing "keyward:allow" (optionally
followed by rule IDs) is never reported.`,
		Example: `  keyward scan .                         # the working tree
  keyward scan --git --since 2024-01-01 .  # history
  keyward scan --staged                    # what a pre-commit hook runs
  keyward scan --image app.tar             # docker save tarball or OCI layout
  cat build.log | keyward scan --stdin
  keyward scan --write-baseline .keyward-baseline.json .
  keyward scan --baseline .keyward-baseline.json --format sarif -o scan.sarif .`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd.Context(), e, f, args)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.git, "git", false, "scan the git history (every commit reachable from any ref)")
	fl.StringVar(&f.since, "since", "", "with --git: only commits newer than this date")
	fl.StringVar(&f.rng, "range", "", "with --git: only this revision range (a..b)")
	fl.BoolVar(&f.staged, "staged", false, "scan the changes staged for commit")
	fl.BoolVar(&f.stdin, "stdin", false, "scan standard input")
	fl.StringVar(&f.image, "image", "", "scan a container image: docker save tarball or OCI layout directory")
	fl.BoolVar(&f.noIgnore, "no-ignore", false, "also scan files .gitignore excludes")
	fl.BoolVar(&f.binary, "binary", false, "also scan binary files")
	fl.StringVar(&f.config, "config", "", "rules file (TOML or YAML)")
	fl.StringVar(&f.baseline, "baseline", "", "ignore findings recorded in this baseline file")
	fl.StringVar(&f.writeBaseline, "write-baseline", "", "record all current findings in this baseline file and exit 0")
	fl.StringVarP(&f.format, "format", "f", "text", "report format: text, json or sarif")
	fl.StringVarP(&f.output, "output", "o", "", "write the report to this file instead of stdout")
	fl.StringVar(&f.failOn, "fail-on", "low", "lowest severity that fails the scan: info, low, medium, high, critical")
	fl.StringVar(&f.minConfidence, "min-confidence", "medium", "lowest confidence shown: low, medium, high (lower ones are counted, not shown)")
	fl.BoolVar(&f.testMaterial, "include-test-material", false, "also show findings in test material (the same as --min-confidence low)")
	fl.StringVar(&f.color, "color", "auto", "colour the text report: auto, always, never")
	fl.StringVar(&f.progress, "progress", "auto", "progress bar on stderr: auto, always, never")
	fl.IntVar(&f.maxDepth, "max-depth", 4, "archive nesting limit")
	fl.Int64Var(&f.maxArchiveMB, "max-archive-size", 1024, "uncompressed MiB read from one archive or image")
	fl.Int64Var(&f.maxEntryMB, "max-entry-size", 256, "MiB read from one archive or image member")
	fl.BoolVar(&f.allowIncomplete, "allow-incomplete", false, "exit 0 even when a limit or an error kept input from being scanned to the end (it is still reported)")
	fl.IntVar(&f.workers, "workers", 0, "scanning goroutines (default: all cores)")
	cmd.AddCommand(newScanInstallHookCmd(e), newScanRulesCmd(e))
	return cmd
}

func scanErr(err error) error { return &exitError{code: 2, err: err} }

func runScan(ctx context.Context, e *env, f scanFlags, args []string) error {
	modes := 0
	for _, b := range []bool{f.git, f.staged, f.stdin, f.image != ""} {
		if b {
			modes++
		}
	}
	if len(args) == 1 && args[0] == "-" {
		f.stdin, args = true, nil
		modes++
	}
	if modes > 1 {
		return usagef("choose one of --git, --staged, --stdin and --image")
	}
	if (f.since != "" || f.rng != "") && !f.git {
		return usagef("--since and --range need --git")
	}
	if (f.git || f.staged) && len(args) > 1 {
		return usagef("--git and --staged take one repository path")
	}
	switch f.format {
	case "text", "json", "sarif":
	default:
		return usagef("unknown format %q (want text, json or sarif)", f.format)
	}
	if f.maxArchiveMB < 1 || f.maxEntryMB < 1 || f.maxDepth < 1 {
		return usagef("--max-archive-size, --max-entry-size and --max-depth must be at least 1")
	}
	threshold, err := scan.ParseSeverity(f.failOn)
	if err != nil {
		return &usageError{err}
	}
	minConf, err := scan.ParseConfidence(f.minConfidence)
	if err != nil {
		return &usageError{err}
	}
	if f.testMaterial {
		if minConf > scan.ConfidenceMedium {
			return usagef("--include-test-material shows low-confidence findings, --min-confidence %s hides them: choose one", f.minConfidence)
		}
		minConf = scan.ConfidenceLow
	}
	root := "."
	if len(args) > 0 {
		root = args[0]
	}
	cfgPath := f.config
	if cfgPath == "" {
		cfgPath = findScanConfig(root, f.git || f.staged)
	}
	var cfg *scan.Config
	if cfgPath != "" {
		if cfg, err = scan.LoadConfig(cfgPath); err != nil {
			return scanErr(err)
		}
	}
	rules, allow, err := cfg.Build()
	if err != nil {
		return scanErr(fmt.Errorf("rules file %s: %w", cfgPath, err))
	}
	engine, err := scan.NewEngine(rules, allow)
	if err != nil {
		return scanErr(err)
	}
	prog := &scan.Progress{}
	sc, err := scan.New(scan.Options{
		Engine: engine, Allow: allow, NoIgnore: f.noIgnore, Binary: f.binary,
		MaxDepth: f.maxDepth, MaxArchiveBytes: f.maxArchiveMB << 20, MaxEntryBytes: f.maxEntryMB << 20,
		Workers: f.workers, Progress: prog,
	})
	if err != nil {
		return scanErr(err)
	}
	stopProgress := startProgress(e, f.progress, prog)
	var res *scan.Result
	switch {
	case f.git:
		res, err = sc.ScanGitHistory(ctx, root, scan.GitOptions{Since: f.since, Range: f.rng})
	case f.staged:
		res, err = sc.ScanStaged(ctx, root)
	case f.stdin:
		res, err = sc.ScanReader(ctx, "-", e.stdin)
	case f.image != "":
		res, err = sc.ScanImage(ctx, f.image)
	default:
		if len(args) == 0 {
			args = []string{"."}
		}
		res, err = sc.ScanPaths(ctx, args)
	}
	stopProgress()
	if err != nil {
		return scanErr(fmt.Errorf("scan: %w", err))
	}
	findings := res.Findings
	if f.writeBaseline != "" {
		if err := scan.NewBaseline(findings).Save(f.writeBaseline); err != nil {
			return scanErr(err)
		}
		fmt.Fprintf(e.stderr, "keyward: wrote %d findings to baseline %s\n", len(findings), f.writeBaseline)
		return nil
	}
	if f.baseline != "" {
		b, err := scan.LoadBaseline(f.baseline)
		if err != nil {
			return scanErr(err)
		}
		findings = b.Filter(findings)
	}
	findings, res.Hidden = scan.Visible(findings, minConf)
	out := e.stdout
	var file *os.File
	if f.output != "" {
		if file, err = os.Create(f.output); err != nil {
			return scanErr(fmt.Errorf("create report: %w", err))
		}
		out = file
	}
	switch f.format {
	case "json":
		err = scan.WriteJSON(out, res, findings)
	case "sarif":
		err = scan.WriteSARIF(out, res, engine.Rules(), findings, "")
	default:
		err = scan.WriteText(out, res, findings, scan.TextOptions{Color: useColor(e, f.color, out)})
	}
	if file != nil {
		err = errors.Join(err, file.Close())
	}
	if err != nil {
		return scanErr(fmt.Errorf("write report: %w", err))
	}
	// Findings decide the status first: exit 1 is what hooks and CI look
	// for. An incomplete scan that found nothing is an error, not a pass.
	var incomplete error
	if n := res.Incomplete(); n > 0 && !f.allowIncomplete {
		incomplete = withHint(fmt.Errorf("scan incomplete: %d inputs not scanned to the end (listed in the report)", n),
			"raise the limit named there, or pass --allow-incomplete to accept it")
	}
	for _, fd := range findings {
		if fd.Severity >= threshold {
			return &exitError{code: 1, err: incomplete}
		}
	}
	if incomplete != nil {
		return scanErr(incomplete)
	}
	return nil
}

// findScanConfig looks for a rules file in dir, or at the top of the git
// work tree for history and staged scans.
func findScanConfig(dir string, repo bool) string {
	if repo {
		if out, err := exec.Command("git", "-C", dir, "rev-parse", "--show-toplevel").Output(); err == nil {
			dir = strings.TrimSpace(string(out))
		}
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return ""
	}
	for _, n := range []string{".keyward-scan.toml", ".keyward-scan.yaml", ".keyward-scan.yml"} {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func useColor(e *env, mode string, out io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	return e.getenv("NO_COLOR") == "" && e.getenv("TERM") != "dumb" && isTerminal(out)
}

// startProgress draws files and bytes done, rate and ETA on a terminal's
// stderr until the returned function is called.
func startProgress(e *env, mode string, p *scan.Progress) func() {
	if mode == "never" || (mode == "auto" && !isTerminal(e.stderr)) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				if isTerminal(e.stderr) {
					fmt.Fprint(e.stderr, "\r\x1b[K")
				} else {
					// --progress always into a file or pipe: end with the totals
					fmt.Fprintln(e.stderr, progressLine(p, time.Since(start)))
				}
				return
			case <-t.C:
				if isTerminal(e.stderr) {
					fmt.Fprint(e.stderr, "\r\x1b[K"+progressLine(p, time.Since(start)))
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func progressLine(p *scan.Progress, elapsed time.Duration) string {
	fd, ft := p.FilesDone.Load(), p.FilesTotal.Load()
	bd, bt := p.BytesDone.Load(), p.BytesTotal.Load()
	rate := float64(bd) / max(elapsed.Seconds(), 0.001)
	line := fmt.Sprintf("scanning: %d/%d files, %s/%s, %s/s", fd, ft, mib(bd), mib(bt), mib(int64(rate)))
	if bt > bd && rate > 0 {
		eta := time.Duration(float64(bt-bd) / rate * float64(time.Second)).Round(time.Second)
		frac := float64(bd) / float64(bt)
		const width = 20
		n := int(frac * width)
		line = "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "] " + line + ", ETA " + eta.String()
	}
	return line
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

const hookMarker = "# installed by keyward scan install-hook"

func newScanInstallHookCmd(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "install-hook [repo]",
		Short: "Install a git pre-commit hook that runs keyward scan --staged",
		Long: `install-hook writes a pre-commit hook into the repository (honouring
core.hooksPath) that runs "keyward scan --staged" and blocks the commit when
it finds a credential. An existing hook is kept unless --force.`,
		Example:       "  keyward scan install-hook\n  keyward scan install-hook --force ../other-repo",
		Args:          cobra.MaximumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo := "."
			if len(args) == 1 {
				repo = args[0]
			}
			out, err := exec.CommandContext(cmd.Context(), "git", "-C", repo, "rev-parse", "--git-path", "hooks").Output()
			if err != nil {
				return scanErr(fmt.Errorf("install-hook: %s is not a git repository", repo))
			}
			dir := strings.TrimSpace(string(out))
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(repo, dir)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return scanErr(fmt.Errorf("install-hook: %w", err))
			}
			hook := filepath.Join(dir, "pre-commit")
			if old, err := os.ReadFile(hook); err == nil && !strings.Contains(string(old), hookMarker) && !force {
				return scanErr(withHint(fmt.Errorf("install-hook: %s exists", hook), "use --force to replace it, or add `keyward scan --staged` to it"))
			}
			script := "#!/bin/sh\n" + hookMarker + "\n# Blocks commits that add credentials. Bypass once with: git commit --no-verify\nexec keyward scan --staged --progress never\n"
			if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
				return scanErr(fmt.Errorf("install-hook: %w", err))
			}
			if err := os.Chmod(hook, 0o755); err != nil {
				return scanErr(fmt.Errorf("install-hook: %w", err))
			}
			fmt.Fprintf(e.stdout, "installed pre-commit hook %s\n", hook)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing pre-commit hook")
	return cmd
}

func newScanRulesCmd(e *env) *cobra.Command {
	var config string
	cmd := &cobra.Command{
		Use:           "rules",
		Short:         "List the detection rules in effect",
		Example:       "  keyward scan rules\n  keyward scan rules --config .keyward-scan.toml",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg *scan.Config
			if config != "" {
				var err error
				if cfg, err = scan.LoadConfig(config); err != nil {
					return scanErr(err)
				}
			}
			rules, _, err := cfg.Build()
			if err != nil {
				return scanErr(err)
			}
			for _, r := range rules {
				fmt.Fprintf(e.stdout, "%-36s %-8s %-6s %s\n", r.ID, r.Severity, r.BaseConfidence(), r.Description)
			}
			fmt.Fprintf(e.stdout, "%d rules\n", len(rules))
			return nil
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "rules file (TOML or YAML)")
	return cmd
}
