// Package lease owns the leases of dynamic secrets: it gives each leased
// secret an id under the mount that issued it, persists it behind the
// barrier, renews it within its max TTL, and revokes it through the issuing
// engine when it expires, when its token is revoked, or on request.
//
// One scheduler goroutine keeps a min-heap of due times, and a fixed pool of
// workers performs revocations, so tens of thousands of leases cost no
// goroutine or timer each. A revocation that fails is retried with
// exponential backoff and jitter; after the last attempt the lease is marked
// irrevocable and stays visible in sys/leases: a credential is never
// forgotten silently. The package never logs or returns a lease's internal
// data, which may name or hold credentials.
package lease
