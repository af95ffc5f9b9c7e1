package monitor

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// UnknownMount is the mount label of a request that routed to no mount (a
// path nothing is mounted at, a request refused while sealed or on a
// standby): every such request shares this one value, so no caller can
// grow the label set. Mount paths end in "/", so it names no mount.
const UnknownMount = "unknown"

// Request metric names.
const (
	RequestsTotal      = "keyward_requests_total"
	RequestDuration    = "keyward_request_duration_seconds"
	MountRequestsTotal = "keyward_mount_requests_total"
)

const (
	requestsTotalHelp   = "Requests handled by this server."
	requestDurationHelp = "Time the core took to answer a request, by mount path and operation."
	mountRequestsHelp   = "Requests answered, by mount path, operation and status class (2xx, 4xx, 5xx...)."
	// otherLabel is the value of an operation or status outside the
	// fixed sets.
	otherLabel = "other"
)

// RequestBuckets are the latency histogram's bucket bounds in seconds,
// from half a millisecond (an in-memory read) to 10 s (a slow database or
// a cluster write under load).
var RequestBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// opNames are the operation label's values, logical.Operation's names;
// anything else counts as "other".
var opNames = [...]string{"read", "create", "update", "patch", "delete", "list", "help", otherLabel}

// classNames are the status label's values, by status/100.
var classNames = [...]string{otherLabel, "1xx", "2xx", "3xx", "4xx", "5xx"}

// Requests are a registry's request metrics: keyward_requests_total, the
// latency histogram keyward_request_duration_seconds{mount,operation} and
// keyward_mount_requests_total{mount,operation,status}. The mount label is
// a mount table path ("secret/", "auth/jwt/", "sys/") or UnknownMount,
// never a request path; the operation and status labels come from fixed
// sets. It is safe for concurrent use.
type Requests struct {
	total    *Count
	duration *prometheus.HistogramVec
	byStatus *prometheus.CounterVec
	mounts   sync.Map // mount path -> *MountRequests
}

// Requests returns the registry's request metrics, registering them on
// first use.
func (r *Registry) Requests() *Requests {
	total := r.Counter(RequestsTotal, requestsTotalHelp)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.requests == nil {
		q := &Requests{total: total,
			duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: RequestDuration,
				Help: requestDurationHelp, Buckets: RequestBuckets}, []string{"mount", "operation"}),
			byStatus: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MountRequestsTotal,
				Help: mountRequestsHelp}, []string{"mount", "operation", "status"}),
		}
		r.reg.MustRegister(q.duration, q.byStatus)
		r.requests = q
	}
	return r.requests
}

// Mount returns the metrics of the mount at path ("" for UnknownMount).
// The result can be kept: it resolves each label set once and then only
// loads a pointer per observation.
func (q *Requests) Mount(path string) *MountRequests {
	if path == "" {
		path = UnknownMount
	}
	if m, ok := q.mounts.Load(path); ok {
		return m.(*MountRequests)
	}
	m, _ := q.mounts.LoadOrStore(path, &MountRequests{q: q, mount: path})
	return m.(*MountRequests)
}

// Forget drops the series of the mount at path (it was disabled or
// moved), so the label set follows the mount table.
func (q *Requests) Forget(path string) {
	q.mounts.Delete(path)
	q.duration.DeletePartialMatch(prometheus.Labels{"mount": path})
	q.byStatus.DeletePartialMatch(prometheus.Labels{"mount": path})
}

// MountRequests are one mount's request metrics, with the label children
// resolved on first use of each operation and status class.
type MountRequests struct {
	q     *Requests
	mount string
	ops   [len(opNames)]opMetrics
}

type opMetrics struct {
	duration atomic.Pointer[observer]
	byStatus [len(classNames)]atomic.Pointer[counter]
}

type (
	observer struct{ prometheus.Observer }
	counter  struct{ prometheus.Counter }
)

// Observe records one answered request: its operation (a
// logical.Operation name), the HTTP status it got and how long it took.
func (m *MountRequests) Observe(op string, status int, d time.Duration) {
	m.q.total.Inc()
	i := opIndex(op)
	o := &m.ops[i]
	h := o.duration.Load()
	if h == nil {
		h = &observer{m.q.duration.WithLabelValues(m.mount, opNames[i])}
		o.duration.Store(h)
	}
	h.Observe(d.Seconds())
	c := 0
	if status >= 100 && status < 600 {
		c = status / 100
	}
	n := o.byStatus[c].Load()
	if n == nil {
		n = &counter{m.q.byStatus.WithLabelValues(m.mount, opNames[i], classNames[c])}
		o.byStatus[c].Store(n)
	}
	n.Inc()
}

func opIndex(op string) int {
	for i, n := range opNames[:len(opNames)-1] {
		if n == op {
			return i
		}
	}
	return len(opNames) - 1
}
