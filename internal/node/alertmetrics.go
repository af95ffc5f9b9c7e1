package node

import "github.com/keyward/keyward/internal/watch"

// AlertMetrics returns the Notifier that counts the node's alerts in its
// metrics registry (keyward_alerts_total and keyward_alerts_open, served at
// sys/metrics): the alert pipeline notifies it with every alert it raises
// and every change to one.
func (n *Node) AlertMetrics() watch.Notifier { return n.alerts }

// alertFanout is where the node's alerts go: the sinks (delivery,
// escalation) and the metrics (counters by rule and severity).
func (n *Node) alertFanout() watch.Notifier {
	return watch.Notifiers{n.sinks, n.alerts}
}
