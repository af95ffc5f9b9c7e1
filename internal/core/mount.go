package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
	"github.com/keyward/keyward/internal/uuid"
)

// Storage locations of the mount tables, inside the barrier.
const (
	mountTablePath = "core/mounts"
	authTablePath  = "core/auth"
)

// Mount entry table names.
const (
	tableMounts = "mounts"
	tableAuth   = "auth"
)

// MountEntry is one mounted engine or auth method.
type MountEntry struct {
	Table       string            `json:"table"`
	Path        string            `json:"path"` // "secret/" or, for auth, "auth/jwt/"
	Type        string            `json:"type"`
	Description string            `json:"description"`
	UUID        string            `json:"uuid"`
	Accessor    string            `json:"accessor"`
	Config      MountConfig       `json:"config"`
	Options     map[string]string `json:"options"`
	Local       bool              `json:"local"`
	SealWrap    bool              `json:"seal_wrap"`
	CreatedAt   time.Time         `json:"created_at"`
	// Moves are the paths the mount held before sys/remount moved it,
	// oldest first, so a token issued at an old path still finds the mount
	// that issued it (and a mount later created at that path does not).
	Moves []MountMove `json:"moves,omitempty"`
}

// MountMove is one earlier path of a mount and when the mount held it.
type MountMove struct {
	From  string    `json:"from"`
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
}

// pathSince is when the mount took its current path.
func (m *MountEntry) pathSince() time.Time {
	if n := len(m.Moves); n > 0 {
		return m.Moves[n-1].Until
	}
	return m.CreatedAt
}

// MountConfig is a mount's tunable configuration.
type MountConfig struct {
	DefaultLeaseTTL           time.Duration `json:"default_lease_ttl"`
	MaxLeaseTTL               time.Duration `json:"max_lease_ttl"`
	ListingVisibility         string        `json:"listing_visibility,omitempty"`
	AuditNonHMACRequestKeys   []string      `json:"audit_non_hmac_request_keys,omitempty"`
	AuditNonHMACResponseKeys  []string      `json:"audit_non_hmac_response_keys,omitempty"`
	PassthroughRequestHeaders []string      `json:"passthrough_request_headers,omitempty"`
	// TokenType is the type of token an auth mount's logins issue
	// (tokenparams: default-service, default-batch, service or batch; ""
	// is default-service). Secrets mounts and auth/token/ have none.
	TokenType string `json:"token_type,omitempty"`
	// Environment labels every path of the mount with an environment
	// ("prod", "staging") for policy conditions (environment_match).
	Environment string `json:"environment,omitempty"`
}

// storagePrefix is where a mount's own data lives inside the barrier.
func (m *MountEntry) storagePrefix() string {
	if m.Table == tableAuth {
		return "auth/" + m.UUID + "/"
	}
	return "logical/" + m.UUID + "/"
}

// mountTable is the router: mount path -> backend. Reads take a read lock
// and do no allocation on lookup.
type mountTable struct {
	// changeMu serialises changes (enable, disable, tune) from their
	// conflict checks to the table write, so concurrent changes can neither
	// create nested mounts nor lose each other's table updates.
	changeMu sync.Mutex
	mu       sync.RWMutex
	entries  map[string]*mount // by full path ("secret/", "auth/token/")
}

type mount struct {
	entry   *MountEntry
	backend logical.Backend
	view    logical.Storage
	// unauth holds the mount-relative paths served without a token.
	unauth []string
	sudo   []string
	system bool // sys/, auth/token/: cannot be disabled or moved

	// gate admits requests to backend. A change that replaces the mount
	// (a move, a KV upgrade) takes it for writing, which waits for the
	// requests already inside, and then retires the mount: requests
	// routed to it before the change are refused instead of reaching a
	// backend that is no longer the one at that path.
	gate    sync.RWMutex
	retired bool // guarded by gate
}

// errMountChanged is the answer to a request routed to a mount that was
// moved or replaced while the request waited; a retry reaches the new one.
var errMountChanged = logical.Errorf(http.StatusServiceUnavailable, "the mount changed while the request waited; retry")

// enter admits one request to m's backend; it reports false if m was
// retired. A true result must be followed by leave.
func (m *mount) enter() bool {
	m.gate.RLock()
	if m.retired {
		m.gate.RUnlock()
		return false
	}
	return true
}

func (m *mount) leave() { m.gate.RUnlock() }

// drain waits for the requests inside m and keeps new ones out until the
// returned function runs.
func (m *mount) drain() (release func()) {
	m.gate.Lock()
	return m.gate.Unlock
}

