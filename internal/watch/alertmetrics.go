package watch

import (
	"container/list"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward/internal/monitor"
)

// Alert metric names.
const (
	AlertsTotal = "keyward_alerts_total"
	AlertsOpen  = "keyward_alerts_open"
)

// Bounds of AlertMetrics.
const (
	// DefaultTrackedAlerts is how many alert ids AlertMetrics remembers
	// by default.
	DefaultTrackedAlerts = 10000
	// MaxRuleLabels is how many distinct rule names get a label value of
	// their own; the rest share "other".
	MaxRuleLabels = 256
)

// AlertMetrics is the Notifier that counts alerts in a node's registry:
// keyward_alerts_total{rule,severity} counts each alert once, when its id
// is first seen, and keyward_alerts_open{rule,severity} is how many of the
// alerts it remembers are not resolved (open or acknowledged), under the
// labels they were first seen with. It remembers at most a fixed number of
// ids, forgetting resolved ones first (then the oldest open one, which
// leaves the open gauge): an id notified again after being forgotten is
// counted again. Labels are bounded: the rule name (at most MaxRuleLabels
// distinct, then "other") and the severity's name. Notify never blocks on
// I/O and is safe for concurrent use.
type AlertMetrics struct {
	raised *prometheus.CounterVec
	open   *prometheus.GaugeVec

	mu       sync.Mutex
	limit    int
	byID     map[string]*trackedAlert
	opened   *list.List // of id, oldest first
	resolved *list.List // of id, oldest first
	rules    map[string]bool
}

type trackedAlert struct {
	rule, severity string
	open           bool
	el             *list.Element
}

var _ Notifier = (*AlertMetrics)(nil)

// NewAlertMetrics registers the alert metrics in r and returns their
// Notifier, remembering up to maxTracked ids (DefaultTrackedAlerts when
// not positive).
func NewAlertMetrics(r *monitor.Registry, maxTracked int) *AlertMetrics {
	if maxTracked <= 0 {
		maxTracked = DefaultTrackedAlerts
	}
	m := &AlertMetrics{
		raised: prometheus.NewCounterVec(prometheus.CounterOpts{Name: AlertsTotal,
			Help: "Alerts raised, by rule and severity (each alert counted once, however many events it groups)."},
			[]string{"rule", "severity"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: AlertsOpen,
			Help: "Alerts not resolved yet (open or acknowledged), by rule and severity."},
			[]string{"rule", "severity"}),
		limit: maxTracked, byID: map[string]*trackedAlert{}, opened: list.New(), resolved: list.New(),
		rules: map[string]bool{},
	}
	r.MustRegister(m.raised, m.open)
	return m
}

// Notify implements Notifier.
func (m *AlertMetrics) Notify(a Alert) {
	isOpen := a.Status != AlertResolved
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.byID[a.ID]
	if !ok || a.ID == "" {
		rule, sev := m.ruleLabel(a.Rule), severityLabel(a.Severity)
		m.raised.WithLabelValues(rule, sev).Inc()
		if a.ID == "" { // not trackable: counted, never in the gauge
			return
		}
		if len(m.byID) >= m.limit {
			m.forgetOne()
		}
		t = &trackedAlert{rule: rule, severity: sev, open: isOpen}
		open := m.open.WithLabelValues(rule, sev) // present, at 0, beside every counted label set
		if isOpen {
			open.Inc()
			t.el = m.opened.PushBack(a.ID)
		} else {
			t.el = m.resolved.PushBack(a.ID)
		}
		m.byID[a.ID] = t
		return
	}
	switch {
	case t.open && !isOpen:
		m.open.WithLabelValues(t.rule, t.severity).Dec()
		m.opened.Remove(t.el)
		t.el, t.open = m.resolved.PushBack(a.ID), false
	case !t.open && isOpen:
		m.open.WithLabelValues(t.rule, t.severity).Inc()
		m.resolved.Remove(t.el)
		t.el, t.open = m.opened.PushBack(a.ID), true
	}
}

// forgetOne drops the oldest resolved id, or else the oldest open one
// (taking it out of the gauge, which could otherwise never come down).
// m.mu is held.
func (m *AlertMetrics) forgetOne() {
	l := m.resolved
	if l.Len() == 0 {
		l = m.opened
	}
	el := l.Front()
	if el == nil {
		return
	}
	id := l.Remove(el).(string)
	if t := m.byID[id]; t != nil && t.open {
		m.open.WithLabelValues(t.rule, t.severity).Dec()
	}
	delete(m.byID, id)
}

// Tracked returns how many alert ids m remembers.
func (m *AlertMetrics) Tracked() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byID)
}

// ruleLabel bounds the rule label. m.mu is held.
func (m *AlertMetrics) ruleLabel(rule string) string {
	if rule == "" {
		return "unknown"
	}
	if m.rules[rule] {
		return rule
	}
	if len(m.rules) >= MaxRuleLabels {
		return "other"
	}
	m.rules[rule] = true
	return rule
}

func severityLabel(s Severity) string {
	if s == 0 || int(s) >= len(severityNames) {
		return "unknown"
	}
	return s.String()
}
