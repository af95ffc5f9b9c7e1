package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/internal/scan/corpus"
)

// planted remembers, per script work directory, every secret a script
// planted, so nosecret can search outputs for them.
var planted sync.Map // $WORK -> *[]string

func plantedSecrets(ts *testscript.TestScript) *[]string {
	v, _ := planted.LoadOrStore(ts.Getenv("WORK"), &[]string{})
	return v.(*[]string)
}

// TestScanScripts runs the keyward scan scripts in testdata/scan. They need
// no server. Fake credentials come from the generated corpus through the
// plant command, so no script holds a literal secret.
func TestScanScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/scan",
		UpdateScripts: *update,
		Setup: func(e *testscript.Env) error {
			for _, kv := range [][2]string{
				{"GIT_CONFIG_GLOBAL", "/dev/null"}, {"GIT_CONFIG_NOSYSTEM", "1"},
				{"GIT_AUTHOR_NAME", "Script Author"}, {"GIT_AUTHOR_EMAIL", "author@script.test"},
				{"GIT_COMMITTER_NAME", "Script Author"}, {"GIT_COMMITTER_EMAIL", "author@script.test"},
				{"NO_COLOR", "1"},
			} {
				e.Setenv(kv[0], kv[1])
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"plant":      cmdPlant,
			"nosecret":   cmdNoSecret,
			"sarifvalid": cmdSARIFValid,
			"mkimage":    cmdMkImage,
		},
	})
}

// plant RULE FILE [SEED]: append the corpus sample of RULE to FILE.
func cmdPlant(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: plant RULE FILE [SEED]")
	}
	seed := uint64(1)
	if len(args) == 3 {
		fmt.Sscan(args[2], &seed)
	}
	for _, s := range corpus.Samples(seed) {
		if s.Rule != args[0] {
			continue
		}
		p := ts.MkAbs(args[1])
		os.MkdirAll(filepath.Dir(p), 0o755)
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		ts.Check(err)
		_, err = f.WriteString(s.Text + "\n")
		ts.Check(err)
		ts.Check(f.Close())
		sp := plantedSecrets(ts)
		*sp = append(*sp, s.Secret)
		return
	}
	ts.Fatalf("no sample for rule %s", args[0])
}

// nosecret FILE...: no planted secret appears in the files (stdout and
// stderr name the last command's output).
func cmdNoSecret(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: nosecret FILE...")
	}
	secrets := *plantedSecrets(ts)
	if len(secrets) == 0 {
		ts.Fatalf("nosecret: nothing planted")
	}
	for _, name := range args {
		data := ts.ReadFile(name)
		for _, s := range secrets {
			if strings.Contains(data, s) {
				ts.Fatalf("%s contains a planted secret in full", name)
			}
			// a long enough piece of it is a leak too
			if len(s) >= 24 && strings.Contains(data, s[len(s)/2:]) {
				ts.Fatalf("%s contains the second half of a planted secret", name)
			}
		}
	}
}

// mkimage FILE: write the corpus test image as a docker save tarball.
func cmdMkImage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mkimage FILE")
	}
	pl, _, err := corpus.WriteDockerSave(ts.MkAbs(args[0]), 1)
	ts.Check(err)
	sp := plantedSecrets(ts)
	for _, p := range pl {
		*sp = append(*sp, p.Secret)
	}
}

// sarifvalid FILE: check FILE against the required structure of the SARIF
// 2.1.0 schema (see validateSARIF).
func cmdSARIFValid(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: sarifvalid FILE")
	}
	err := validateSARIF([]byte(ts.ReadFile(args[0])))
	if neg {
		if err == nil {
			ts.Fatalf("%s: valid SARIF, want invalid", args[0])
		}
		return
	}
	if err != nil {
		ts.Fatalf("%s: %v", args[0], err)
	}
}