// install puts nm at newPath in place of old at oldPath (the same path when
// a backend is replaced in place) and retires old, which must be drained.
func (t *mountTable) install(old, nm *mount, oldPath, newPath string) {
	old.retired = true
	t.mu.Lock()
	delete(t.entries, oldPath)
	t.entries[newPath] = nm
	t.mu.Unlock()
}

// uninstall undoes install: old is back at oldPath and, once released,
// admits requests again.
func (t *mountTable) uninstall(old *mount, oldPath, newPath string) {
	t.mu.Lock()
	delete(t.entries, newPath)
	t.entries[oldPath] = old
	t.mu.Unlock()
	old.retired = false
}

// route finds the mount with the longest path that prefixes p, without
// allocating: it walks p's "/" boundaries from the longest down.
func (t *mountTable) route(p string) *mount {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if m, ok := t.entries[p]; ok && strings.HasSuffix(p, "/") {
		return m
	}
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != '/' {
			continue
		}
		if m, ok := t.entries[p[:i+1]]; ok {
			return m
		}
	}
	// "secret" (no slash) should reach "secret/".
	if m, ok := t.entries[p+"/"]; ok {
		return m
	}
	return nil
}

func (t *mountTable) get(path string) *mount {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.entries[path]
}

func (t *mountTable) list(table string) []*mount {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []*mount
	for _, m := range t.entries {
		if m.entry.Table == table {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].entry.Path < out[j].entry.Path })
	return out
}

func (t *mountTable) cleanup(ctx context.Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.entries {
		if cl, ok := m.backend.(logical.Cleaner); ok {
			cl.Cleanup(ctx)
		}
	}
}

// randomID returns a random version 4 UUID, for mount and request ids.
func randomID() string { return uuid.New() }

func accessorFor(typ string) string {
	var b [4]byte
	rand.Read(b[:]) // never fails (Go 1.24+); see docs/architecture.md
	return typ + "_" + hex.EncodeToString(b[:])
}

// loadMounts reads both tables, creating the defaults on first unseal, and
// instantiates every backend.
func (c *Core) loadMounts(ctx context.Context, a *active) (*mountTable, error) {
	t := &mountTable{entries: map[string]*mount{}}
	// System mounts always exist and are not stored.
	t.entries["sys/"] = &mount{
		entry:   &MountEntry{Table: tableMounts, Path: "sys/", Type: "system", Description: "system endpoints used for control, policy and debugging", UUID: "system", Accessor: "system"},
		backend: newSysBackend(c), // its path lists are set once the services are up
		system:  true,
	}
	tokBackend := a.tokens.Backend()
	tm := &mount{
		entry:   &MountEntry{Table: tableAuth, Path: "auth/token/", Type: "token", Description: "token based credentials", UUID: "token", Accessor: "auth_token"},
		backend: tokBackend,
		system:  true,
	}
	if u, ok := tokBackend.(logical.Unauthenticated); ok {
		tm.unauth = u.UnauthenticatedPaths()
	}
	if s, ok := tokBackend.(logical.SudoPaths); ok {
		tm.sudo = s.SudoPaths()
	}
	t.entries["auth/token/"] = tm
	t.entries["identity/"] = &mount{
		entry:   &MountEntry{Table: tableMounts, Path: "identity/", Type: "identity", Description: "identity store", UUID: "identity", Accessor: "identity"},
		backend: mfaBackend{id: a.identity.Backend(), mfa: logical.NewRouter(mfaHelp, a.mfa.Routes()...)},
		system:  true,
	}
	if err := c.readSystemConfig(ctx, t); err != nil {
		return nil, err
	}

	for _, table := range []string{tableMounts, tableAuth} {
		entries, err := c.readTable(ctx, table)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			m, err := c.instantiate(ctx, e)
			if err != nil {
				// One broken engine must not keep the server sealed, nor be
				// forgotten: it stays in the table (and is written back on
				// the next change) and answers 503 until it starts.
				c.logger.Error("mount failed to start", "path", e.Path, "type", e.Type, "err", err)
				m = &mount{entry: e, backend: brokenBackend{path: e.Path}, view: barrier.NewView(c.barrier, e.storagePrefix())}
			}
			t.entries[e.Path] = m
		}
	}
	return t, nil
}

func tablePath(table string) string {
	if table == tableAuth {
		return authTablePath
	}
	return mountTablePath
}

