// Package monitor owns Keyward's metrics: a Registry (one per node, passed
// to whatever counts, never a package global, so two nodes in one process
// keep their numbers apart) built on the Prometheus client library, the
// request metrics the core records, their rendering in the Prometheus text
// format (0.0.4) or as Vault's JSON shape, and the backend serving
// sys/metrics. It holds names, help texts, bounded label values and
// numbers only: it must never hold a secret value, a token or a
// credential, and neither a metric name nor a label value is ever built
// from request data beyond the mount table (see Requests).
package monitor

import (
	"fmt"
	"io"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Count is a monotonically increasing counter. It is safe for concurrent use.
type Count struct{ c prometheus.Counter }

// Inc adds one.
func (c *Count) Inc() { c.c.Inc() }

// Add adds n.
func (c *Count) Add(n uint64) { c.c.Add(float64(n)) }

// Value is the current count (exact up to 2^53).
func (c *Count) Value() uint64 {
	var m dto.Metric
	if err := c.c.Write(&m); err != nil {
		return 0
	}
	return uint64(m.GetCounter().GetValue())
}

// Level is a gauge: a value that goes up and down. It is safe for
// concurrent use.
type Level struct{ g prometheus.Gauge }

// Set replaces the value.
func (l *Level) Set(n int64) { l.g.Set(float64(n)) }

// Add adds n (negative to subtract).
func (l *Level) Add(n int64) { l.g.Add(float64(n)) }

// Value is the current value.
func (l *Level) Value() int64 {
	var m dto.Metric
	if err := l.g.Write(&m); err != nil {
		return 0
	}
	return int64(m.GetGauge().GetValue())
}

// Registry holds one node's metrics: a Prometheus registry of its own and
// the plain counters and gauges created through it by name. The zero value
// is not usable; create one with NewRegistry. It is safe for concurrent use.
type Registry struct {
	reg *prometheus.Registry

	mu       sync.Mutex
	counters map[string]*Count
	gauges   map[string]*Level
	requests *Requests
}

// NewRegistry returns an empty registry: no collector, not even the Go
// runtime's (see AddRuntimeCollectors).
func NewRegistry() *Registry {
	return &Registry{reg: prometheus.NewRegistry(), counters: map[string]*Count{}, gauges: map[string]*Level{}}
}

// AddRuntimeCollectors adds the standard Go runtime (go_*) and process
// (process_*) collectors, as a server's registry has. Their values are the
// process's, so two nodes in one process report the same ones. It panics
// if called twice on one registry.
func (r *Registry) AddRuntimeCollectors() {
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// MustRegister adds collectors (vectors with labels, for instance) to the
// registry. It panics, like prometheus.Registry.MustRegister, if one is
// invalid or collides with a metric already registered: names are
// constants in code, so either is a programming error.
func (r *Registry) MustRegister(cs ...prometheus.Collector) { r.reg.MustRegister(cs...) }

// Counter returns the counter called name, creating it with help on first
// use. It panics if name is not a valid metric name or is already taken by
// another metric.
func (r *Registry) Counter(name, help string) *Count {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.counters[name]; c != nil {
		return c
	}
	r.mustNew(name)
	c := &Count{prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: helpOr(help, name)})}
	r.reg.MustRegister(c.c)
	r.counters[name] = c
	return c
}

// Gauge returns the gauge called name, creating it with help on first use.
// It panics like Counter.
func (r *Registry) Gauge(name, help string) *Level {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g := r.gauges[name]; g != nil {
		return g
	}
	r.mustNew(name)
	g := &Level{prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: helpOr(help, name)})}
	r.reg.MustRegister(g.g)
	r.gauges[name] = g
	return g
}

// helpOr is help, or the name when there is none (as Vault's exposition
// does): the text format keeps one help text per name.
func helpOr(help, name string) string {
	if help == "" {
		return name
	}
	return help
}

// mustNew panics if name is invalid or taken by a plain metric. r.mu is
// held. (A collision with a registered collector panics in MustRegister.)
func (r *Registry) mustNew(name string) {
	if !ValidName(name) {
		panic(fmt.Sprintf("monitor: invalid metric name %q", name))
	}
	if r.counters[name] != nil || r.gauges[name] != nil {
		panic(fmt.Sprintf("monitor: metric %q registered as another type", name))
	}
}

// ValidName reports whether name matches Prometheus's classic
// [a-zA-Z_:][a-zA-Z0-9_:]* (the library also accepts UTF-8 names; ours
// stay in the set every scraper reads).
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Gather returns every metric family of the registry, sorted by name.
func (r *Registry) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := r.reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("monitor: gather: %w", err)
	}
	return mfs, nil
}

// WritePrometheus writes every metric of r in the Prometheus text
// exposition format 0.0.4, sorted by name.
func (r *Registry) WritePrometheus(w io.Writer) error {
	mfs, err := r.Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return fmt.Errorf("monitor: write: %w", err)
		}
	}
	return nil
}
