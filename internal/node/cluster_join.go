package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage"
)

// A join, as Keyward runs it:
//
//  1. The new node (empty raft directory) asks the active node for a
//     challenge (sys/storage/raft/bootstrap/challenge, unauthenticated):
//     32 random bytes sealed by the cluster's barrier, plus the barrier's
//     own stored entries (seal configuration, root key, keyring), which are
//     ciphertext that only the unseal keys open.
//  2. The operator unseals the new node with the cluster's unseal keys; the
//     node opens the challenge with them and answers it
//     (sys/storage/raft/bootstrap/answer). Only a holder of the unseal keys
//     can answer.
//  3. The active node checks the answer in constant time, issues the node a
//     cluster certificate from the CA kept behind the barrier, and adds it
//     as a non-voter; autopilot promotes it once it has caught up.
//
// Pending challenges are bounded (maxPendingJoins, each a fixed-size
// record that expires): a flood of challenge requests costs constant
// memory.

const (
	maxPendingJoins = 64
	challengeTTL    = 10 * time.Minute
	joinTimeout     = 30 * time.Second
)

// nodeIDPattern is what a node id may be: it names the node in
// certificates, the raft configuration and storage keys.
var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// admissions are the active node's pending join challenges.
type admissions struct {
	mu      sync.Mutex
	pending map[string]admission
}

type admission struct {
	answer  [32]byte
	expires time.Time
}

func newAdmissions() *admissions { return &admissions{pending: map[string]admission{}} }

// add records a challenge for id, replacing an earlier one; when full, the
// expired ones go first, then the one closest to expiring.
func (a *admissions) add(id string, answer [32]byte, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, v := range a.pending {
		if now.After(v.expires) {
			delete(a.pending, k)
		}
	}
	if _, ok := a.pending[id]; !ok && len(a.pending) >= maxPendingJoins {
		oldest := ""
		for k, v := range a.pending {
			if oldest == "" || v.expires.Before(a.pending[oldest].expires) {
				oldest = k
			}
		}
		delete(a.pending, oldest)
	}
	a.pending[id] = admission{answer: answer, expires: now.Add(challengeTTL)}
}

// take checks an answer for id in constant time. Any attempt, right or
// wrong, uses the challenge up: a wrong guess cannot be retried.
func (a *admissions) take(id string, answer []byte, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pending[id]
	delete(a.pending, id)
	if !ok || now.After(p.expires) {
		return false
	}
	return subtle.ConstantTimeCompare(p.answer[:], answer) == 1
}

// pendingJoin is a join waiting for the unseal keys.
type pendingJoin struct {
	leader    string
	client    *http.Client
	challenge []byte
	nonVoter  bool
}

// joinParams are a join's settings (sys/storage/raft/join's body, or a
// retry_join block).
type joinParams struct {
	LeaderAPIAddr    string
	LeaderCACert     string // PEM
	LeaderClientCert string // PEM
	LeaderClientKey  string // PEM
	TLSServerName    string
	NonVoter         bool
}

// joinReq serves sys/storage/raft/join on a new node.
func (c *raftCluster) joinReq(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if req.Operation != logical.UpdateOperation && req.Operation != logical.CreateOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	var p joinParams
	var err error
	str := func(k string) string {
		v, _, e := logical.Str(req.Data, k)
		if e != nil && err == nil {
			err = e
		}
		return v
	}
	p.LeaderAPIAddr = str("leader_api_addr")
	p.LeaderCACert = str("leader_ca_cert")
	p.LeaderClientCert = str("leader_client_cert")
	p.LeaderClientKey = str("leader_client_key")
	p.TLSServerName = str("leader_tls_servername")
	retry, _, e1 := logical.Bool(req.Data, "retry")
	nonVoter, _, e2 := logical.Bool(req.Data, "non_voter")
	if err = errors.Join(err, e1, e2); err != nil {
		return nil, logical.BadRequest("%v", err)
	}
	p.NonVoter = nonVoter
	if p.LeaderAPIAddr == "" {
		return nil, logical.BadRequest("leader_api_addr is required")
	}
	if err := c.canJoin(ctx); err != nil {
		return nil, err
	}
	if retry {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.joinUntil([]joinParams{p})
		}()
	} else if err := c.fetchChallenge(ctx, p); err != nil {
		return nil, err
	}
	return &logical.Response{Raw: []byte(`{"joined":true}`), ContentType: "application/json", Status: http.StatusOK}, nil
}