// validateSARIF checks a log against the parts of the SARIF 2.1.0 JSON
// schema (sarif-schema-2.1.0.json) that code-scanning services enforce:
// required properties, their types, enumerations and minimums. The schema
// itself cannot be fetched here, so these constraints are transcribed.
func validateSARIF(data []byte) error {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	obj := func(v any, path string) map[string]any {
		m, ok := v.(map[string]any)
		if !ok {
			bad("%s: want object", path)
		}
		return m
	}
	arr := func(v any, path string) []any {
		a, ok := v.([]any)
		if !ok {
			bad("%s: want array", path)
		}
		return a
	}
	str := func(m map[string]any, key, path string, required bool) string {
		v, ok := m[key]
		if !ok {
			if required {
				bad("%s.%s: required", path, key)
			}
			return ""
		}
		s, ok := v.(string)
		if !ok {
			bad("%s.%s: want string", path, key)
		}
		return s
	}
	if v := str(doc, "version", "$", true); v != "2.1.0" {
		bad("$.version = %q, want 2.1.0", v)
	}
	if s := str(doc, "$schema", "$", false); s != "" && !strings.Contains(s, "sarif") {
		bad("$.$schema = %q", s)
	}
	levels := map[string]bool{"none": true, "note": true, "warning": true, "error": true}
	runs := arr(doc["runs"], "$.runs")
	for i, rv := range runs {
		rp := fmt.Sprintf("$.runs[%d]", i)
		run := obj(rv, rp)
		if run == nil {
			continue
		}
		tool := obj(run["tool"], rp+".tool")
		if tool == nil {
			continue
		}
		driver := obj(tool["driver"], rp+".tool.driver")
		if driver == nil {
			continue
		}
		str(driver, "name", rp+".tool.driver", true)
		ruleIDs := map[string]int{}
		if rs, ok := driver["rules"]; ok {
			for k, r := range arr(rs, rp+".tool.driver.rules") {
				p := fmt.Sprintf("%s.tool.driver.rules[%d]", rp, k)
				m := obj(r, p)
				if m == nil {
					continue
				}
				id := str(m, "id", p, true)
				ruleIDs[id] = k
				if sd, ok := m["shortDescription"]; ok {
					if d := obj(sd, p+".shortDescription"); d != nil {
						str(d, "text", p+".shortDescription", true)
					}
				}
				if dc, ok := m["defaultConfiguration"]; ok {
					if d := obj(dc, p+".defaultConfiguration"); d != nil {
						if l := str(d, "level", p+".defaultConfiguration", false); l != "" && !levels[l] {
							bad("%s.defaultConfiguration.level = %q", p, l)
						}
					}
				}
			}
		}
		if invs, ok := run["invocations"]; ok {
			for k, iv := range arr(invs, rp+".invocations") {
				p := fmt.Sprintf("%s.invocations[%d]", rp, k)
				m := obj(iv, p)
				if m == nil {
					continue
				}
				if _, ok := m["executionSuccessful"].(bool); !ok {
					bad("%s.executionSuccessful: required boolean", p)
				}
				ns, ok := m["toolExecutionNotifications"]
				if !ok {
					continue
				}
				for n, nv := range arr(ns, p+".toolExecutionNotifications") {
					np := fmt.Sprintf("%s.toolExecutionNotifications[%d]", p, n)
					nm := obj(nv, np)
					if nm == nil {
						continue
					}
					if msg := obj(nm["message"], np+".message"); msg != nil {
						str(msg, "text", np+".message", true)
					}
					if l := str(nm, "level", np, false); l != "" && !levels[l] {
						bad("%s.level = %q", np, l)
					}
					if d, ok := nm["descriptor"]; ok {
						if dm := obj(d, np+".descriptor"); dm != nil {
							str(dm, "id", np+".descriptor", true)
						}
					}
				}
			}
		}
		results, ok := run["results"]
		if !ok {
			continue
		}
		for k, r := range arr(results, rp+".results") {
			p := fmt.Sprintf("%s.results[%d]", rp, k)
			m := obj(r, p)
			if m == nil {
				continue
			}
			msg := obj(m["message"], p+".message")
			if msg != nil {
				str(msg, "text", p+".message", true)
			}
			id := str(m, "ruleId", p, false)
			if idx, ok := m["ruleIndex"]; ok {
				f, isNum := idx.(float64)
				if !isNum || f < 0 || f != float64(int(f)) {
					bad("%s.ruleIndex: want integer >= 0", p)
				} else if want, ok := ruleIDs[id]; ok && int(f) != want {
					bad("%s.ruleIndex = %d, rule %s is at %d", p, int(f), id, want)
				}
			}
			if l := str(m, "level", p, false); l != "" && !levels[l] {
				bad("%s.level = %q", p, l)
			}
			for n, lv := range arr(m["locations"], p+".locations") {
				lp := fmt.Sprintf("%s.locations[%d]", p, n)
				loc := obj(lv, lp)
				if loc == nil {
					continue
				}
				phys := obj(loc["physicalLocation"], lp+".physicalLocation")
				if phys == nil {
					continue
				}
				if al := obj(phys["artifactLocation"], lp+".physicalLocation.artifactLocation"); al != nil {
					if u := str(al, "uri", lp+".physicalLocation.artifactLocation", true); u == "" || strings.ContainsAny(u, " \n\\") {
						bad("%s.physicalLocation.artifactLocation.uri = %q: not a URI reference", lp, u)
					}
				}
				if rg, ok := phys["region"]; ok {
					reg := obj(rg, lp+".physicalLocation.region")
					for _, key := range []string{"startLine", "startColumn", "endLine", "endColumn"} {
						if v, ok := reg[key]; ok {
							if f, isNum := v.(float64); !isNum || f < 1 || f != float64(int(f)) {
								bad("%s.physicalLocation.region.%s: want integer >= 1", lp, key)
							}
						}
					}
				}
			}
			if pf, ok := m["partialFingerprints"]; ok {
				for k, v := range obj(pf, p+".partialFingerprints") {
					if _, ok := v.(string); !ok {
						bad("%s.partialFingerprints.%s: want string", p, k)
					}
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid SARIF 2.1.0:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

func TestValidateSARIFRejects(t *testing.T) {
	for _, tc := range []struct{ name, doc string }{
		{"not json", `{`},
		{"wrong version", `{"version":"2.0.0","runs":[]}`},
		{"no runs", `{"version":"2.1.0"}`},
		{"no driver name", `{"version":"2.1.0","runs":[{"tool":{"driver":{}}}]}`},
		{"bad level", `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"k"}},"results":[{"message":{"text":"m"},"level":"fatal","locations":[]}]}]}`},
		{"line zero", `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"k"}},"results":[{"message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a"},"region":{"startLine":0}}}]}]}]}`},
		{"no message", `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"k"}},"results":[{"locations":[]}]}]}`},
		{"rule without id", `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"k","rules":[{}]}}}]}`},
		{"invocation without executionSuccessful", `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"k"}},"invocations":[{}]}]}`},
		{"notification without message", `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"k"}},"invocations":[{"executionSuccessful":false,"toolExecutionNotifications":[{"level":"error"}]}]}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := validateSARIF([]byte(tc.doc)); err == nil {
				t.Errorf("validateSARIF(%s) = nil, want an error", tc.doc)
			}
		})
	}
	ok := `{"version":"2.1.0","$schema":"https://json.schemastore.org/sarif-2.1.0.json","runs":[{"tool":{"driver":{"name":"k","rules":[{"id":"r"}]}},"results":[{"ruleId":"r","ruleIndex":0,"level":"error","message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a/b"},"region":{"startLine":3}}}]}]}]}`
	if err := validateSARIF([]byte(ok)); err != nil {
		t.Errorf("valid log rejected: %v", err)
	}
}

// TestScanOwnSource scans this repository. Findings in the scanner's own
// files (rules, corpus, scripts, docs) fail the test: fake credentials must
// be assembled at run time. Findings elsewhere belong to other packages'
// fixtures and are logged for their owners.
func TestScanOwnSource(t *testing.T) {
	var out, errb strings.Builder
	code := cli.Main(t.Context(), []string{"scan", "--format", "json", "--progress", "never", "../.."}, strings.NewReader(""), &out, &errb)
	if code == 2 {
		t.Fatalf("keyward scan ../.. failed: %s", errb.String())
	}
	var rep struct {
		Findings []struct {
			RuleID string `json:"rule_id"`
			Path   string `json:"path"`
			Line   int    `json:"line"`
		} `json:"findings"`
		Files int `json:"files"`
	}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Files < 50 {
		t.Errorf("scanned %d files of the repository, want many more", rep.Files)
	}
	mine := []string{"../../internal/scan/", "../../internal/cli/scan", "../../internal/cli/testdata/scan/", "../../docs/scan.md", "../../.pre-commit-hooks.yaml"}
	for _, f := range rep.Findings {
		own := false
		for _, p := range mine {
			if strings.HasPrefix(f.Path, p) {
				own = true
			}
		}
		if own {
			t.Errorf("%s:%d: %s in the scanner's own source", f.Path, f.Line, f.RuleID)
		} else {
			t.Logf("%s:%d: %s (another package's fixture)", f.Path, f.Line, f.RuleID)
		}
	}
}

// TestPreCommitHooksFile checks the pre-commit framework manifest: each
// hook's entry is a keyward scan command line that runs clean in an empty
// repository.
func TestPreCommitHooksFile(t *testing.T) {
	b, err := os.ReadFile("../../.pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID            string   `yaml:"id"`
		Entry         string   `yaml:"entry"`
		Language      string   `yaml:"language"`
		PassFilenames *bool    `yaml:"pass_filenames"`
		Stages        []string `yaml:"stages"`
	}
	if err := yaml.Unmarshal(b, &hooks); err != nil {
		t.Fatal(err)
	}
	if len(hooks) == 0 {
		t.Fatal("no hooks")
	}
	dir := t.TempDir()
	if _, err := corpus.Git(dir, "init", "-q"); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, h := range hooks {
		args := strings.Fields(h.Entry)
		if h.ID == "" || len(args) < 3 || args[0] != "keyward" || args[1] != "scan" || h.PassFilenames == nil || *h.PassFilenames {
			t.Errorf("hook %+v: want an id, entry \"keyward scan …\" and pass_filenames: false", h)
			continue
		}
		var out, errb strings.Builder
		if code := cli.Main(t.Context(), args[1:], strings.NewReader(""), &out, &errb); code != 0 {
			t.Errorf("hook %s: %q exits %d: %s", h.ID, h.Entry, code, errb.String())
		}
	}
}
