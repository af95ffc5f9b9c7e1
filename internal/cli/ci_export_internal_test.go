package cli

import (
	"strings"
	"testing"
)

// parseGitHubFile reads a $GITHUB_ENV file as the runner does: NAME<<DELIM,
// the value's lines, then a line equal to DELIM.
func parseGitHubFile(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		name, d, ok := strings.Cut(lines[i], "<<")
		if !ok {
			t.Fatalf("line %d: no heredoc", i+1)
		}
		var val []string
		for i++; i < len(lines) && lines[i] != d; i++ {
			val = append(val, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("delimiter %q never closes", d)
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

// FuzzGitHubFileBlock: whatever the value, the runner reads back exactly
// it, and every non-blank line of it is masked (as workflow-command data
// that unescapes to the line).
func FuzzGitHubFileBlock(f *testing.F) {
	for _, s := range []string{"s3cr3t", "two\nlines", "KEYWARD_EOF_x\nEOF", "%0A\r\n", "a\"b\\c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.Contains(v, "\r") {
			v = strings.ReplaceAll(v, "\r", "") // the runner splits on \n and drops \r
		}
		b, err := githubFileBlock("NAME", v)
		if err != nil {
			t.Fatal(err)
		}
		if got := parseGitHubFile(t, b)["NAME"]; got != v {
			t.Fatalf("read back %q, want %q", got, v)
		}
		masks := map[string]bool{}
		for _, m := range maskForms(v) {
			e := escapeWorkflowData(m)
			if strings.ContainsAny(e, "\r\n") {
				t.Fatalf("mask data %q spans lines", e)
			}
			un := strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(e)
			masks[un] = true
		}
		for _, line := range strings.Split(v, "\n") {
			if strings.TrimSpace(line) != "" && !masks[line] {
				t.Fatalf("line %q of the value is not masked", line)
			}
		}
	})
}
