package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// RaftJoinRequest is the body of sys/storage/raft/join. The PEM fields are
// the contents of the files, not their names.
type RaftJoinRequest struct {
	LeaderAPIAddr    string `json:"leader_api_addr"`
	LeaderCACert     string `json:"leader_ca_cert,omitempty"`
	LeaderClientCert string `json:"leader_client_cert,omitempty"`
	LeaderClientKey  string `json:"leader_client_key,omitempty"`
	// Retry keeps trying in the background until the leader answers.
	Retry bool `json:"retry,omitempty"`
	// NonVoter keeps the node a non-voter; autopilot never promotes it.
	NonVoter bool `json:"non_voter,omitempty"`
}

// RaftJoin asks the node the client addresses to join the cluster led by
// r.LeaderAPIAddr. It needs no token. The node then waits, sealed, for the
// cluster's unseal keys. It reports whether the node accepted the join.
func (c *Client) RaftJoin(ctx context.Context, r RaftJoinRequest) (bool, error) {
	var out struct {
		Joined bool `json:"joined"`
	}
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/storage/raft/join", Body: r, NoToken: true}, &out)
	return out.Joined, err
}

// RaftServer is one member of the raft configuration.
type RaftServer struct {
	NodeID          string `json:"node_id"`
	Address         string `json:"address"`
	Leader          bool   `json:"leader"`
	Voter           bool   `json:"voter"`
	ProtocolVersion string `json:"protocol_version"`
}

// RaftConfiguration is sys/storage/raft/configuration's config.
type RaftConfiguration struct {
	Servers []RaftServer `json:"servers"`
	Index   uint64       `json:"index"`
}

// RaftConfiguration reads the cluster's members (needs sudo).
func (c *Client) RaftConfiguration(ctx context.Context) (*RaftConfiguration, error) {
	var s struct {
		Data struct {
			Config RaftConfiguration `json:"config"`
		} `json:"data"`
	}
	if _, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/storage/raft/configuration"}, &s); err != nil {
		return nil, err
	}
	return &s.Data.Config, nil
}

// RaftRemovePeer removes the member with node id id from the cluster
// (needs sudo). A removed node cannot come back with its old data.
func (c *Client) RaftRemovePeer(ctx context.Context, id string) error {
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/storage/raft/remove-peer", Body: map[string]any{"server_id": id}}, nil)
	return err
}

// AutopilotServer is one member as autopilot sees it.
type AutopilotServer struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Address     string `json:"address"`
	NodeStatus  string `json:"node_status"`
	NodeType    string `json:"node_type"`
	Healthy     bool   `json:"healthy"`
	Status      string `json:"status"` // leader, voter or non-voter
	Version     string `json:"version"`
	LastContact string `json:"last_contact"` // a duration, "1.2s"
	LastTerm    uint64 `json:"last_term"`
	LastIndex   uint64 `json:"last_index"`
	StableSince string `json:"stable_since"` // RFC 3339, or empty
}

// AutopilotState is sys/storage/raft/autopilot/state.
type AutopilotState struct {
	Healthy                    bool                       `json:"healthy"`
	FailureTolerance           int                        `json:"failure_tolerance"`
	OptimisticFailureTolerance int                        `json:"optimistic_failure_tolerance"`
	Leader                     string                     `json:"leader"`
	Voters                     []string                   `json:"voters"`
	Servers                    map[string]AutopilotServer `json:"servers"`
}

// RaftAutopilotState reads autopilot's view of the members (needs sudo).
func (c *Client) RaftAutopilotState(ctx context.Context) (*AutopilotState, error) {
	var s struct {
		Data AutopilotState `json:"data"`
	}
	if _, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/storage/raft/autopilot/state"}, &s); err != nil {
		return nil, err
	}
	return &s.Data, nil
}

// Duration is a time.Duration that travels as a Go duration string
// ("10s"), as the autopilot configuration's durations do.
type Duration time.Duration