// systemConfigPath holds the tuned configuration of system mounts (only
// auth/token/ is tunable), which are not in the stored tables.
const systemConfigPath = "core/system-mounts"

type systemMountConfig struct {
	Description string      `json:"description"`
	Config      MountConfig `json:"config"`
}

func (c *Core) readSystemConfig(ctx context.Context, t *mountTable) error {
	raw, err := c.barrier.Get(ctx, systemConfigPath)
	if err != nil {
		return fmt.Errorf("read system mount config: %w", err)
	}
	if raw == nil {
		return nil
	}
	var cfgs map[string]systemMountConfig
	if err := json.Unmarshal(raw, &cfgs); err != nil {
		return fmt.Errorf("decode system mount config: %w", err)
	}
	for path, sc := range cfgs {
		if m, ok := t.entries[path]; ok && m.system {
			e := *m.entry
			e.Description, e.Config = sc.Description, sc.Config
			m.entry = &e
		}
	}
	return nil
}

// writeSystemConfig persists the tunables of every system mount.
func (c *Core) writeSystemConfig(ctx context.Context, t *mountTable, _ string) error {
	cfgs := map[string]systemMountConfig{}
	t.mu.RLock()
	for path, m := range t.entries {
		if m.system {
			cfgs[path] = systemMountConfig{Description: m.entry.Description, Config: m.entry.Config}
		}
	}
	t.mu.RUnlock()
	raw, err := json.Marshal(cfgs)
	if err != nil {
		return err
	}
	if err := c.barrier.Put(ctx, systemConfigPath, raw); err != nil {
		return fmt.Errorf("write system mount config: %w", err)
	}
	return nil
}

func (c *Core) readTable(ctx context.Context, table string) ([]*MountEntry, error) {
	raw, err := c.barrier.Get(ctx, tablePath(table))
	if err != nil {
		return nil, fmt.Errorf("read %s table: %w", table, err)
	}
	if raw == nil {
		return nil, nil
	}
	var entries []*MountEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("decode %s table: %w", table, err)
	}
	return entries, nil
}

// writeTable persists the stored (non-system) entries of one table.
func (c *Core) writeTable(ctx context.Context, t *mountTable, table string) error {
	var entries []*MountEntry
	for _, m := range t.list(table) {
		if !m.system {
			entries = append(entries, m.entry)
		}
	}
	raw, err := json.Marshal(entries)
	if err != nil {
		return fmt.Errorf("encode %s table: %w", table, err)
	}
	if err := c.barrier.Put(ctx, tablePath(table), raw); err != nil {
		return fmt.Errorf("write %s table: %w", table, err)
	}
	return nil
}

func (c *Core) instantiate(ctx context.Context, e *MountEntry) (*mount, error) {
	factories := c.engines
	if e.Table == tableAuth {
		factories = c.authMethods
	}
	f, ok := factories[e.Type]
	if !ok {
		return nil, fmt.Errorf("unknown type %q", e.Type)
	}
	view := barrier.NewView(c.barrier, e.storagePrefix())
	b, err := f(ctx, &logical.BackendConfig{
		MountPoint: e.Path,
		Options:    e.Options,
		Storage:    view,
		System:     system{c},
	})
	if err != nil {
		return nil, err
	}
	m := &mount{entry: e, backend: b, view: view}
	if u, ok := b.(logical.Unauthenticated); ok {
		m.unauth = u.UnauthenticatedPaths()
	}
	if s, ok := b.(logical.SudoPaths); ok {
		m.sudo = s.SudoPaths()
	}
	return m, nil
}

// brokenBackend stands in for a mount whose engine failed to start.
type brokenBackend struct{ path string }

func (b brokenBackend) HandleRequest(context.Context, *logical.Request) (*logical.Response, error) {
	return nil, logical.Errorf(http.StatusServiceUnavailable, "mount %s is unavailable: its engine failed to start (see the server log)", b.path)
}

// reservedMountPaths cannot be used for new mounts.
var reservedMountPaths = []string{"sys/", "auth/", "cubbyhole/", "identity/", "audit/"}

// validMountPath normalises a user-supplied mount path to end in "/".
func validMountPath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", logical.BadRequest("mount path must not be empty")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", logical.BadRequest("invalid mount path %q", p)
		}
		for _, r := range seg {
			if r < 0x20 || r == 0x7f || r == '*' || r == '+' || r == '\\' {
				return "", logical.BadRequest("invalid mount path %q", p)
			}
		}
	}
	return p + "/", nil
}

