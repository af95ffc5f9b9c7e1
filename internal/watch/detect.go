package watch

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// observed is one event as the detectors see it: the event and its
// identity's baseline just before it.
type observed struct {
	e     Event
	prior Prior
}

// match is one detector's finding on one event: the rule, the group key
// that makes repeated findings one incident, and non-secret evidence.
type match struct {
	rule     *Rule
	group    string
	summary  string
	evidence map[string]string
	// drill is the drill scope of the event, if any (Alert.Drill).
	drill *DrillScope
}

// window counts distinct keys (paths, networks) or occurrences seen in
// the last d; it keeps at most maxWindowKeys keys. Expired keys are
// pruned every d/8, so a count may include keys up to d/8 older than the
// window: the window is d to 9d/8 long, which keeps each event O(1).
type window struct {
	seen   map[string]time.Time
	pruned time.Time
}

const maxWindowKeys = 4096

// add records key at t and returns how many keys were seen in the window.
func (w *window) add(key string, t time.Time, d time.Duration) int {
	if w.seen == nil {
		w.seen = map[string]time.Time{}
		w.pruned = t
	}
	if len(w.seen) >= maxWindowKeys || t.Sub(w.pruned) > d/8 {
		cut := t.Add(-d)
		for k, at := range w.seen {
			if !at.After(cut) {
				delete(w.seen, k)
			}
		}
		w.pruned = t
	}
	if _, ok := w.seen[key]; ok || len(w.seen) < maxWindowKeys {
		w.seen[key] = t
	}
	return len(w.seen)
}

func (w *window) lastSeen() time.Time { return w.pruned }

// windows is a bounded map of windows by key (source, identity, accessor):
// past maxWindows the stalest are dropped.
type windows struct {
	m map[string]*window
}

const maxWindows = 20000

func (ws *windows) get(key string, t time.Time, d time.Duration) *window {
	if ws.m == nil {
		ws.m = map[string]*window{}
	}
	w, ok := ws.m[key]
	if !ok {
		if len(ws.m) >= maxWindows {
			cut := t.Add(-d)
			for k, o := range ws.m {
				if !o.lastSeen().After(cut) {
					delete(ws.m, k)
				}
			}
			if len(ws.m) >= maxWindows {
				for k := range ws.m { // still full: drop one at random
					delete(ws.m, k)
					break
				}
			}
		}
		w = &window{}
		ws.m[key] = w
	}
	return w
}

// detectors holds the detectors' state; only the engine goroutine uses it.
type detectors struct {
	failBySource, failByIdentity windows
	reads, lists                 windows
	tokenNets                    windows
	// isProduction says whether an event touches a production path; the
	// environment labels may replace the default (path patterns).
	isProduction func(r *Rule, e *Event) bool
}

// IsProductionPath is the default production check: the rule's path
// patterns when set, else any path segment "prod" or "production".
func IsProductionPath(r *Rule, e *Event) bool {
	if len(r.Paths) > 0 {
		return r.onPaths(e.Path)
	}
	for seg := range strings.SplitSeq(e.Path, "/") {
		if seg == "prod" || seg == "production" {
			return true
		}
	}
	return false
}

func who(id *Identity) string {
	if k := id.Key(); k != "" {
		return k
	}
	return "anonymous"
}

