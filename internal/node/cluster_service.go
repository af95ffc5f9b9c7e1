package node

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
)

// clusterService serves the raft cluster's sys/ paths on the active node:
// joins (bootstrap challenge and answer), the configuration, removing a
// peer, autopilot, and sys/ha-status. It runs autopilot while the node is
// active.
func (c *raftCluster) service() core.Service {
	return core.Service{Name: "raft cluster",
		Paths: []string{"storage/raft/bootstrap", "storage/raft/configuration", "storage/raft/remove-peer", "storage/raft/autopilot", "storage/raft/snapshot-auto", "ha-status"},
		New: func(ctx context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
			s := &clusterBackend{c: c, done: make(chan struct{}), pilot: newAutopilot(), auto: newAutoSnapshots()}
			if err := s.pilot.load(ctx, c); err != nil {
				return nil, err
			}
			s.Router = logical.NewRouter("The raft cluster: joins, members, autopilot, automated snapshots and HA status.", append(s.routes(), s.autoSnapRoutes()...)...)
			s.wg.Add(2)
			go func() {
				defer s.wg.Done()
				s.pilot.run(c, s.done)
			}()
			go func() {
				defer s.wg.Done()
				s.runAutoSnapshots(s.done)
			}()
			return s, nil
		}}
}

type clusterBackend struct {
	*logical.Router
	c     *raftCluster
	pilot *autopilot
	auto  *autoSnapshots
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

func (s *clusterBackend) Close() error {
	s.once.Do(func() { close(s.done) })
	s.wg.Wait()
	return nil
}

type ops = map[logical.Operation]logical.Handler

func (s *clusterBackend) routes() []logical.Route {
	c := s.c
	return []logical.Route{
		{Pattern: "storage/raft/bootstrap/challenge", Unauthenticated: true, Ops: ops{logical.UpdateOperation: c.challengeReq},
			Synopsis: "Start a node's join: a challenge only a holder of the unseal keys can answer.",
			Fields:   logical.Fields{{Name: "server_id", Description: "The joining node's node_id."}}},
		{Pattern: "storage/raft/bootstrap/answer", Unauthenticated: true, Ops: ops{logical.UpdateOperation: c.answerReq},
			Synopsis: "Complete a node's join with the answer to its challenge.",
			Fields: logical.Fields{
				{Name: "server_id", Description: "The joining node's node_id."},
				{Name: "answer", Description: "The opened challenge, base64."},
				{Name: "cluster_addr", Description: "The host:port of the node's cluster port."},
				{Name: "non_voter", Type: logical.TypeBool, Description: "Keep the node a non-voter."},
			}},
		{Pattern: "storage/raft/configuration", Sudo: true, Ops: ops{logical.ReadOperation: s.configurationReq},
			Synopsis: "List the raft cluster's members."},
		{Pattern: "storage/raft/remove-peer", Sudo: true, Ops: ops{logical.UpdateOperation: s.removePeerReq},
			Synopsis: "Remove a member from the raft cluster; it cannot come back with its old data.",
			Fields:   logical.Fields{{Name: "server_id", Description: "The node_id of the member to remove."}}},
		{Pattern: "storage/raft/autopilot/state", Sudo: true, Ops: ops{logical.ReadOperation: s.autopilotStateReq},
			Synopsis: "Report the health of each member as autopilot sees it."},
		{Pattern: "storage/raft/autopilot/configuration", Sudo: true, Ops: ops{logical.ReadOperation: s.autopilotConfigReq, logical.UpdateOperation: s.autopilotConfigReq},
			Synopsis: "Read or set autopilot's configuration.",
			Fields: logical.Fields{
				{Name: "cleanup_dead_servers", Type: logical.TypeBool, Description: "Remove members that stayed unreachable for dead_server_last_contact_threshold."},
				{Name: "last_contact_threshold", Description: "How long a member may go unheard before it counts as unhealthy (10s)."},
				{Name: "dead_server_last_contact_threshold", Description: "How long a member may go unheard before cleanup removes it (24h)."},
				{Name: "max_trailing_logs", Type: logical.TypeInt, Description: "How far behind the leader a healthy member may be, in entries (1000)."},
				{Name: "min_quorum", Type: logical.TypeInt, Description: "Never remove a dead member below this many voters (3)."},
				{Name: "server_stabilization_time", Description: "How long a new member must stay healthy before it becomes a voter (10s)."},
			}},
		{Pattern: "ha-status", Sudo: true, Ops: ops{logical.ReadOperation: s.haStatusReq},
			Synopsis: "List the nodes of the HA cluster: the active node and the standbys that report to it."},
	}
}

func (s *clusterBackend) configurationReq(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	servers, err := s.c.store.Configuration()
	if err != nil {
		return nil, err
	}
	leaderID, _ := s.c.store.Leader()
	var out []map[string]any
	for _, srv := range servers {
		out = append(out, map[string]any{
			"node_id": srv.ID, "address": srv.Address, "leader": srv.ID == leaderID,
			"protocol_version": "3", "voter": srv.Voter,
		})
	}
	return &logical.Response{Data: map[string]any{"config": map[string]any{
		"servers": out, "index": s.c.store.Stats().CommitIndex,
	}}}, nil
}

func (s *clusterBackend) removePeerReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	id, _, err := logical.Str(req.Data, "server_id")
	if err != nil || id == "" {
		return nil, logical.BadRequest("server_id is required")
	}
	servers, err := s.c.store.Configuration()
	if err != nil {
		return nil, err
	}
	found := false
	for _, srv := range servers {
		found = found || srv.ID == id
	}
	if !found {
		return nil, logical.BadRequest("node %q is not a member of this cluster", id)
	}
	if err := s.c.store.RemoveServer(id); err != nil {
		return nil, logical.BadRequest("remove %q: %v", id, err)
	}
	s.c.logger.Info("removed a node from the raft cluster", "node_id", id, "accessor", accessorOf(req))
	return nil, nil
}

