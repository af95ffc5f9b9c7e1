package passpol_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/passpol"
)

const vaultExample = `length = 20

rule "charset" {
  charset = "abcdefghijklmnopqrstuvwxyz"
  min-chars = 1
}
rule "charset" {
  charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
  min-chars = 1
}
rule "charset" {
  charset = "0123456789"
  min-chars = 1
}
rule "charset" {
  charset = "!@#$%^&*"
  min-chars = 1
}
`

func TestParse(t *testing.T) {
	tests := []struct {
		name, src string
		wantErr   string
	}{
		{"vault example", vaultExample, ""},
		{"one rule", "length = 8\nrule \"charset\" { charset = \"ab\" }", ""},
		{"too short", "length = 3\nrule \"charset\" { charset = \"ab\" }", "length"},
		{"too long", "length = 101\nrule \"charset\" { charset = \"ab\" }", "length"},
		{"no rules", "length = 10", "at least one"},
		{"min chars exceed length", "length = 4\nrule \"charset\" { charset = \"ab\"\n min-chars = 5 }", "add up"},
		{"negative min", "length = 4\nrule \"charset\" { charset = \"ab\"\n min-chars = -1 }", "negative"},
		{"empty charset", "length = 4\nrule \"charset\" { charset = \"\" }", "non-empty"},
		{"space in charset", "length = 4\nrule \"charset\" { charset = \"a b\" }", "space"},
		{"unknown rule type", "length = 4\nrule \"regex\" { charset = \"ab\" }", "unsupported rule"},
		{"unknown key", "length = 4\nfoo = 1\nrule \"charset\" { charset = \"ab\" }", "unknown key"},
		{"unknown rule field", "length = 4\nrule \"charset\" { charset = \"ab\"\n max = 1 }", "unknown rule field"},
		{"length twice", "length = 4\nlength = 5\nrule \"charset\" { charset = \"ab\" }", "password policy"},
		{"bad hcl", "length = = 4", "invalid HCL"},
		{"length not int", "length = \"x\"\nrule \"charset\" { charset = \"ab\" }", "integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := passpol.Parse(tt.src)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestGenerateSatisfiesPolicy(t *testing.T) {
	p, err := passpol.Parse(vaultExample)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 500 {
		pw, err := p.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if !p.Check(pw) {
			t.Fatalf("generated password does not satisfy the policy (length %d)", len(pw))
		}
		if seen[pw] {
			t.Fatal("password repeated")
		}
		seen[pw] = true
	}
	if pw, _ := passpol.Default.Generate(); !passpol.Default.Check(pw) {
		t.Fatal("default policy output fails its own check")
	}
}

// The sampler has no modulo bias: with n = 3 every value appears about a
// third of the time (tolerance far wider than sampling noise at 60,000 draws).
func TestUniformHasNoVisibleBias(t *testing.T) {
	var counts [3]int
	const draws = 60000
	for range draws {
		v, err := passpol.Uniform(3)
		if err != nil {
			t.Fatal(err)
		}
		counts[v]++
	}
	for i, c := range counts {
		if c < draws/3-1500 || c > draws/3+1500 {
			t.Errorf("value %d drawn %d times of %d", i, c, draws)
		}
	}
}

func TestStoreBackend(t *testing.T) {
	s := passpol.NewStore(&logicaltest.InmemStorage{})
	do := func(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
		return s.HandleRequest(t.Context(), &logical.Request{Operation: op, Path: path, Data: data})
	}
	if _, err := do(logical.UpdateOperation, "policies/password/strong", map[string]any{"policy": vaultExample}); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := do(logical.ReadOperation, "policies/password/strong", nil)
	if err != nil || resp.Data["policy"] != vaultExample {
		t.Fatalf("read: %v %v", resp, err)
	}
	resp, err = do(logical.ReadOperation, "policies/password/strong/generate", nil)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	p, _ := passpol.Parse(vaultExample)
	if pw, _ := resp.Data["password"].(string); !p.Check(pw) {
		t.Fatal("generated password fails the policy")
	}
	resp, err = do(logical.ListOperation, "policies/password/", nil)
	if err != nil || len(resp.Data["keys"].([]string)) != 1 {
		t.Fatalf("list: %v %v", resp, err)
	}
	if _, err := do(logical.UpdateOperation, "policies/password/bad", map[string]any{"policy": "length = 2"}); status(err) != http.StatusBadRequest {
		t.Fatalf("invalid policy: %v, want 400", err)
	}
	if _, err := do(logical.UpdateOperation, "policies/password/../x", map[string]any{"policy": vaultExample}); status(err) != http.StatusBadRequest {
		t.Fatalf("bad name: %v, want 400", err)
	}
	if _, err := do(logical.DeleteOperation, "policies/password/strong", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := do(logical.ReadOperation, "policies/password/strong", nil); status(err) != http.StatusNotFound {
		t.Fatalf("read deleted: %v, want 404", err)
	}
	if _, err := s.Generate(t.Context(), "strong"); err == nil {
		t.Fatal("generated from a deleted policy")
	}
	if pw, err := s.Generate(t.Context(), ""); err != nil || !passpol.Default.Check(pw) {
		t.Fatalf("default generate: %v", err)
	}
}

func status(err error) int {
	c, _, _ := logical.StatusOf(err)
	return c
}

// FuzzParse: the parser never panics, and whatever it accepts generates
// passwords that satisfy it.
func FuzzParse(f *testing.F) {
	f.Add(vaultExample)
	f.Add("length = 8\nrule \"charset\" { charset = \"ab\"\n min-chars = 8 }")
	f.Add("length = 4\nrule \"charset\" { charset = \"\u00e9\u4e16\" }")
	f.Add("rule \"charset\" { rule \"charset\" {} }")
	f.Add("length = [1]")
	f.Fuzz(func(t *testing.T, src string) {
		p, err := passpol.Parse(src)
		if err != nil {
			return
		}
		pw, err := p.Generate()
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		if !p.Check(pw) {
			t.Fatalf("accepted policy %q generated a password it rejects", src)
		}
	})
}
