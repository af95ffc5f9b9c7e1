package node

import "github.com/keyward/keyward/internal/watch"

// AlertMetrics returns the Notifier that counts the node's alerts in its
// metrics registry (keyward_alerts_total and keyward_alerts_open, served at
// sys/metrics): the alert pipeline notifies it with every alert it raises
// and every change to one.
func (n *Node) AlertMetrics() watch.Notifier { return n.alerts }