func accessorOf(req *logical.Request) string {
	if req.Token == nil {
		return ""
	}
	return req.Token.Accessor
}

func (s *clusterBackend) haStatusReq(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	now := time.Now()
	adv, _ := s.c.cfg.ClusterAdvertise()
	nodes := []map[string]any{{
		"hostname": hostname(), "api_address": s.c.cfg.APIAddr, "cluster_address": "https://" + adv,
		"active_node": true, "last_echo": nil, "version": core.Version, "node_id": s.c.nodeID,
	}}
	echoes := s.c.echoes.recent(now, 10*echoInterval)
	sort.Slice(echoes, func(i, j int) bool { return echoes[i].NodeID < echoes[j].NodeID })
	for _, e := range echoes {
		if e.NodeID == s.c.nodeID {
			continue
		}
		nodes = append(nodes, map[string]any{
			"hostname": e.Hostname, "api_address": e.APIAddr, "cluster_address": "https://" + e.ClusterAddr,
			"active_node": false, "last_echo": e.at.UTC().Format(time.RFC3339Nano), "version": e.Version, "node_id": e.NodeID,
		})
	}
	return &logical.Response{Data: map[string]any{"nodes": nodes}}, nil
}

// autopilotConfig is Vault's autopilot configuration.
type autopilotConfig struct {
	CleanupDeadServers             bool     `json:"cleanup_dead_servers"`
	LastContactThreshold           duration `json:"last_contact_threshold"`
	DeadServerLastContactThreshold duration `json:"dead_server_last_contact_threshold"`
	MaxTrailingLogs                uint64   `json:"max_trailing_logs"`
	MinQuorum                      int      `json:"min_quorum"`
	ServerStabilizationTime        duration `json:"server_stabilization_time"`
}

// duration marshals as a Go duration string ("10s").
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = duration(v)
	return err
}

func defaultAutopilot() autopilotConfig {
	return autopilotConfig{
		LastContactThreshold:           duration(10 * time.Second),
		DeadServerLastContactThreshold: duration(24 * time.Hour),
		MaxTrailingLogs:                1000,
		MinQuorum:                      3,
		ServerStabilizationTime:        duration(10 * time.Second),
	}
}

