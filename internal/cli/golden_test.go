package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// keyward runs the CLI in-process against n with the root token (or the
// KEYWARD_TOKEN already set) and returns stdout, stderr and the exit code.
func keyward(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// startCLI starts a server and points the CLI's environment at it.
func startCLI(t *testing.T) *nodetest.Node {
	t.Helper()
	n := nodetest.Start(t)
	t.Setenv("KEYWARD_ADDR", n.URL)
	t.Setenv("KEYWARD_TOKEN", n.RootToken.Reveal())
	t.Setenv("VAULT_ADDR", "")
	t.Setenv("VAULT_TOKEN", "")
	t.Setenv("KEYWARD_FORMAT", "")
	t.Setenv("HOME", t.TempDir())
	return n
}

func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := keyward(t, stdin, args...)
	if code != 0 {
		t.Fatalf("keyward %s: exit %d\nstderr: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// Values that change from run to run are replaced before comparing.
var normalisers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "<time>"},
	{regexp.MustCompile(`(?m)^((?:accessor|creation_time|ttl)\s+)\S+$`), "${1}<varies>"},
	{regexp.MustCompile(`(?m)^(\S+/\s+\S+\s+)\S+(\s)`), "${1}<accessor>${2}"},
	// Header rules are as wide as their table, which a timestamp varies.
	{regexp.MustCompile(`(?m)^=+ (.+?) =+$`), "== $1 =="},
}

func normalise(s string) string {
	for _, n := range normalisers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	got = normalise(got)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run TestGolden -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s: output differs from %s\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
}

func TestGoldenTables(t *testing.T) {
	startCLI(t)
	mustRun(t, "", "kv", "put", "secret/app/db", "user=app", "password=p1", "port=5432")
	mustRun(t, "", "kv", "put", "secret/app/db", "user=app", "password=p2", "port=5432")
	mustRun(t, "", "secrets", "enable", "-path=team", "-description=team secrets", "-version=2", "kv")
	mustRun(t, `path "secret/data/app/*" { capabilities = ["read"] }`, "policy", "write", "ci-read", "-")
	tok := strings.TrimSpace(mustRun(t, "", "token", "create", "-policy=ci-read", "-ttl=10m", "-display-name=ci job", "-metadata=job=42", "-field=token"))

	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"kv_get", "", []string{"kv", "get", "secret/app/db"}},
		{"kv_get_v1", "", []string{"kv", "get", "-version=1", "secret/app/db"}},
		{"kv_metadata_get", "", []string{"kv", "metadata", "get", "secret/app/db"}},
		{"token_lookup", tok + "\n", []string{"token", "lookup", "-"}},
		{"secrets_list", "", []string{"secrets", "list"}},
		{"secrets_list_detailed", "", []string{"secrets", "list", "-detailed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := mustRun(t, tc.stdin, tc.args...)
			if strings.Contains(out, tok) {
				t.Fatalf("keyward %s printed the token", strings.Join(tc.args, " "))
			}
			checkGolden(t, tc.name, out)
		})
	}
}
