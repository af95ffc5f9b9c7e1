// Package monitor owns Keyward's metrics: a Registry of named counters and
// gauges (one per node, passed to whatever counts, never a package global,
// so two nodes in one process keep their numbers apart), their rendering in
// the Prometheus text format (0.0.4) or as JSON, and the backend serving
// sys/metrics. It holds names, help texts and numbers only: it must never
// hold a secret value, a token or a credential, and a metric name must
// never be built from request data.
package monitor

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Count is a monotonically increasing counter. It is safe for concurrent use.
type Count struct {
	name, help string
	v          atomic.Uint64
}

// Inc adds one.
func (c *Count) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Count) Add(n uint64) { c.v.Add(n) }

// Value is the current count.
func (c *Count) Value() uint64 { return c.v.Load() }

// Level is a gauge: a value that goes up and down. It is safe for
// concurrent use.
type Level struct {
	name, help string
	v          atomic.Int64
}

// Set replaces the value.
func (l *Level) Set(n int64) { l.v.Store(n) }

// Add adds n (negative to subtract).
func (l *Level) Add(n int64) { l.v.Add(n) }

// Value is the current value.
func (l *Level) Value() int64 { return l.v.Load() }

// Registry holds one node's metrics by name. The zero value is not usable;
// create one with NewRegistry. It is safe for concurrent use.
type Registry struct {
	mu       sync.Mutex
	counters map[string]*Count
	gauges   map[string]*Level
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{counters: map[string]*Count{}, gauges: map[string]*Level{}}
}

// Counter returns the counter called name, creating it with help on first
// use. It panics if name is not a valid metric name or is already a gauge:
// names are constants in code, so either is a programming error.
func (r *Registry) Counter(name, help string) *Count {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.counters[name]; c != nil {
		return c
	}
	r.mustNew(name)
	c := &Count{name: name, help: help}
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
	g := &Level{name: name, help: help}
	r.gauges[name] = g
	return g
}

// mustNew panics if name is invalid or taken. r.mu is held.
func (r *Registry) mustNew(name string) {
	if !ValidName(name) {
		panic(fmt.Sprintf("monitor: invalid metric name %q", name))
	}
	if r.counters[name] != nil || r.gauges[name] != nil {
		panic(fmt.Sprintf("monitor: metric %q registered as another type", name))
	}
}

// ValidName reports whether name matches Prometheus's [a-zA-Z_:][a-zA-Z0-9_:]*.
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

// Metric types in a Sample.
const (
	TypeCounter = "counter"
	TypeGauge   = "gauge"
)

// Sample is one metric's value at a point in time.
type Sample struct {
	Name  string
	Help  string
	Type  string // TypeCounter or TypeGauge
	Value int64
}

// Snapshot returns every registered metric's current value, sorted by name.
// Counters above MaxInt64 are clamped.
func (r *Registry) Snapshot() []Sample {
	r.mu.Lock()
	out := make([]Sample, 0, len(r.counters)+len(r.gauges))
	for _, c := range r.counters {
		out = append(out, Sample{Name: c.name, Help: c.help, Type: TypeCounter, Value: int64(min(c.Value(), 1<<63-1))})
	}
	for _, g := range r.gauges {
		out = append(out, Sample{Name: g.name, Help: g.help, Type: TypeGauge, Value: g.Value()})
	}
	r.mu.Unlock()
	sortSamples(out)
	return out
}

func sortSamples(s []Sample) {
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
}

// WritePrometheus writes every metric of r in the Prometheus text
// exposition format 0.0.4, sorted by name.
func (r *Registry) WritePrometheus(w io.Writer) error {
	return Write(w, r.Snapshot())
}

// Write writes samples (for instance a Snapshot with a caller's own samples
// appended) in the Prometheus text exposition format 0.0.4, sorted by name.
// Samples with an invalid name or type are an error.
func Write(w io.Writer, samples []Sample) error {
	s := append([]Sample(nil), samples...)
	sortSamples(s)
	bw := bufio.NewWriter(w)
	for _, m := range s {
		if !ValidName(m.Name) {
			return fmt.Errorf("monitor: invalid metric name %q", m.Name)
		}
		if m.Type != TypeCounter && m.Type != TypeGauge {
			return fmt.Errorf("monitor: metric %s: invalid type %q", m.Name, m.Type)
		}
		if m.Help != "" {
			fmt.Fprintf(bw, "# HELP %s %s\n", m.Name, escapeHelp(m.Help))
		}
		fmt.Fprintf(bw, "# TYPE %s %s\n%s %s\n", m.Name, m.Type, m.Name, strconv.FormatInt(m.Value, 10))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("monitor: write: %w", err)
	}
	return nil
}

// escapeHelp escapes a help text as the format requires: backslash and
// line feed.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// JSONCounter and JSONGauge are the entries of JSON's lists.
type (
	JSONCounter struct {
		Name  string
		Count int64
	}
	JSONGauge struct {
		Name  string
		Value int64
	}
)

// JSON is the JSON form of a set of samples, shaped like Vault's
// sys/metrics: {"Counters":[{"Name","Count"}], "Gauges":[{"Name","Value"}]}.
type JSON struct {
	Counters []JSONCounter
	Gauges   []JSONGauge
}

// ToJSON sorts samples into a JSON value; the lists are never nil.
func ToJSON(samples []Sample) JSON {
	s := append([]Sample(nil), samples...)
	sortSamples(s)
	out := JSON{Counters: []JSONCounter{}, Gauges: []JSONGauge{}}
	for _, m := range s {
		switch m.Type {
		case TypeCounter:
			out.Counters = append(out.Counters, JSONCounter{Name: m.Name, Count: m.Value})
		case TypeGauge:
			out.Gauges = append(out.Gauges, JSONGauge{Name: m.Name, Value: m.Value})
		}
	}
	return out
}