func (s *clusterBackend) autopilotConfigReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if req.Operation == logical.ReadOperation {
		cfg := s.pilot.config()
		return &logical.Response{Data: map[string]any{
			"cleanup_dead_servers":               cfg.CleanupDeadServers,
			"last_contact_threshold":             time.Duration(cfg.LastContactThreshold).String(),
			"dead_server_last_contact_threshold": time.Duration(cfg.DeadServerLastContactThreshold).String(),
			"max_trailing_logs":                  cfg.MaxTrailingLogs,
			"min_quorum":                         cfg.MinQuorum,
			"server_stabilization_time":          time.Duration(cfg.ServerStabilizationTime).String(),
			"disable_upgrade_migration":          false,
		}}, nil
	}
	cfg := s.pilot.config()
	if v, ok, err := logical.Bool(req.Data, "cleanup_dead_servers"); err != nil {
		return nil, logical.BadRequest("cleanup_dead_servers: %v", err)
	} else if ok {
		cfg.CleanupDeadServers = v
	}
	for _, f := range []struct {
		name string
		dst  *duration
	}{{"last_contact_threshold", &cfg.LastContactThreshold}, {"dead_server_last_contact_threshold", &cfg.DeadServerLastContactThreshold}, {"server_stabilization_time", &cfg.ServerStabilizationTime}} {
		v, ok, err := logical.Duration(req.Data, f.name)
		if err != nil || (ok && v <= 0) {
			return nil, logical.BadRequest("%s must be a positive duration", f.name)
		}
		if ok {
			*f.dst = duration(v)
		}
	}
	if v, ok, err := logical.Int(req.Data, "max_trailing_logs"); err != nil || (ok && v < 1) {
		return nil, logical.BadRequest("max_trailing_logs must be a positive number")
	} else if ok {
		cfg.MaxTrailingLogs = uint64(v)
	}
	if v, ok, err := logical.Int(req.Data, "min_quorum"); err != nil || (ok && v < 1) {
		return nil, logical.BadRequest("min_quorum must be a positive number")
	} else if ok {
		cfg.MinQuorum = int(v)
	}
	raw, _ := json.Marshal(cfg)
	if err := s.c.core.Barrier().Put(ctx, autopilotPath, raw); err != nil {
		return nil, err
	}
	s.pilot.setConfig(cfg)
	return nil, nil
}

func (s *clusterBackend) autopilotStateReq(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	return &logical.Response{Data: s.pilot.state(s.c)}, nil
}

// autopilot watches the members from the active node: it promotes a
// non-voter that has stayed caught up for server_stabilization_time, and
// (when cleanup_dead_servers is on) removes a member unheard for
// dead_server_last_contact_threshold while enough voters remain.
type autopilot struct {
	mu      sync.Mutex
	cfg     autopilotConfig
	members map[string]*memberHealth
}

type memberHealth struct {
	lastContact time.Time
	stableSince time.Time
	healthy     bool
	status      nodeStatus
}

func newAutopilot() *autopilot {
	return &autopilot{cfg: defaultAutopilot(), members: map[string]*memberHealth{}}
}

func (a *autopilot) load(ctx context.Context, c *raftCluster) error {
	raw, err := c.core.Barrier().Get(ctx, autopilotPath)
	if err != nil {
		return fmt.Errorf("read the autopilot configuration: %w", err)
	}
	if raw != nil {
		cfg := defaultAutopilot()
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return fmt.Errorf("read the autopilot configuration: %w", err)
		}
		a.setConfig(cfg)
	}
	return nil
}

