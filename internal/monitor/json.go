package monitor

import (
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// JSON is sys/metrics in its default format, shaped like Vault's (the
// in-memory telemetry sink's summary): Timestamp, Gauges, Points, Counters
// and Samples, every list present and never null. One entry stands for one
// series: a labelled metric has an entry per label set, with the labels in
// Labels. Unlike Vault's, whose numbers cover the last 10-second interval,
// ours are totals since the process (or, for gauges, the node) started.
type JSON struct {
	Timestamp string
	Gauges    []JSONGauge
	Points    []JSONPoint
	Counters  []JSONCounter
	Samples   []JSONSample
}

// JSONGauge is a gauge's current value.
type JSONGauge struct {
	Name   string
	Value  float64
	Labels map[string]string
}

// JSONPoint is in Vault's shape for completeness; Keyward has none.
type JSONPoint struct {
	Name   string
	Points []float64
}

// JSONCounter is a counter: Sum is its value, Count the same rounded down
// to an integer (they differ only for fractional counters such as
// process_cpu_seconds_total).
type JSONCounter struct {
	Name   string
	Count  int64
	Sum    float64
	Labels map[string]string
}

// JSONSample is a histogram or summary: how many observations, their sum
// and mean (in the metric's unit, seconds for *_seconds), with Labels.
type JSONSample struct {
	Name   string
	Count  int64
	Sum    float64
	Mean   float64
	Labels map[string]string
}

// vaultTime is the layout of Vault's Timestamp.
const vaultTime = "2006-01-02 15:04:05 -0700 MST"

// ToJSON converts gathered families (as Gather returns them, sorted by
// name) into the JSON value, taken at now.
func ToJSON(mfs []*dto.MetricFamily, now time.Time) JSON {
	out := JSON{Timestamp: now.UTC().Truncate(time.Second).Format(vaultTime),
		Gauges: []JSONGauge{}, Points: []JSONPoint{}, Counters: []JSONCounter{}, Samples: []JSONSample{}}
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				v := m.GetCounter().GetValue()
				out.Counters = append(out.Counters, JSONCounter{Name: name, Count: clampInt(v), Sum: finite(v), Labels: labels})
			case dto.MetricType_GAUGE:
				out.Gauges = append(out.Gauges, JSONGauge{Name: name, Value: finite(m.GetGauge().GetValue()), Labels: labels})
			case dto.MetricType_UNTYPED:
				out.Gauges = append(out.Gauges, JSONGauge{Name: name, Value: finite(m.GetUntyped().GetValue()), Labels: labels})
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				out.Samples = append(out.Samples, sample(name, h.GetSampleCount(), h.GetSampleSum(), labels))
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				out.Samples = append(out.Samples, sample(name, s.GetSampleCount(), s.GetSampleSum(), labels))
			}
		}
	}
	return out
}

func sample(name string, count uint64, sum float64, labels map[string]string) JSONSample {
	s := JSONSample{Name: name, Count: int64(min(count, math.MaxInt64)), Sum: finite(sum), Labels: labels}
	if count > 0 {
		s.Mean = finite(sum / float64(count))
	}
	return s
}

// finite maps NaN and infinities, which JSON cannot hold, to 0.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func clampInt(v float64) int64 {
	switch {
	case math.IsNaN(v) || v <= 0:
		return 0
	case v >= math.MaxInt64:
		return math.MaxInt64
	}
	return int64(v)
}
