package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newDrillCmd) }

// drillScenarios are the patterns keyward drill can play, in run order
// (stolen-token last: its containment revokes the drill's token).
var drillScenarios = []string{"brute-force", "bulk-read", "off-hours", "canary", "stolen-token"}

// drillScenarioRule maps a scenario to the rule it exercises.
var drillScenarioRule = map[string]string{"brute-force": "brute-force", "bulk-read": "bulk-read",
	"off-hours": "off-hours", "canary": "canary", "stolen-token": "stolen-token"}

// maxDrillCount bounds the requests one scenario makes (a rule tuned to
// a threshold above it is refused rather than flooding the server).
const maxDrillCount = 1000

type drillResult struct {
	Scenario    string   `json:"scenario"`
	Rule        string   `json:"rule"`
	Pass        bool     `json:"pass"`
	AlertID     string   `json:"alert_id,omitempty"`
	Severity    string   `json:"severity,omitempty"`
	ToAlert     float64  `json:"seconds_to_alert,omitempty"`
	ToDelivery  float64  `json:"seconds_to_delivery,omitempty"`
	DeliveredTo []string `json:"delivered_to,omitempty"`
	Containment string   `json:"containment,omitempty"`
	Error       string   `json:"error,omitempty"`
}

type drillReport struct {
	Drill     string        `json:"drill"`
	Pass      bool          `json:"pass"`
	Error     string        `json:"error,omitempty"`
	Scenarios []drillResult `json:"scenarios"`
	Cleanup   []string      `json:"cleanup_errors,omitempty"`
}