// canJoin refuses a join on a node that holds data or is initialized: a
// removed node cannot come back with its old data.
func (c *raftCluster) canJoin(ctx context.Context) error {
	has, err := c.store.HasState()
	if err != nil {
		return err
	}
	if has || c.store.Started() {
		return logical.BadRequest("this node already holds raft data (%s): it cannot join a cluster; a removed node must start again from an empty directory", c.cfg.Storage.Path)
	}
	if init, err := c.core.Initialized(ctx); err != nil {
		return err
	} else if init {
		c.mu.Lock()
		pending := c.join != nil
		c.mu.Unlock()
		if pending {
			return logical.BadRequest("a join is already pending: unseal this node with the cluster's unseal keys to complete it")
		}
		return logical.BadRequest("this node is initialized: it cannot join another cluster")
	}
	return nil
}

// retryJoin runs the config's retry_join blocks on a new node.
func (c *raftCluster) retryJoin() {
	var ps []joinParams
	for _, rj := range c.cfg.Storage.RetryJoin {
		p := joinParams{LeaderAPIAddr: rj.LeaderAPIAddr, TLSServerName: rj.LeaderTLSServerName}
		for _, f := range []struct {
			file string
			dst  *string
		}{{rj.LeaderCACertFile, &p.LeaderCACert}, {rj.LeaderClientCertFile, &p.LeaderClientCert}, {rj.LeaderClientKeyFile, &p.LeaderClientKey}} {
			if f.file == "" {
				continue
			}
			b, err := os.ReadFile(f.file)
			if err != nil {
				c.logger.Error("retry_join: read file", "file", f.file, "err", err)
				return
			}
			*f.dst = string(b)
		}
		ps = append(ps, p)
	}
	if len(ps) > 0 {
		c.joinUntil(ps)
	}
}

// joinUntil asks each leader in turn for a challenge until one answers,
// the node is no longer joinable (initialized, joined, or holding data),
// or the node closes.
func (c *raftCluster) joinUntil(ps []joinParams) {
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
		err := c.canJoin(ctx)
		if err == nil {
			p := ps[i%len(ps)]
			if err = c.fetchChallenge(ctx, p); err == nil {
				cancel()
				c.logger.Info("join: challenge received; unseal this node with the cluster's unseal keys", "leader", p.LeaderAPIAddr)
				return
			}
			c.logger.Warn("join: leader did not admit this node yet; retrying", "leader", p.LeaderAPIAddr, "err", err)
		} else {
			cancel()
			return
		}
		cancel()
		select {
		case <-c.stop:
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// joinHTTP returns an HTTP client for the leader's API.
func joinHTTP(p joinParams) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: p.TLSServerName}
	if p.LeaderCACert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(p.LeaderCACert)) {
			return nil, logical.BadRequest("leader_ca_cert holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if p.LeaderClientCert != "" || p.LeaderClientKey != "" {
		cert, err := tls.X509KeyPair([]byte(p.LeaderClientCert), []byte(p.LeaderClientKey))
		if err != nil {
			return nil, logical.BadRequest("leader_client_cert and leader_client_key do not form a key pair")
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr := &http.Transport{TLSClientConfig: tc, Proxy: nil, ForceAttemptHTTP2: false}
	return &http.Client{Transport: tr, Timeout: joinTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, nil
}

// postLeader sends body to path on the leader and decodes the "data" of
// its answer into out.
func postLeader(ctx context.Context, hc *http.Client, leader, path string, body, out any) error {
	u, err := url.Parse(leader)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return logical.BadRequest("leader_api_addr %q must be an http or https URL", leader)
	}
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(u.String(), "/")+"/v1/"+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("join: %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("join: %s: %w", path, err)
	}
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []string        `json:"errors"`
	}
	_ = json.Unmarshal(b, &env)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("join: the leader answered %s with %d: %s", path, resp.StatusCode, strings.Join(env.Errors, "; "))
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("join: %s: malformed answer from the leader", path)
	}
	return nil
}

