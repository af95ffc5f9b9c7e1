package logical_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

func TestDuration(t *testing.T) {
	tests := []struct {
		in   any
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"1h30m", 90 * time.Minute, true},
		{"3600", time.Hour, true},
		{json.Number("60"), time.Minute, true},
		{float64(2), 2 * time.Second, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"", 0, true},
		{"-5s", 0, false},
		{"forever", 0, false},
		{json.Number("-1"), 0, false},
		{[]any{"1h"}, 0, false},
		{json.Number("1e300"), 0, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.in), func(t *testing.T) {
			got, _, err := logical.Duration(map[string]any{"ttl": tt.in}, "ttl")
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("Duration(%v) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

// Field errors name the field and never echo the value.
func TestFieldErrorsNeverEchoValues(t *testing.T) {
	const canary = "s3cr3t-canary-value"
	data := map[string]any{"f": map[string]any{"x": canary}}
	checks := []func() error{
		func() error { _, _, err := logical.Str(data, "f"); return err },
		func() error { _, _, err := logical.Bool(data, "f"); return err },
		func() error { _, _, err := logical.Int(data, "f"); return err },
		func() error { _, _, err := logical.Duration(data, "f"); return err },
		func() error { _, _, err := logical.Strings(data, "f"); return err },
		func() error {
			_, _, err := logical.Int(map[string]any{"f": canary}, "f")
			return err
		},
		func() error {
			_, _, err := logical.StringMap(map[string]any{"f": []any{canary}}, "f")
			return err
		},
		func() error { return logical.UnknownFields(map[string]any{"known": 1, "zz": canary}, "known") },
	}
	for i, check := range checks {
		err := check()
		if err == nil {
			t.Errorf("check %d: no error", i)
			continue
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("check %d: error %q echoes the value", i, err)
		}
		if status, _, _ := logical.StatusOf(err); status != http.StatusBadRequest {
			t.Errorf("check %d: status %d, want 400", i, status)
		}
	}
}

func TestLooseShapes(t *testing.T) {
	data := map[string]any{"list": "a, b,,c", "map": "k=v, x = y", "b": "true", "n": json.Number("42"), "ns": "7"}
	if l, _, _ := logical.Strings(data, "list"); strings.Join(l, "|") != "a|b|c" {
		t.Errorf("Strings = %v", l)
	}
	if m, _, _ := logical.StringMap(data, "map"); m["k"] != "v" || m["x"] != "y" {
		t.Errorf("StringMap = %v", m)
	}
	if b, ok, _ := logical.Bool(data, "b"); !b || !ok {
		t.Errorf("Bool = %v %v", b, ok)
	}
	if n, _, _ := logical.Int(data, "n"); n != 42 {
		t.Errorf("Int(json.Number) = %d", n)
	}
	if n, _, _ := logical.Int(data, "ns"); n != 7 {
		t.Errorf("Int(string) = %d", n)
	}
	if _, ok, err := logical.Str(data, "absent"); ok || err != nil {
		t.Errorf("absent field: ok=%v err=%v", ok, err)
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err    error
		status int
		known  bool
	}{
		{nil, 200, true},
		{logical.ErrPermissionDenied, 403, true},
		{fmt.Errorf("wrapped: %w", logical.ErrPermissionDenied), 403, true},
		{logical.ErrUnsupportedPath, 404, true},
		{logical.ErrUnsupportedOperation, 405, true},
		{logical.ErrInvalidRequest, 400, true},
		{logical.ErrSealed, 503, true},
		{logical.Errorf(429, "slow down"), 429, true},
		{logical.Errorf(200, "odd"), 500, true},
		{errors.New("disk on fire"), 500, false},
	}
	for _, tt := range tests {
		status, msg, known := logical.StatusOf(tt.err)
		if status != tt.status || known != tt.known {
			t.Errorf("StatusOf(%v) = %d %q %v; want %d %v", tt.err, status, msg, known, tt.status, tt.known)
		}
		if !known && msg != "internal error" {
			t.Errorf("unknown error leaks its text: %q", msg)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1h", "90s", "3600", "7d", "", "-1s", "1e9", "99999999999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := logical.ParseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v: negative", s, d)
		}
	})
}

// The unknown-field rule (issue 10 item 9): every unknown field is named,
// near-misses with the field they were meant to be, values never.
func TestUnknownFields(t *testing.T) {
	create := []string{"policies", "ttl", "explicit_max_ttl", "num_uses", "id", "period", "renewable"}
	tests := []struct {
		name string
		data map[string]any
		want string // "" for no error
	}{
		{"known only", map[string]any{"ttl": "1h", "num_uses": 1}, ""},
		{"empty", nil, ""},
		{"typo", map[string]any{"num_usess": 1}, `unknown field "num_usess" (did you mean "num_uses"?)`},
		{"swapped letters", map[string]any{"explicit_max_tll": "1h"}, `unknown field "explicit_max_tll" (did you mean "explicit_max_ttl"?)`},
		{"role-style name", map[string]any{"token_policies": "a"}, `unknown field "token_policies" (did you mean "policies"?)`},
		{"case", map[string]any{"TTL": "1h"}, `unknown field "TTL" (did you mean "ttl"?)`},
		{"no near miss", map[string]any{"bound_cidrs": "10.0.0.0/8"}, `unknown field "bound_cidrs"`},
		{"short names need to be close", map[string]any{"ip": "x"}, `unknown field "ip"`},
		{"several, sorted", map[string]any{"zz": 1, "bound_cidrs": 1, "num_usess": 1},
			`unknown fields "bound_cidrs", "num_usess" (did you mean "num_uses"?), "zz"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := logical.UnknownFields(tt.data, create...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("UnknownFields = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("UnknownFields = %v\nwant %s", err, tt.want)
			}
			if status, _, _ := logical.StatusOf(err); status != http.StatusBadRequest {
				t.Errorf("status %d, want 400", status)
			}
		})
	}
}

func TestUnknownFieldsBoundsTheMessage(t *testing.T) {
	data := map[string]any{strings.Repeat("k", 10000): 1}
	for i := range 100 {
		data[fmt.Sprintf("f%03d", i)] = i
	}
	err := logical.UnknownFields(data, "known")
	if err == nil || len(err.Error()) > 1024 {
		t.Fatalf("UnknownFields over 101 fields = %d bytes: %v", len(fmt.Sprint(err)), err)
	}
	if !strings.Contains(err.Error(), "more") {
		t.Errorf("error %q does not say more fields were left out", err)
	}
}

func TestUnknownFieldWarnings(t *testing.T) {
	if w := logical.UnknownFieldWarnings(map[string]any{"max_versions": 1}, "max_versions"); w != nil {
		t.Errorf("warnings for known fields: %v", w)
	}
	w := logical.UnknownFieldWarnings(map[string]any{"max_version": 1}, "max_versions", "cas_required")
	want := `endpoint ignored these unrecognized parameters: "max_version" (did you mean "max_versions"?)`
	if len(w) != 1 || w[0] != want {
		t.Errorf("warnings = %q, want [%s]", w, want)
	}
}

func TestNotSupported(t *testing.T) {
	for _, zero := range []any{nil, "", "0", false, float64(0), json.Number("0"), []any{}, map[string]any{}} {
		if err := logical.NotSupported(map[string]any{"entity_alias": zero}, "entity_alias"); err != nil {
			t.Errorf("NotSupported(%#v) = %v, want nil for a zero value", zero, err)
		}
	}
	for _, v := range []any{"alice", true, float64(2), []any{"a"}} {
		err := logical.NotSupported(map[string]any{"entity_alias": v}, "entity_alias")
		if status, _, _ := logical.StatusOf(err); status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(err), "entity_alias") {
			t.Errorf("NotSupported(%#v) = %v, want a 400 naming the field", v, err)
		}
	}
}
