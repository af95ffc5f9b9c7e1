package watch

import (
	"fmt"
	"strings"
	"time"
)

// Severity orders alerts; sinks route on it (min_severity) and escalation
// applies to SeverityCritical.
type Severity uint8

// Severities, lowest first. The zero value is not a severity.
const (
	SeverityInfo Severity = iota + 1
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"", "info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if int(s) < len(severityNames) && s != 0 {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", s)
}

// ParseSeverity reads a severity name (case-insensitive).
func ParseSeverity(name string) (Severity, error) {
	for i := 1; i < len(severityNames); i++ {
		if strings.EqualFold(name, severityNames[i]) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want info, low, medium, high or critical)", name)
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) {
	if s == 0 || int(s) >= len(severityNames) {
		return nil, fmt.Errorf("invalid severity %d", s)
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// AlertStatus is where an alert is in its life.
type AlertStatus string

// Alert statuses: an open alert escalates until acknowledged; a resolved
// one is closed, and a new occurrence of its pattern opens a new alert.
const (
	AlertOpen         AlertStatus = "open"
	AlertAcknowledged AlertStatus = "acknowledged"
	AlertResolved     AlertStatus = "resolved"
)

// Alert is one incident: every event a rule matches under one group key
// while the alert is not resolved is counted into it rather than raising
// another. Like events, an alert never holds a secret value, token or
// request data: Evidence is built from event fields and counts.
type Alert struct {
	ID       string      `json:"id"`
	Rule     string      `json:"rule"`
	Severity Severity    `json:"severity"`
	Status   AlertStatus `json:"status"`
	// GroupKey is what makes two matches one incident (the rule with the
	// identity key, the source network, the token accessor...).
	GroupKey string   `json:"group_key"`
	Identity Identity `json:"identity"`
	Summary  string   `json:"summary"`
	// Evidence holds non-secret facts: paths, networks, counts, hours.
	Evidence  map[string]string `json:"evidence,omitempty"`
	FirstSeen time.Time         `json:"first_seen"`
	LastSeen  time.Time         `json:"last_seen"`
	// Count is how many matching events the alert groups.
	Count uint64 `json:"count"`
	// Actions are the containment steps taken (or, in dry-run, that would
	// have been) for this alert.
	Actions []Action `json:"actions,omitempty"`
	// Drill is the id of the drill scope (sys/watch/drills) whose token
	// raised the alert: a breach drill, not an incident.
	Drill      string    `json:"drill,omitempty"`
	AckedBy    string    `json:"acknowledged_by,omitempty"`
	AckedAt    time.Time `json:"acknowledged_at,omitzero"`
	ResolvedBy string    `json:"resolved_by,omitempty"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

// Action is one containment step.
type Action struct {
	// Kind is revoke-token, lock-role, require-mfa or seal.
	Kind string `json:"kind"`
	// Target names what it acted on without a secret (a token accessor,
	// "auth/approle/role/deploy").
	Target string    `json:"target"`
	DryRun bool      `json:"dry_run,omitempty"`
	Time   time.Time `json:"time"`
	// Error is why the step failed ("" when it worked).
	Error string `json:"error,omitempty"`
}

// Notifier receives every alert when it is raised and again whenever it
// changes (grouped count, acknowledgement, resolution, containment). It
// must not block: delivery (sinks, retries, escalation) and counting
// (metrics) happen behind it. An acknowledged or resolved alert stops its
// escalation.
type Notifier interface {
	Notify(a Alert)
}

// Notifiers fans an alert out to several notifiers in order.
type Notifiers []Notifier

// Notify implements Notifier.
func (ns Notifiers) Notify(a Alert) {
	for _, n := range ns {
		n.Notify(a)
	}
}