// challengeAnswer is the leader's answer to a challenge request.
type challengeAnswer struct {
	Challenge  []byte `json:"challenge"`
	SealConfig []byte `json:"seal_config"`
	RootKey    []byte `json:"root_key"`
	Keyring    []byte `json:"keyring"`
	// With an auto seal: the wrapped unseal key and the recovery key's
	// entries, so the joining node unseals itself with the same seal.
	SealedKey      []byte `json:"sealed_key,omitempty"`
	RecoveryConfig []byte `json:"recovery_config,omitempty"`
	RecoveryKey    []byte `json:"recovery_key,omitempty"`
}

// fetchChallenge asks the leader for a join challenge and holds it, with
// the barrier entries that let the operator unseal this node, until the
// unseal.
func (c *raftCluster) fetchChallenge(ctx context.Context, p joinParams) error {
	hc, err := joinHTTP(p)
	if err != nil {
		return err
	}
	var ch challengeAnswer
	if err := postLeader(ctx, hc, p.LeaderAPIAddr, "sys/storage/raft/bootstrap/challenge", map[string]any{"server_id": c.nodeID}, &ch); err != nil {
		return err
	}
	if len(ch.Challenge) == 0 || len(ch.SealConfig) == 0 || len(ch.RootKey) == 0 || len(ch.Keyring) == 0 {
		return errors.New("join: the leader's challenge is incomplete")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.join != nil {
		return logical.BadRequest("a join is already pending: unseal this node with the cluster's unseal keys to complete it")
	}
	entries := map[string][]byte{
		barrier.SealConfigPath: ch.SealConfig,
		barrier.RootKeyPath:    ch.RootKey,
		barrier.KeyringPath:    ch.Keyring,
	}
	for k, v := range map[string][]byte{barrier.SealedKeyPath: ch.SealedKey, barrier.RecoveryConfigPath: ch.RecoveryConfig, barrier.RecoveryKeyPath: ch.RecoveryKey} {
		if len(v) > 0 {
			entries[k] = v
		}
	}
	c.phys.set(entries)
	c.join = &pendingJoin{leader: p.LeaderAPIAddr, client: hc, challenge: ch.Challenge, nonVoter: p.NonVoter}
	// An auto-sealed node completes the join by unsealing itself.
	c.core.KickAutoUnseal()
	return nil
}

// admittedNode is the leader's answer to a correct challenge answer.
type admittedNode struct {
	CACert   string `json:"ca_cert"`
	NodeCert string `json:"node_cert"`
	NodeKey  string `json:"node_key"`
}

// completeJoin answers the challenge with the barrier the unseal keys just
// opened and starts the cluster port with the certificate the leader
// issues.
func (c *raftCluster) completeJoin(ctx context.Context, b *barrier.Barrier, j *pendingJoin) error {
	answer, err := b.Decrypt(challengePath, j.challenge)
	if err != nil {
		return logical.BadRequest("join: these unseal keys do not open the leader's challenge")
	}
	adv, _ := c.cfg.ClusterAdvertise()
	var adm admittedNode
	err = postLeader(ctx, j.client, j.leader, "sys/storage/raft/bootstrap/answer", map[string]any{
		"server_id": c.nodeID, "answer": answer, "cluster_addr": adv, "non_voter": j.nonVoter,
	}, &adm)
	clear(answer)
	if err != nil {
		// The challenge is spent either way: start over.
		c.mu.Lock()
		c.join = nil
		c.mu.Unlock()
		c.phys.set(nil)
		return fmt.Errorf("%w; join this node again", err)
	}
	cert, err := tls.X509KeyPair([]byte(adm.NodeCert), []byte(adm.NodeKey))
	if err != nil {
		return fmt.Errorf("join: the leader's node certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(adm.CACert)) {
		return errors.New("join: the leader sent no cluster CA")
	}
	if err := c.startWith(pool, cert); err != nil {
		return err
	}
	c.mu.Lock()
	c.join = nil
	c.mu.Unlock()
	c.logger.Info("joined the raft cluster", "leader", j.leader)
	return nil
}

// challengeReq serves sys/storage/raft/bootstrap/challenge on the active
// node.
func (c *raftCluster) challengeReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	id, _, err := logical.Str(req.Data, "server_id")
	if err != nil || !nodeIDPattern.MatchString(id) {
		return nil, logical.BadRequest("server_id must be 1 to 128 letters, digits, '.', '_' or '-'")
	}
	if err := c.notMember(id); err != nil {
		return nil, err
	}
	var answer [32]byte
	rand.Read(answer[:])
	env, err := c.core.Barrier().Encrypt(challengePath, answer[:])
	if err != nil {
		return nil, err
	}
	out := challengeAnswer{Challenge: env}
	for _, e := range []struct {
		key string
		dst *[]byte
	}{{barrier.SealConfigPath, &out.SealConfig}, {barrier.RootKeyPath, &out.RootKey}, {barrier.KeyringPath, &out.Keyring}} {
		v, err := c.store.Get(ctx, e.key)
		if err != nil {
			return nil, fmt.Errorf("join challenge: read %s: %w", e.key, err)
		}
		*e.dst = v
	}
	for _, e := range []struct {
		key string
		dst *[]byte
	}{{barrier.SealedKeyPath, &out.SealedKey}, {barrier.RecoveryConfigPath, &out.RecoveryConfig}, {barrier.RecoveryKeyPath, &out.RecoveryKey}} {
		v, err := c.store.Get(ctx, e.key)
		if errors.Is(err, storage.ErrNotFound) {
			continue // Shamir: no such entries
		}
		if err != nil {
			return nil, fmt.Errorf("join challenge: read %s: %w", e.key, err)
		}
		*e.dst = v
	}
	c.admit.add(id, answer, time.Now())
	clear(answer[:])
	data := map[string]any{
		"challenge": out.Challenge, "seal_config": out.SealConfig, "root_key": out.RootKey, "keyring": out.Keyring,
	}
	if out.SealedKey != nil {
		data["sealed_key"], data["recovery_config"], data["recovery_key"] = out.SealedKey, out.RecoveryConfig, out.RecoveryKey
	}
	return &logical.Response{Data: data}, nil
}

// notMember refuses a join under the id of a current member: a node
// joining with an empty directory under a voter's id would count as that
// voter and could lose acknowledged writes.
func (c *raftCluster) notMember(id string) error {
	servers, err := c.store.Configuration()
	if err != nil {
		return err
	}
	for _, s := range servers {
		if s.ID == id {
			return logical.BadRequest("node %q is already a member of this cluster: remove it first (operator raft remove-peer), then join it with an empty directory", id)
		}
	}
	return nil
}

// answerReq serves sys/storage/raft/bootstrap/answer on the active node.
func (c *raftCluster) answerReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	id, _, err1 := logical.Str(req.Data, "server_id")
	ans, _, err2 := logical.Str(req.Data, "answer")
	addr, _, err3 := logical.Str(req.Data, "cluster_addr")
	nonVoter, _, err4 := logical.Bool(req.Data, "non_voter")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, logical.BadRequest("%v", err)
	}
	answer, err := base64.StdEncoding.DecodeString(ans)
	if err != nil || !nodeIDPattern.MatchString(id) || !c.admit.take(id, answer, time.Now()) {
		return nil, logical.Errorf(http.StatusForbidden, "the join answer is not valid (wrong unseal keys, expired, or already used): join again")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, logical.BadRequest("cluster_addr must be host:port")
	}
	if err := c.notMember(id); err != nil {
		return nil, err
	}
	b := c.core.Barrier()
	ca, err := loadCA(ctx, b)
	if err != nil {
		return nil, err
	}
	cert, err := ca.Issue(id, nodeValidity)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := encodeCert(cert)
	if err != nil {
		return nil, err
	}
	if c.store.Removed(id) {
		// The unseal keys vouch for the node, and its directory is empty.
		if err := c.store.Readmit(id); err != nil {
			return nil, err
		}
	}
	if nonVoter {
		if err := b.Put(ctx, nonVoterPath+id, []byte("1")); err != nil {
			return nil, err
		}
	} else if err := b.Delete(ctx, nonVoterPath+id); err != nil {
		return nil, err
	}
	if err := c.store.AddNonvoter(id, addr); err != nil {
		return nil, err
	}
	c.logger.Info("admitted a node to the raft cluster", "node_id", id, "cluster_addr", addr, "non_voter", nonVoter)
	return &logical.Response{Data: map[string]any{
		"ca_cert": string(ca.CertPEM()), "node_cert": certPEM, "node_key": keyPEM,
	}}, nil
}