// canonicalMountName applies the policy-name rule to each segment of a new
// mount path (ASCII lower-case letters, digits, '.', '_', '-', starting with
// a letter or digit), and refuses a segment ending in '.': "Secret", "secret ",
// "secret." or a Cyrillic "ѕecret" would otherwise sit beside "secret" and
// pass for it in policies, logs and UIs. Paths are checked, not normalised.
// Mounts stored before this rule keep working.
func canonicalMountName(p string) error {
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if err := policy.ValidName(seg); err != nil || strings.HasSuffix(seg, ".") {
			return logical.BadRequest("invalid mount path %q: each segment must be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit and not ending in '.'", p)
		}
	}
	return nil
}

// enableMount adds and persists a mount.
func (c *Core) enableMount(ctx context.Context, a *active, e *MountEntry) error {
	if err := canonicalMountName(e.Path); err != nil {
		return err
	}
	t := a.mounts
	full := e.Path
	if e.Table == tableAuth {
		full = "auth/" + e.Path
	} else {
		for _, r := range reservedMountPaths {
			if strings.HasPrefix(full, r) || strings.HasPrefix(r, full) {
				return logical.BadRequest("cannot mount at reserved path %q", e.Path)
			}
		}
	}
	t.changeMu.Lock()
	defer t.changeMu.Unlock()
	t.mu.RLock()
	for existing := range t.entries {
		if strings.HasPrefix(existing, full) || strings.HasPrefix(full, existing) {
			t.mu.RUnlock()
			return logical.BadRequest("path is already in use at %s", existing)
		}
	}
	t.mu.RUnlock()
	e.Path = full
	e.UUID = randomID()
	e.Accessor = accessorFor(map[bool]string{true: "auth_" + e.Type, false: e.Type}[e.Table == tableAuth])
	e.CreatedAt = c.now().UTC()
	m, err := c.instantiate(ctx, e)
	if err != nil {
		return logical.BadRequest("enable %s: %v", e.Type, err)
	}
	t.mu.Lock()
	if _, dup := t.entries[full]; dup {
		t.mu.Unlock()
		return logical.BadRequest("path is already in use at %s", full)
	}
	t.entries[full] = m
	t.mu.Unlock()
	if err := c.writeTable(ctx, t, e.Table); err != nil {
		t.mu.Lock()
		delete(t.entries, full)
		t.mu.Unlock()
		return err
	}
	c.logger.Info("mount enabled", "path", full, "type", e.Type)
	return nil
}

// disableMount removes a mount and all of its data.
func (c *Core) disableMount(ctx context.Context, a *active, full string) error {
	t := a.mounts
	t.changeMu.Lock()
	defer t.changeMu.Unlock()
	m := t.get(full)
	if m == nil {
		return logical.BadRequest("no mount at %q", full)
	}
	if m.system {
		return logical.BadRequest("cannot disable %q", full)
	}
	// Its leases are revoked first, while the engine is still mounted to
	// take the revocations: a lease outliving its mount would later be
	// revoked at whatever is mounted at that path next.
	if pr, ok := a.leases.(prefixRevoker); ok {
		if _, err := pr.RevokePrefix(ctx, full); err != nil {
			c.logger.Error("disable mount: revoke its leases", "path", full, "err", err)
			status, msg, _ := logical.StatusOf(err)
			return logical.Errorf(status, "disable %s: %s; it stays mounted (retry, or drop them with sys/leases/revoke-force/%s)", full, msg, full)
		}
	}
	t.mu.Lock()
	delete(t.entries, full)
	t.mu.Unlock()
	if err := c.writeTable(ctx, t, m.entry.Table); err != nil {
		t.mu.Lock()
		t.entries[full] = m
		t.mu.Unlock()
		return err
	}
	if cl, ok := m.backend.(logical.Cleaner); ok {
		cl.Cleanup(ctx)
	}
	if err := clearView(ctx, m.view, ""); err != nil {
		c.logger.Error("clear data of disabled mount", "path", full, "err", err)
	}
	c.requests.Forget(full)
	c.logger.Info("mount disabled", "path", full)
	return nil
}

// prefixRevoker is the lease manager's revocation of every lease under a
// path prefix.
type prefixRevoker interface {
	RevokePrefix(ctx context.Context, prefix string) (int, error)
}

// clearView deletes every key under prefix in s.
func clearView(ctx context.Context, s logical.Storage, prefix string) error {
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			if err := clearView(ctx, s, prefix+k); err != nil {
				return err
			}
			continue
		}
		if err := s.Delete(ctx, prefix+k); err != nil {
			return err
		}
	}
	return nil
}