func newDrillCmd(e *env) *cobra.Command {
	var (
		conn    connFlags
		jsonOut bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "drill [flags] stolen-token|brute-force|bulk-read|off-hours|canary|all",
		Short: "Play a breach pattern against the server and check it is detected and delivered",
		Long: `Breach drill: create a throw-away token and a temporary KV mount with fake
values, play an attack pattern with the token, and check that the server
raises the alert, takes the containment the drill expects (stolen-token:
the drill token is revoked) and delivers the alert to at least one sink.
The server's rules are never changed: the drill registers a drill scope
(sys/watch/drills) for its own token, so its alerts carry drill=ID and the
patterns that need it (off-hours, stolen-token) are judged by rule copies
for that token alone. Everything is removed afterwards; the drill's alerts
are resolved. Exit 0 when every scenario passed, 1 otherwise, with the
reason (no sink, a sink failing, detection or a rule disabled).

The token needs the policy in docs/watch.md (Drills).`,
		Example: `  keyward drill all
  keyward drill stolen-token --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var scenarios []string
			switch args[0] {
			case "all":
				scenarios = drillScenarios
			default:
				if !slices.Contains(drillScenarios, args[0]) {
					return usagef("unknown scenario %q (want %s or all)", args[0], strings.Join(drillScenarios, ", "))
				}
				scenarios = []string{args[0]}
			}
			if timeout < time.Second {
				return usagef("--timeout must be at least 1s")
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			tc, err := conn.client(e)
			if err != nil {
				return err
			}
			d := &drill{c: c, tc: tc, timeout: timeout, log: cmd.ErrOrStderr()}
			if jsonOut {
				d.log = io.Discard
			}
			rep := d.run(cmd.Context(), scenarios)
			if jsonOut {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printDrill(cmd.OutOrStdout(), rep)
			}
			if !rep.Pass {
				msg := rep.Error
				if msg == "" {
					var failed []string
					for _, r := range rep.Scenarios {
						if !r.Pass {
							failed = append(failed, r.Scenario+": "+r.Error)
						}
					}
					msg = "drill failed: " + strings.Join(failed, "; ")
				}
				return &exitError{code: ExitError, err: errors.New(msg)}
			}
			return nil
		},
	}
	conn.add(cmd)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the report as JSON (for CI)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for each alert and its delivery")
	return cmd
}

func printDrill(w io.Writer, rep *drillReport) {
	for _, r := range rep.Scenarios {
		status := "PASS"
		if !r.Pass {
			status = "FAIL"
		}
		line := fmt.Sprintf("%s %-13s rule=%s", status, r.Scenario, r.Rule)
		if r.AlertID != "" {
			line += fmt.Sprintf(" alert=%s after %.1fs", r.AlertID, r.ToAlert)
		}
		if len(r.DeliveredTo) > 0 {
			line += fmt.Sprintf(" delivered to %s after %.1fs", strings.Join(r.DeliveredTo, ","), r.ToDelivery)
		}
		if r.Containment != "" {
			line += " containment: " + r.Containment
		}
		if r.Error != "" {
			line += " — " + r.Error
		}
		fmt.Fprint(w, sanitizeLine(line))
	}
	if rep.Error != "" {
		fmt.Fprint(w, sanitizeLine("FAIL "+rep.Error))
	}
	for _, c := range rep.Cleanup {
		fmt.Fprint(w, sanitizeLine("cleanup: "+c))
	}
}

// drill is one run: the runner's client c, the drill token's client tc,
// and what it created (removed by cleanup).
type drill struct {
	c, tc   *api.Client
	timeout time.Duration
	log     io.Writer

	id       string
	mount    string
	policy   string
	canary   string
	scopes   []string
	tokens   []string // accessors
	mounted  bool
	policied bool
	role     bool
	sinks    map[string]sinkInfo
}

type sinkInfo struct {
	min            int
	escalationOnly bool
}

var drillSeverities = map[string]int{"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (d *drill) run(ctx context.Context, scenarios []string) *drillReport {
	d.id = "keyward-drill-" + randHex(4)
	rep := &drillReport{Drill: d.id, Scenarios: []drillResult{}}
	defer func() { rep.Cleanup = d.cleanup() }()
	if err := d.preflight(ctx); err != nil {
		rep.Error = err.Error()
		return rep
	}
	if err := d.setup(ctx, scenarios); err != nil {
		rep.Error = "setup: " + err.Error()
		return rep
	}
	rep.Pass = true
	for _, s := range scenarios {
		fmt.Fprintf(d.log, "drill %s: %s...\n", d.id, s)
		r := d.scenario(ctx, s)
		rep.Scenarios = append(rep.Scenarios, r)
		rep.Pass = rep.Pass && r.Pass
	}
	return rep
}

// preflight checks that detection runs and that sinks exist.
func (d *drill) preflight(ctx context.Context) error {
	if _, err := d.c.Read(ctx, "sys/watch/rules", nil); err != nil {
		if api.IsStatus(err, http.StatusNotFound) {
			return errors.New("detection is disabled on this server (watch { disable } or watch { disable_detection }): no rule can raise an alert")
		}
		return fmt.Errorf("read the rules: %w", err)
	}
	s, err := d.c.List(ctx, "sys/watch/sinks")
	if err != nil {
		if api.IsStatus(err, http.StatusNotFound) {
			return errors.New("alert delivery is not available on this server (no sys/watch/sinks)")
		}
		return fmt.Errorf("list the alert sinks: %w", err)
	}
	names := listKeys(s)
	if len(names) == 0 {
		return errors.New("no alert sink is configured: alerts are raised but reach nobody (keyward write sys/watch/sinks/NAME type=webhook url=...)")
	}
	d.sinks = map[string]sinkInfo{}
	for _, n := range names {
		cs, err := d.c.Read(ctx, "sys/watch/sinks/"+n, nil)
		if err != nil || cs == nil {
			return fmt.Errorf("read sink %s: %v", n, err)
		}
		si := sinkInfo{min: drillSeverities[str(cs.Data["min_severity"])]}
		si.escalationOnly, _ = cs.Data["escalation_only"].(bool)
		d.sinks[n] = si
	}
	return nil
}

func (d *drill) ruleSettings(ctx context.Context, rule string) (map[string]any, error) {
	s, err := d.c.Read(ctx, "sys/watch/rules/"+rule, nil)
	if err != nil {
		return nil, fmt.Errorf("read rule %s: %w", rule, err)
	}
	if s == nil {
		return nil, fmt.Errorf("the server has no rule %s", rule)
	}
	return s.Data, nil
}

func intOf(v any) int {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	case int:
		return n
	}
	return 0
}

func (d *drill) setup(ctx context.Context, scenarios []string) error {
	d.mount = d.id
	if _, err := d.c.Write(ctx, "sys/mounts/"+d.mount, map[string]any{"type": "kv", "options": map[string]any{"version": "2"},
		"description": "keyward drill " + d.id + " (temporary, fake values)"}); err != nil {
		return fmt.Errorf("enable the drill mount %s/: %w", d.mount, err)
	}
	d.mounted = true
	d.policy = d.id
	pol := fmt.Sprintf("path %q { capabilities = [\"read\"] }\npath %q { capabilities = [\"read\"] }\n",
		d.mount+"/data/ok/*", d.mount+"/data/canary")
	if _, err := d.c.Write(ctx, "sys/policies/acl/"+d.policy, map[string]any{"policy": pol}); err != nil {
		return fmt.Errorf("write the drill policy: %w", err)
	}
	d.policied = true
	// A token role lets a runner that does not hold the drill policy
	// itself create tokens with it (a child token's policies must be a
	// subset of its parent's; a role's allowed_policies are not).
	if _, err := d.c.Write(ctx, "auth/token/roles/"+d.id, map[string]any{"allowed_policies": []string{d.policy},
		"renewable": false, "token_explicit_max_ttl": "30m"}); err != nil {
		return fmt.Errorf("write the drill token role: %w", err)
	}
	d.role = true
	n := 1
	if slices.Contains(scenarios, "bulk-read") {
		rs, err := d.ruleSettings(ctx, "bulk-read")
		if err != nil {
			return err
		}
		n = max(intOf(rs["threshold"]), 1)
		if n > maxDrillCount {
			return fmt.Errorf("bulk-read's threshold %d is above what a drill reads (%d)", n, maxDrillCount)
		}
	}
	for i := range n {
		if _, err := d.c.Write(ctx, fmt.Sprintf("%s/data/ok/%d", d.mount, i), map[string]any{"data": map[string]any{"value": "drill-fake-" + randHex(8)}}); err != nil {
			return fmt.Errorf("write a fake secret: %w", err)
		}
	}
	if slices.Contains(scenarios, "canary") {
		if _, err := d.c.Write(ctx, d.mount+"/data/canary", map[string]any{"data": map[string]any{"value": "drill-fake-" + randHex(8)}}); err != nil {
			return fmt.Errorf("write the drill canary: %w", err)
		}
		if _, err := d.c.Write(ctx, "sys/watch/canaries/"+d.mount+"/canary", map[string]any{"type": "generic", "note": "keyward drill " + d.id}); err != nil {
			return fmt.Errorf("register the drill canary: %w", err)
		}
		d.canary = d.mount + "/canary"
	}
	return nil
}

// token creates a drill token for scenario and its drill scope with the
// rule overrides.
func (d *drill) token(ctx context.Context, scenario string, overrides map[string]any) (string, string, error) {
	s, err := d.c.Write(ctx, "auth/token/create/"+d.id, map[string]any{"policies": []string{d.policy}, "no_default_policy": true,
		"ttl": "15m", "renewable": false, "display_name": d.id + "-" + scenario, "meta": map[string]any{"keyward_drill": d.id}})
	if err != nil {
		return "", "", fmt.Errorf("create the drill token: %w", err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return "", "", errors.New("create the drill token: no token in the answer")
	}
	d.tokens = append(d.tokens, s.Auth.Accessor)
	scope := d.id + "-" + scenario
	body := map[string]any{"accessor": s.Auth.Accessor, "ttl": "30m"}
	if overrides != nil {
		body["rules"] = overrides
	}
	if _, err := d.c.Write(ctx, "sys/watch/drills/"+scope, body); err != nil {
		return "", "", fmt.Errorf("start the drill scope: %w", err)
	}
	d.scopes = append(d.scopes, scope)
	return s.Auth.ClientToken, scope, nil
}

func (d *drill) scenario(ctx context.Context, name string) drillResult {
	rule := drillScenarioRule[name]
	res := drillResult{Scenario: name, Rule: rule}
	fail := func(format string, args ...any) drillResult {
		res.Error = fmt.Sprintf(format, args...)
		return res
	}
	rs, err := d.ruleSettings(ctx, rule)
	if err != nil {
		return fail("%v", err)
	}
	if en, _ := rs["enabled"].(bool); !en {
		return fail("rule %s is disabled: this pattern raises no alert (keyward write sys/watch/rules/%s enabled=true)", rule, rule)
	}
	sev := str(rs["severity"])
	routed := 0
	for _, si := range d.sinks {
		if !si.escalationOnly && si.min <= drillSeverities[sev] {
			routed++
		}
	}
	if routed == 0 {
		return fail("no sink receives %s alerts (every sink's min_severity is higher, or it is escalation_only)", sev)
	}
	var overrides map[string]any
	count := 1
	switch name {
	case "off-hours":
		h := (time.Now().UTC().Hour() + 6) % 24
		overrides = map[string]any{rule: map[string]any{"business_hours": fmt.Sprintf("%02d:00-%02d:00", h, (h+1)%24),
			"weekdays": []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, "time_zone": "UTC"}}
	case "stolen-token":
		overrides = map[string]any{rule: map[string]any{"threshold": 1, "contain": []string{"revoke-token"}, "dry_run": false}}
	case "brute-force", "bulk-read":
		count = max(intOf(rs["threshold"]), 1)
		if count > maxDrillCount {
			return fail("rule %s's threshold %d is above what a drill sends (%d)", rule, count, maxDrillCount)
		}
	}
	tok, scope, err := d.token(ctx, name, overrides)
	if err != nil {
		return fail("%v", err)
	}
	d.tc.SetToken(tok)
	start := time.Now()
	for i := range count {
		var err error
		switch name {
		case "brute-force":
			_, err = d.tc.Read(ctx, fmt.Sprintf("%s/data/denied/%d", d.mount, i), nil)
			if api.IsStatus(err, http.StatusForbidden) {
				err = nil
			} else if err == nil {
				err = errors.New("a read the drill policy does not grant was allowed")
			}
		case "bulk-read":
			_, err = d.tc.Read(ctx, fmt.Sprintf("%s/data/ok/%d", d.mount, i), nil)
		case "canary":
			_, err = d.tc.Read(ctx, d.mount+"/data/canary", nil)
		default:
			_, err = d.tc.Read(ctx, d.mount+"/data/ok/0", nil)
		}
		if err != nil {
			return fail("play the pattern: %v", err)
		}
	}
	d.tc.SetToken("")
	deadline := time.Now().Add(d.timeout)
	var alert map[string]any
	for alert == nil {
		s, err := d.c.Read(ctx, "sys/watch/alerts", url.Values{"rule": {rule}, "drill": {scope}})
		if err != nil {
			return fail("poll the alerts: %v", err)
		}
		if keys := listKeys(s); len(keys) > 0 {
			res.AlertID = keys[len(keys)-1] // the oldest: the one the pattern raised first
			a, err := d.c.Read(ctx, "sys/watch/alerts/"+res.AlertID, nil)
			if err != nil || a == nil {
				return fail("read alert %s: %v", res.AlertID, err)
			}
			alert = a.Data
			break
		}
		if time.Now().After(deadline) {
			return fail("no %s alert within %s: the detector did not fire (is the rule tuned beyond the drill, or the detection queue full?)", rule, d.timeout)
		}
		if err := drillSleep(ctx); err != nil {
			return fail("%v", err)
		}
	}
	res.ToAlert = time.Since(start).Seconds()
	res.Severity = str(alert["severity"])
	if name == "stolen-token" {
		if err := d.checkRevoked(ctx, alert, deadline); err != nil {
			return fail("%v", err)
		}
		res.Containment = "drill token revoked"
	}
	for {
		s, err := d.c.Read(ctx, "sys/watch/deliveries/"+res.AlertID, nil)
		if err != nil && !api.IsStatus(err, http.StatusNotFound) {
			return fail("read the deliveries: %v", err)
		}
		if s != nil {
			for _, v := range asList(s.Data["delivered_to"]) {
				res.DeliveredTo = append(res.DeliveredTo, str(v))
			}
			if len(res.DeliveredTo) > 0 {
				res.ToDelivery = time.Since(start).Seconds()
				res.Pass = true
				return res
			}
			pending, _ := s.Data["pending"].(map[string]any)
			failed, _ := s.Data["failed"].(map[string]any)
			if len(pending) == 0 && len(failed) > 0 {
				var why []string
				for sink, f := range failed {
					fm, _ := f.(map[string]any)
					why = append(why, fmt.Sprintf("sink %s: %s (dead letter %s)", sink, str(fm["error"]), str(fm["dead_letter"])))
				}
				slices.Sort(why)
				return fail("alert %s was not delivered: %s", res.AlertID, strings.Join(why, "; "))
			}
		}
		if time.Now().After(deadline) {
			return fail("alert %s not delivered to any sink within %s", res.AlertID, d.timeout)
		}
		if err := drillSleep(ctx); err != nil {
			return fail("%v", err)
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func drillSleep(ctx context.Context) error {
	t := time.NewTimer(200 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// checkRevoked waits for the revoke-token action in the alert and checks
// the token is gone.
func (d *drill) checkRevoked(ctx context.Context, alert map[string]any, deadline time.Time) error {
	for _, a := range asList(alert["actions"]) {
		am, _ := a.(map[string]any)
		if str(am["kind"]) == "revoke-token" && str(am["error"]) != "" {
			return fmt.Errorf("containment revoke-token failed: %s", str(am["error"]))
		}
	}
	acc := d.tokens[len(d.tokens)-1]
	for {
		_, err := d.c.Write(ctx, "auth/token/lookup-accessor", map[string]any{"accessor": acc})
		if err != nil {
			if api.IsStatus(err, http.StatusBadRequest) || api.IsStatus(err, http.StatusNotFound) || api.IsStatus(err, http.StatusForbidden) {
				return nil
			}
			return fmt.Errorf("look up the drill token: %w", err)
		}
		if time.Now().After(deadline) {
			return errors.New("the alert was raised but the drill token was not revoked (containment revoke-token)")
		}
		if err := drillSleep(ctx); err != nil {
			return err
		}
	}
}

// cleanup removes what the drill created and resolves its alerts; it
// returns what could not be removed.
func (d *drill) cleanup() []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []string
	note := func(what string, err error) {
		if err != nil {
			errs = append(errs, what+": "+err.Error())
		}
	}
	for _, scope := range d.scopes {
		s, err := d.c.Read(ctx, "sys/watch/alerts", url.Values{"drill": {scope}})
		note("list the drill's alerts", err)
		for _, id := range listKeys(s) {
			_, err := d.c.Write(ctx, "sys/watch/alerts/"+id+"/resolve", nil)
			note("resolve alert "+id, err)
		}
		_, err = d.c.Delete(ctx, "sys/watch/drills/"+scope, nil)
		note("end drill scope "+scope, err)
	}
	for _, acc := range d.tokens {
		_, err := d.c.Write(ctx, "auth/token/revoke-accessor", map[string]any{"accessor": acc})
		if err != nil && !api.IsStatus(err, http.StatusBadRequest) && !api.IsStatus(err, http.StatusNotFound) {
			note("revoke a drill token", err)
		}
	}
	if d.canary != "" {
		_, err := d.c.Delete(ctx, "sys/watch/canaries/"+d.canary, nil)
		note("remove the drill canary", err)
	}
	if d.role {
		_, err := d.c.Delete(ctx, "auth/token/roles/"+d.id, nil)
		note("delete the drill token role", err)
	}
	if d.policied {
		_, err := d.c.Delete(ctx, "sys/policies/acl/"+d.policy, nil)
		note("delete the drill policy", err)
	}
	if d.mounted {
		_, err := d.c.Delete(ctx, "sys/mounts/"+d.mount, nil)
		note("disable the drill mount", err)
	}
	return errs
}