// run applies every enabled rule in rs to o and returns the findings.
func (d *detectors) run(rs *ruleSet, o *observed, canaries *canarySet) []match {
	e := &o.e
	var out []match
	addr, addrErr := netip.ParseAddr(e.RemoteAddr)
	if addrErr == nil {
		addr = addr.Unmap()
	}
	net := Network(e.RemoteAddr)
	id := who(&e.Identity)
	ok := e.Result == ResultOK
	// Requests to the watch routes themselves are not judged by the
	// volume rules: reading alerts is what responders do during an
	// incident.
	own := strings.HasPrefix(e.Path, "sys/watch/") || strings.HasPrefix(e.Path, "sys/events/")

	if r := rs.on(RuleCanary, e.Path); r != nil && !own {
		if c, hit := canaries.match(e); hit && (e.Operation == "read" || e.Operation == "list") && e.Status != 404 {
			out = append(out, match{rule: r, group: "canary|" + c + "|" + id + "|" + net,
				summary: "canary secret " + c + " was read",
				evidence: map[string]string{"canary": c, "path": e.Path, "operation": e.Operation,
					"result": string(e.Result), "source": e.RemoteAddr}})
		}
	}
	if r := rs.on(RuleRootToken, e.Path); r != nil && e.Identity.Root && ok && !own {
		out = append(out, match{rule: r, group: "root|" + e.Identity.Accessor, summary: "the root token was used",
			evidence: map[string]string{"path": e.Path, "operation": e.Operation, "source": e.RemoteAddr}})
	}
	if r := rs.on(RuleBruteForce, e.Path); r != nil && (e.Result == ResultDenied || e.Type == TypeLogin && !ok) {
		if addrErr == nil {
			if n := d.failBySource.get(e.RemoteAddr, e.Time, r.Window).add(strconv.FormatUint(e.Seq, 10), e.Time, r.Window); n >= r.Threshold {
				out = append(out, match{rule: r, group: "brute|source|" + e.RemoteAddr,
					summary: "repeated failed logins or denied requests from one source",
					evidence: map[string]string{"source": e.RemoteAddr, "failures_in_window": strconv.Itoa(n),
						"window": r.Window.String(), "last_path": e.Path}})
			}
		}
		if id != "anonymous" {
			if n := d.failByIdentity.get(id, e.Time, r.Window).add(strconv.FormatUint(e.Seq, 10), e.Time, r.Window); n >= r.Threshold {
				out = append(out, match{rule: r, group: "brute|identity|" + id,
					summary: "repeated denied requests by one identity",
					evidence: map[string]string{"identity": id, "failures_in_window": strconv.Itoa(n),
						"window": r.Window.String(), "last_path": e.Path, "source": e.RemoteAddr}})
			}
		}
	}
	if id == "anonymous" || own {
		return out
	}
	if r := rs.on(RuleBulkRead, e.Path); r != nil && ok && e.Operation == "read" {
		if n := d.reads.get(id, e.Time, r.Window).add(e.Path, e.Time, r.Window); n >= r.Threshold {
			out = append(out, match{rule: r, group: "bulk|" + id, summary: "many distinct secrets read in a short window",
				evidence: map[string]string{"distinct_paths_in_window": strconv.Itoa(n), "window": r.Window.String(),
					"mount": e.Mount, "last_path": e.Path, "source": e.RemoteAddr}})
		}
	}
	if r := rs.on(RuleListWalk, e.Path); r != nil && e.Operation == "list" {
		if n := d.lists.get(id, e.Time, r.Window).add(e.Path, e.Time, r.Window); n >= r.Threshold {
			out = append(out, match{rule: r, group: "list|" + id, summary: "many paths listed in a short window (walking the tree)",
				evidence: map[string]string{"distinct_lists_in_window": strconv.Itoa(n), "window": r.Window.String(),
					"mount": e.Mount, "last_path": e.Path, "source": e.RemoteAddr}})
		}
	}
	if r := rs.on(RuleStolenToken, e.Path); r != nil && e.Identity.Accessor != "" && net != "" {
		if n := d.tokenNets.get(e.Identity.Accessor, e.Time, r.Window).add(net, e.Time, r.Window); n >= r.Threshold {
			out = append(out, match{rule: r, group: "stolen|" + e.Identity.Accessor,
				summary: "one token used from several networks within the window",
				evidence: map[string]string{"accessor": e.Identity.Accessor, "networks_in_window": strconv.Itoa(n),
					"network": net, "window": r.Window.String(), "last_path": e.Path}})
		}
	}
	if r := rs.on(RuleReadAfterRot, e.Path); r != nil && ok && e.Operation == "read" && e.Version > 0 && e.Version < e.CurrentVersion {
		out = append(out, match{rule: r, group: "rotation|" + id + "|" + e.Path,
			summary: "a superseded version of a secret was read after a newer one was written",
			evidence: map[string]string{"path": e.Path, "version_read": strconv.Itoa(e.Version),
				"current_version": strconv.Itoa(e.CurrentVersion), "source": e.RemoteAddr}})
	}
	if r := rs.rule(RuleProduction); r != nil && ok && d.isProduction(r, e) && o.prior.Prefix == 0 {
		prefix := pathPrefix(e.Mount, e.Path)
		out = append(out, match{rule: r, group: "prod|" + id + "|" + prefix,
			summary:  "first access to a production path by this identity",
			evidence: map[string]string{"path": e.Path, "prefix": prefix, "operation": e.Operation, "source": e.RemoteAddr}})
	}
	if r := rs.on(RuleUnknownNetwork, e.Path); r != nil && addrErr == nil && !r.allowed(addr) {
		switch {
		case len(r.cidrs) > 0:
			out = append(out, match{rule: r, group: "net|" + id + "|" + net, summary: "request from outside the allowed networks",
				evidence: map[string]string{"source": e.RemoteAddr, "network": net, "path": e.Path}})
		case o.prior.Requests >= uint64(r.MinHistory) && o.prior.Network == 0:
			out = append(out, match{rule: r, group: "net|" + id + "|" + net, summary: "request from a network this identity has never used",
				evidence: map[string]string{"source": e.RemoteAddr, "network": net, "path": e.Path,
					"history_requests": strconv.FormatUint(o.prior.Requests, 10)}})
		}
	}
	if r := rs.on(RuleOffHours, e.Path); r != nil {
		switch {
		case r.days != 0:
			if !r.inBusinessHours(e.Time) {
				lt := e.Time.In(r.loc)
				out = append(out, match{rule: r, group: "hours|" + id, summary: "access outside business hours",
					evidence: map[string]string{"local_time": lt.Format("Mon 15:04 MST"), "business_hours": r.BusinessHours,
						"path": e.Path, "source": e.RemoteAddr}})
			}
		case o.prior.Requests >= uint64(r.MinHistory) && !o.prior.First.IsZero() &&
			e.Time.Sub(o.prior.First) >= time.Duration(r.LearnDays)*24*time.Hour && o.prior.Hour == 0:
			out = append(out, match{rule: r, group: "hours|" + id, summary: "access at an hour this identity has never worked",
				evidence: map[string]string{"hour_utc_or_baseline_zone": strconv.Itoa(e.Time.In(rs.loc).Hour()),
					"path": e.Path, "source": e.RemoteAddr, "history_requests": strconv.FormatUint(o.prior.Requests, 10)}})
		}
	}
	return out
}
