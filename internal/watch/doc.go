// Package watch owns access events: the structured record of every request
// outcome the core pipeline produces, a bounded ring of recent events for
// live views, subscriptions (sys/events/subscribe, as server-sent events),
// and per-identity baselines persisted through the barrier.
//
// The core hands each outcome to a Hub through Emit, which never blocks:
// the ring is a fixed array, each subscriber has a bounded channel and is
// dropped when it falls behind, and baselines are updated in place.
//
// An Event is built from an allowlist of fields (see Event): it must never
// hold a secret value, a client token, request or response data. A token
// is named by its accessor; CI identity comes only from the metadata keys
// in ClaimKeys. Baselines hold only what events hold, aggregated, and are
// stored under a hash of the identity key.
package watch
