package node

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/httpapi"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/postgres"
)

// pgLockName names the advisory lock the servers on one table contend for.
const pgLockName = "active"

var (
	_ core.HA           = (*postgres.Lock)(nil)
	_ httpapi.Forwarder = (*pgHA)(nil)
)

// pgHA makes the servers on one PostgreSQL table one active node and
// standbys (storage "postgresql" with ha_enabled = true): the table's
// advisory lock (postgres.Lock) chooses the active node, and a standby
// answers every request it cannot serve itself with a 307 redirect to the
// active node's api_addr, as Vault does without request forwarding. There
// is no cluster port: the database is the only link between the nodes.
type pgHA struct {
	lock    *postgres.Lock
	apiAddr string
	nodeID  string
	core    *core.Core // set by attach
}

// newPGHA returns the HA wiring for store, which must be the
// *postgres.Store openStorage returned for cfg.
func newPGHA(cfg *config.Config, store storage.Backend) (*pgHA, error) {
	s, ok := store.(*postgres.Store)
	if !ok {
		return nil, fmt.Errorf(`storage "postgresql": ha_enabled: the store is a %T, not PostgreSQL`, store)
	}
	if cfg.APIAddr == "" { // config.Validate says so too; a Config built in code may skip it
		return nil, errors.New(`api_addr is required with storage "postgresql" and ha_enabled = true: the URL a standby redirects clients to when this node is active`)
	}
	return &pgHA{lock: s.NewLock(pgLockName), apiAddr: cfg.APIAddr, nodeID: hostname()}, nil
}

// coreConfig makes the core contend for the lock and advertise this node.
func (p *pgHA) coreConfig(cc *core.Config) {
	cc.HA = p.lock
	cc.NodeID = p.nodeID
}

// attach records the built core.
func (p *pgHA) attach(c *core.Core) { p.core = c }

// Standby reports whether this node is unsealed but not active.
func (p *pgHA) Standby() bool { return p.core.Standby() }

// Forward redirects r to the active node's api_addr with its path and
// query (307, so the client repeats the method and body). With no active
// node known, or only this node's own advertisement from an earlier
// tenure, it answers 503 and the client retries.
func (p *pgHA) Forward(w http.ResponseWriter, r *http.Request, _ string) {
	ad, self, ok := p.core.Leader(r.Context())
	switch {
	case !ok || ad.APIAddr == "":
		writeJSONError(w, http.StatusServiceUnavailable, "this node is a standby and no active node is known yet; retry")
		return
	case !self && ad.APIAddr == p.apiAddr:
		writeJSONError(w, http.StatusServiceUnavailable, "this node is a standby and the last active node it knows of is itself; a new active node has not taken over yet; retry")
		return
	}
	w.Header().Set("Location", strings.TrimSuffix(ad.APIAddr, "/")+r.URL.RequestURI())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusTemporaryRedirect)
}