// MountDefaultKV mounts KV v2 at secret/, as dev mode does.
func (c *Core) MountDefaultKV(ctx context.Context) error {
	c.stateLock.RLock()
	defer c.stateLock.RUnlock()
	if c.active == nil {
		return logical.ErrSealed
	}
	if c.active.mounts.get("secret/") != nil {
		return nil
	}
	return c.enableMount(ctx, c.active, &MountEntry{Table: tableMounts, Path: "secret/", Type: "kv", Description: "key/value secret storage", Options: map[string]string{"version": "2"}})
}

// upgrader is a backend converting its data in place (KV version 1 to 2);
// it answers 503 while Upgrading.
type upgrader interface {
	Upgrading() bool
	FinishUpgrade(ctx context.Context) error
}

// KVUpgrade starts and undoes the in-place upgrade of a KV version 1
// mount's data to version 2 (the kv package's PrepareUpgrade and
// AbortUpgrade): Prepare checks and marks the data in the mount's view and
// returns how many secrets it holds, Abort removes the mark. The version 2
// backend then built over the view is an upgrader, which converts them.
type KVUpgrade struct {
	Prepare func(ctx context.Context, view logical.Storage, now time.Time) (int, error)
	Abort   func(ctx context.Context, view logical.Storage) error
}

// upgradeKV turns the KV version 1 mount m into version 2 in place, as
// `kv enable-versioning` asks with a tune of options.version. The mount is
// drained, its data checked and marked (KVUpgrade.Prepare), a version 2
// backend installed and the table written; then every secret is converted
// while requests get 503. From the table write on, the upgrade resumes
// after a failure or a restart (see resumeUpgrades). changeMu is held.
func (c *Core) upgradeKV(ctx context.Context, a *active, m *mount, updated *MountEntry) (*logical.Response, error) {
	up := c.cfg.KVUpgrade
	if up == nil {
		return nil, logical.BadRequest("upgrading %s to KV version 2 in place is not available", m.entry.Path)
	}
	t := a.mounts
	path := m.entry.Path
	release := m.drain()
	n, err := up.Prepare(ctx, m.view, c.now())
	if err != nil {
		release()
		return nil, err
	}
	abort := func() {
		if err := up.Abort(ctx, m.view); err != nil {
			// The version 1 backend removes the marker at its next start.
			c.logger.Error("remove kv upgrade marker", "path", path, "err", err)
		}
	}
	nm, err := c.instantiate(ctx, updated)
	if err != nil {
		abort()
		release()
		return nil, err
	}
	t.install(m, nm, path, path)
	if err := c.writeTable(ctx, t, updated.Table); err != nil {
		t.uninstall(m, path, path)
		release()
		cleanupBackend(ctx, nm.backend)
		abort()
		return nil, err
	}
	release()
	cleanupBackend(ctx, m.backend)
	c.logger.Info("kv upgrade started", "path", path, "secrets", n)
	if err := c.finishUpgrade(context.WithoutCancel(ctx), nm); err != nil {
		return nil, err
	}
	return &logical.Response{Warnings: []string{fmt.Sprintf(
		"Upgraded mount %s from version 1 to version 2: each of its %d secrets is now version 1 of a versioned secret", path, n)}}, nil
}

// finishUpgrade runs m's pending in-place upgrade, if any, to its end.
func (c *Core) finishUpgrade(ctx context.Context, m *mount) error {
	up, ok := m.backend.(upgrader)
	if !ok || !up.Upgrading() {
		return nil
	}
	if err := up.FinishUpgrade(ctx); err != nil {
		c.logger.Error("kv upgrade interrupted; the mount answers 503 until a tune to version 2 or the next unseal resumes it",
			"path", m.entry.Path, "err", err)
		return fmt.Errorf("upgrade of %s to KV version 2 interrupted: %w", m.entry.Path, err)
	}
	c.logger.Info("kv upgrade finished", "path", m.entry.Path)
	return nil
}

// resumeUpgrades finishes, in the background, the upgrades that an
// interruption left half done. It runs at unseal.
func (c *Core) resumeUpgrades(a *active) {
	for _, m := range a.mounts.list(tableMounts) {
		if up, ok := m.backend.(upgrader); ok && up.Upgrading() {
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				_ = c.finishUpgrade(a.ctx, m)
			}()
		}
	}
}

func cleanupBackend(ctx context.Context, b logical.Backend) {
	if cl, ok := b.(logical.Cleaner); ok {
		cl.Cleanup(ctx)
	}
}