func (a *autopilot) config() autopilotConfig {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

func (a *autopilot) setConfig(cfg autopilotConfig) {
	a.mu.Lock()
	a.cfg = cfg
	a.mu.Unlock()
}

// autopilotInterval is how often autopilot checks the members.
const autopilotInterval = time.Second

func (a *autopilot) run(c *raftCluster, done <-chan struct{}) {
	started := time.Now()
	t := time.NewTicker(autopilotInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		a.tick(c, started, done)
	}
}

func (a *autopilot) tick(c *raftCluster, started time.Time, done <-chan struct{}) {
	servers, err := c.store.Configuration()
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	leader := c.store.Stats()
	cfg := a.config()
	now := time.Now()
	voters := 0
	for _, s := range servers {
		if s.Voter {
			voters++
		}
	}
	seen := map[string]bool{}
	for _, s := range servers {
		seen[s.ID] = true
		a.mu.Lock()
		m := a.members[s.ID]
		if m == nil {
			// A member first seen now counts as heard from now, so a
			// new active node does not declare everyone dead at once.
			m = &memberHealth{lastContact: now}
			a.members[s.ID] = m
		}
		a.mu.Unlock()
		var st nodeStatus
		ok := true
		if s.ID == c.nodeID {
			st = c.status()
		} else {
			st, err = c.peerStatus(ctx, s.Address)
			ok = err == nil
		}
		a.mu.Lock()
		if ok {
			m.lastContact = now
			m.status = st
		}
		lag := uint64(0)
		if leader.LastIndex > m.status.AppliedIndex {
			lag = leader.LastIndex - m.status.AppliedIndex
		}
		healthy := now.Sub(m.lastContact) <= time.Duration(cfg.LastContactThreshold) && lag <= cfg.MaxTrailingLogs && ok
		if healthy && !m.healthy {
			m.stableSince = now
		}
		m.healthy = healthy
		stable := healthy && now.Sub(m.stableSince) >= time.Duration(cfg.ServerStabilizationTime)
		dead := now.Sub(m.lastContact) > time.Duration(cfg.DeadServerLastContactThreshold) && now.Sub(started) > time.Duration(cfg.DeadServerLastContactThreshold)
		a.mu.Unlock()
		switch {
		case !s.Voter && stable:
			if nv, _ := c.core.Barrier().Get(ctx, nonVoterPath+s.ID); nv != nil {
				continue
			}
			if err := c.store.AddVoter(s.ID, s.Address); err != nil {
				c.logger.Warn("autopilot: promote to voter", "node_id", s.ID, "err", err)
			} else {
				c.logger.Info("autopilot: promoted a caught-up member to voter", "node_id", s.ID)
			}
		case dead && cfg.CleanupDeadServers && s.ID != c.nodeID && (!s.Voter || voters-1 >= cfg.MinQuorum):
			if err := c.store.RemoveServer(s.ID); err != nil {
				c.logger.Warn("autopilot: remove a dead member", "node_id", s.ID, "err", err)
			} else {
				c.logger.Warn("autopilot: removed a dead member", "node_id", s.ID, "unheard_for", now.Sub(m.lastContact).String())
			}
		}
	}
	a.mu.Lock()
	for id := range a.members {
		if !seen[id] {
			delete(a.members, id)
		}
	}
	a.mu.Unlock()
}

// state is autopilot/state in Vault's shape.
func (a *autopilot) state(c *raftCluster) map[string]any {
	servers, _ := c.store.Configuration()
	leaderID, _ := c.store.Leader()
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]any{}
	var voterIDs []string
	healthyVoters, allHealthy := 0, true
	for _, s := range servers {
		m := a.members[s.ID]
		h := m != nil && m.healthy
		allHealthy = allHealthy && h
		status := "non-voter"
		if s.Voter {
			status = "voter"
			voterIDs = append(voterIDs, s.ID)
			if h {
				healthyVoters++
			}
		}
		if s.ID == leaderID {
			status = "leader"
		}
		entry := map[string]any{
			"id": s.ID, "name": s.ID, "address": s.Address, "node_status": "alive", "healthy": h,
			"status": status, "node_type": map[bool]string{true: "voter", false: "read-replica"}[s.Voter],
			"version": core.Version, "last_contact": "0s", "last_term": 0, "last_index": 0, "stable_since": "",
		}
		if m != nil {
			if !h {
				entry["node_status"] = "left"
			}
			entry["last_contact"] = now.Sub(m.lastContact).Round(time.Millisecond).String()
			entry["last_term"] = m.status.Term
			entry["last_index"] = m.status.AppliedIndex
			if !m.stableSince.IsZero() {
				entry["stable_since"] = m.stableSince.UTC().Format(time.RFC3339Nano)
			}
		}
		out[s.ID] = entry
	}
	quorum := len(voterIDs)/2 + 1
	tolerance := max(healthyVoters-quorum, 0)
	return map[string]any{
		"healthy": allHealthy && healthyVoters >= quorum, "failure_tolerance": tolerance,
		"leader": leaderID, "voters": voterIDs, "servers": out,
		"optimistic_failure_tolerance": tolerance,
	}
}
