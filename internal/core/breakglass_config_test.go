package core

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func decodeBody(t testing.TB, body string) (map[string]any, bool) {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(body))
	d.UseNumber() // as the HTTP layer decodes
	var m map[string]any
	if d.Decode(&m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

func TestParseBreakGlassConfig(t *testing.T) {
	cases := []struct {
		name, body, err string
		want            *breakGlassConfig
	}{
		{"defaults", `{"policies":"emergency"}`, "", &breakGlassConfig{Policies: []string{"emergency"}, TTL: breakGlassDefaultTTL, Holders: HoldersUnsealKeys}},
		{"officers default quorum", `{"policies":["b","a","a"],"holders":"Officers","officers":["UserPass/Alice","userpass/bob"," entity:e1 "],"ttl":"15m"}`, "",
			&breakGlassConfig{Policies: []string{"a", "b"}, TTL: 15 * 60e9, Holders: HoldersOfficers, Quorum: 2, Officers: []string{"userpass/alice", "userpass/bob", "entity:e1"}}},
		{"no policy", `{}`, "name at least one emergency policy", nil},
		{"root", `{"policies":["root"]}`, "cannot be root", nil},
		{"ttl too long", `{"policies":"p","ttl":"5h"}`, "ttl must be between", nil},
		{"ttl zero", `{"policies":"p","ttl":0}`, "ttl must be between", nil},
		{"unknown holders", `{"policies":"p","holders":"admins"}`, "holders must be", nil},
		{"officers without list", `{"policies":"p","holders":"officers"}`, "name the break-glass officers", nil},
		{"quorum one", `{"policies":"p","holders":"officers","officers":["u/a","u/b"],"quorum":1}`, "quorum must be at least 2", nil},
		{"quorum above n", `{"policies":"p","holders":"officers","officers":["u/a","u/b"],"quorum":3}`, "at most the number of officers", nil},
		{"duplicate officer", `{"policies":"p","holders":"officers","officers":["u/a","U/A"]}`, "listed twice", nil},
		{"token mount officer", `{"policies":"p","holders":"officers","officers":["token/a","u/b"]}`, "is not MOUNT/NAME", nil},
		{"officers with keys", `{"policies":"p","officers":["u/a"]}`, "apply only to holders", nil},
		{"unknown field", `{"policies":"p","shares":3}`, "shares", nil},
		{"every problem at once", `{"policies":["root"],"ttl":"9h","holders":"x"}`, "cannot be root", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, _ := decodeBody(t, tc.body)
			got, err := parseBreakGlassConfig(data)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseBreakGlassConfig(%s) error = %v, want %q", tc.body, err, tc.err)
				}
				if tc.name == "every problem at once" && (!strings.Contains(err.Error(), "ttl") || !strings.Contains(err.Error(), "holders")) {
					t.Fatalf("not every problem reported: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseBreakGlassConfig(%s): %v", tc.body, err)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tc.want)
			if !bytes.Equal(gj, wj) {
				t.Fatalf("parseBreakGlassConfig(%s) = %s, want %s", tc.body, gj, wj)
			}
		})
	}
}

// FuzzBreakGlassConfig: whatever the body, an accepted configuration is
// valid (never root, a bounded TTL, a reachable quorum of distinct
// officers) and survives the stored round trip unchanged.
func FuzzBreakGlassConfig(f *testing.F) {
	for _, s := range []string{`{"policies":"emergency"}`, `{"policies":["a"],"holders":"officers","officers":["userpass/a","jwt/b"],"quorum":2,"officer_policy":"bg"}`,
		`{"policies":"p","ttl":"4h","quorum":5}`, `{"policies":["root","x"]}`, `{"policies":"p","holders":"officers","officers":"u/a,u/b,entity:x","ttl":3600}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		data, ok := decodeBody(t, body)
		if !ok {
			return
		}
		cfg, err := parseBreakGlassConfig(data)
		if err != nil {
			return
		}
		if len(cfg.Policies) == 0 || slices.Contains(cfg.Policies, "root") {
			t.Fatalf("accepted policies %q", cfg.Policies)
		}
		if cfg.TTL < breakGlassMinTTL || cfg.TTL > breakGlassMaxTTL {
			t.Fatalf("accepted ttl %s", cfg.TTL)
		}
		if cfg.Holders == HoldersOfficers {
			if cfg.Quorum < 2 || cfg.Quorum > len(cfg.Officers) {
				t.Fatalf("accepted quorum %d of %d officers", cfg.Quorum, len(cfg.Officers))
			}
			for _, o := range cfg.Officers {
				if !validOfficerName(o) || normalizeOfficer(o) != o {
					t.Fatalf("accepted officer %q", o)
				}
			}
		} else if cfg.Holders != HoldersUnsealKeys {
			t.Fatalf("accepted holders %q", cfg.Holders)
		}
		raw, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var back breakGlassConfig
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if err := back.validate(); err != nil {
			t.Fatalf("stored config no longer validates: %v", err)
		}
		raw2, _ := json.Marshal(&back)
		if !bytes.Equal(raw, raw2) {
			t.Fatalf("round trip changed the config: %s -> %s", raw, raw2)
		}
	})
}
