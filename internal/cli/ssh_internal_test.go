package cli

import (
	"slices"
	"testing"
)

func TestNormalizeArgsLeavesSSHArguments(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{[]string{"ssh", "-role", "ops", "u@h", "-vvv", "ls", "-la"}, []string{"ssh", "--role", "ops", "u@h", "-vvv", "ls", "-la"}},
		{[]string{"ssh", "-role=ops", "-ttl", "5m", "h", "-oBatchMode=yes"}, []string{"ssh", "--role=ops", "--ttl", "5m", "h", "-oBatchMode=yes"}},
		{[]string{"ssh", "--principal", "p", "-mount", "m", "h", "-abc"}, []string{"ssh", "--principal", "p", "--mount", "m", "h", "-abc"}},
		{[]string{"ssh", "-role", "ops", "--", "-vv"}, []string{"ssh", "--role", "ops", "--", "-vv"}},
		{[]string{"ssh", "sign", "-role", "ops", "-principals", "a"}, []string{"ssh", "sign", "--role", "ops", "--principals", "a"}},
		{[]string{"kv", "get", "-field", "x", "secret/a", "-format", "json"}, []string{"kv", "get", "--field", "x", "secret/a", "--format", "json"}},
	} {
		if got := normalizeArgs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("normalizeArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