// MarshalJSON writes d as "10s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "10s", or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration: %s is neither a string nor a number", b)
		}
		*d = Duration(n * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// AutopilotConfig is sys/storage/raft/autopilot/configuration.
type AutopilotConfig struct {
	CleanupDeadServers             bool     `json:"cleanup_dead_servers"`
	LastContactThreshold           Duration `json:"last_contact_threshold"`
	DeadServerLastContactThreshold Duration `json:"dead_server_last_contact_threshold"`
	MaxTrailingLogs                uint64   `json:"max_trailing_logs"`
	MinQuorum                      int      `json:"min_quorum"`
	ServerStabilizationTime        Duration `json:"server_stabilization_time"`
}

// RaftAutopilotConfig reads autopilot's configuration (needs sudo).
func (c *Client) RaftAutopilotConfig(ctx context.Context) (*AutopilotConfig, error) {
	var s struct {
		Data AutopilotConfig `json:"data"`
	}
	if _, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/storage/raft/autopilot/configuration"}, &s); err != nil {
		return nil, err
	}
	return &s.Data, nil
}

// AutopilotConfigUpdate changes the fields that are set and leaves the
// others as they are.
type AutopilotConfigUpdate struct {
	CleanupDeadServers             *bool     `json:"cleanup_dead_servers,omitempty"`
	LastContactThreshold           *Duration `json:"last_contact_threshold,omitempty"`
	DeadServerLastContactThreshold *Duration `json:"dead_server_last_contact_threshold,omitempty"`
	MaxTrailingLogs                *uint64   `json:"max_trailing_logs,omitempty"`
	MinQuorum                      *int      `json:"min_quorum,omitempty"`
	ServerStabilizationTime        *Duration `json:"server_stabilization_time,omitempty"`
}

// RaftAutopilotSetConfig changes autopilot's configuration (needs sudo).
func (c *Client) RaftAutopilotSetConfig(ctx context.Context, u AutopilotConfigUpdate) error {
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/storage/raft/autopilot/configuration", Body: u}, nil)
	return err
}

// RaftSnapshot streams a snapshot of the raft storage into w (needs sudo):
// a gzip tar archive the caller should verify (internal/backup's
// SnapshotReader shape; the last entry is SHA256SUMS.sealed). w may have
// received part of a stream when an error returns.
func (c *Client) RaftSnapshot(ctx context.Context, w io.Writer) error {
	_, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/storage/raft/snapshot"}, w)
	return err
}

// RaftSnapshotRestore sends the snapshot read from r to the cluster (needs
// sudo). The server checks it whole before it changes anything. With
// force, a snapshot of another cluster is accepted too; the node then
// seals and needs that cluster's unseal keys, and the answer's data holds
// "sealed": true with a warning. The answer is nil when there is none.
func (c *Client) RaftSnapshotRestore(ctx context.Context, r io.Reader, force bool) (*Secret, error) {
	path := "sys/storage/raft/snapshot"
	if force {
		path = "sys/storage/raft/snapshot-force"
	}
	return c.secret(ctx, &Request{Method: http.MethodPost, Path: path, Body: r,
		Headers: http.Header{"Content-Type": {"application/octet-stream"}}})
}

// StepDown makes the active node give up the active role (needs sudo).
func (c *Client) StepDown(ctx context.Context) error {
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/step-down"}, nil)
	return err
}

// HANode is one node of sys/ha-status.
type HANode struct {
	Hostname       string `json:"hostname"`
	APIAddress     string `json:"api_address"`
	ClusterAddress string `json:"cluster_address"`
	ActiveNode     bool   `json:"active_node"`
	// LastEcho is when a standby last reported in; nil for the active node.
	LastEcho *time.Time `json:"last_echo"`
	Version  string     `json:"version"`
	NodeID   string     `json:"node_id"`
}

// HAStatus lists the active node and the standbys reporting to it (needs
// sudo).
func (c *Client) HAStatus(ctx context.Context) ([]HANode, error) {
	var s struct {
		Data struct {
			Nodes []HANode `json:"nodes"`
		} `json:"data"`
	}
	if _, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/ha-status"}, &s); err != nil {
		return nil, err
	}
	return s.Data.Nodes, nil
}

// LeaderResponse is sys/leader.
type LeaderResponse struct {
	HAEnabled            bool      `json:"ha_enabled"`
	IsSelf               bool      `json:"is_self"`
	LeaderAddress        string    `json:"leader_address"`
	LeaderClusterAddress string    `json:"leader_cluster_address"`
	ActiveTime           time.Time `json:"active_time"`
}

// Leader reads sys/leader: which node is active, as the addressed node
// sees it. It needs no token.
func (c *Client) Leader(ctx context.Context) (*LeaderResponse, error) {
	var l LeaderResponse
	if _, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/leader", NoToken: true}, &l); err != nil {
		return nil, err
	}
	return &l, nil
}
