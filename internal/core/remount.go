package core

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// remountPrefix holds one record per sys/remount, by migration id, for
// sys/remount/status and for finishing a move that a crash interrupted.
const remountPrefix = "core/remounts/"

// Migration states, as Vault names them.
const (
	migrationInProgress = "in-progress"
	migrationSuccess    = "success"
	migrationFailure    = "failure"
)

// migration is the record of one mount move.
type migration struct {
	ID       string    `json:"id"`
	From     string    `json:"from"` // full mount paths: "secret/", "auth/jwt/"
	To       string    `json:"to"`
	UUID     string    `json:"uuid"` // the mount's, to recognise it after a crash
	Status   string    `json:"status"`
	Leases   int       `json:"leases"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
}

// remountPaths normalises sys/remount's from and to into full mount paths
// ("auth/x/" for auth methods) of the same table, with the destination
// held to the rules of a new mount: canonical segment names and no
// reserved prefix.
func remountPaths(from, to string) (src, dst, table string, err error) {
	if from == "" || to == "" {
		return "", "", "", logical.BadRequest("missing required fields 'from' and 'to'")
	}
	if src, err = validMountPath(from); err != nil {
		return "", "", "", err
	}
	if dst, err = validMountPath(to); err != nil {
		return "", "", "", err
	}
	srcAuth, dstAuth := strings.HasPrefix(src, "auth/"), strings.HasPrefix(dst, "auth/")
	if srcAuth != dstAuth {
		return "", "", "", logical.BadRequest("cannot move a mount between auth/ and secrets engine paths")
	}
	name := dst
	table = tableMounts
	if dstAuth {
		name, table = strings.TrimPrefix(dst, "auth/"), tableAuth
		if name == "" || src == "auth/" {
			return "", "", "", logical.BadRequest("auth mount paths need a name after auth/")
		}
	}
	if err := canonicalMountName(name); err != nil {
		return "", "", "", err
	}
	if !dstAuth {
		for _, r := range reservedMountPaths {
			if strings.HasPrefix(dst, r) || strings.HasPrefix(r, dst) {
				return "", "", "", logical.BadRequest("cannot move a mount to reserved path %q", dst)
			}
		}
	}
	if src == dst {
		return "", "", "", logical.BadRequest("from and to name the same mount path %q", src)
	}
	return src, dst, table, nil
}

// sysMountPath is the sys/ path (relative to sys/) that enables or
// disables the mount at full: "mounts/secret" or "auth/jwt".
func sysMountPath(full string) string {
	if strings.HasPrefix(full, "auth/") {
		return strings.TrimSuffix(full, "/")
	}
	return "mounts/" + strings.TrimSuffix(full, "/")
}

// extraChecks makes sys/remount a disable at its source and an enable at
// its destination for the ACL too (besides update and sudo on
// sys/remount, as Vault asks), so a policy that confines an operator to
// some mounts also confines what they can move, and where to.
func (b *sysBackend) extraChecks(req *logical.Request) []aclCheck {
	if req.Path != "remount" || (req.Operation != logical.UpdateOperation && req.Operation != logical.CreateOperation) {
		return nil
	}
	from, _ := req.Data["from"].(string)
	to, _ := req.Data["to"].(string)
	src, dst, _, err := remountPaths(from, to)
	if err != nil {
		return nil // the handler refuses the request
	}
	return []aclCheck{{sysMountPath(src), logical.DeleteOperation}, {sysMountPath(dst), logical.UpdateOperation}}
}

// remount serves sys/remount: it moves a mount to a new path. Storage is
// keyed by the mount's UUID, so no stored entry moves: the mount table
// entry does, with the backend rebuilt at the new path, and then the
// mount's leases are re-keyed under the new path (see
// lease.Manager.Remount). The move is done when the response is sent;
// the migration id answers sys/remount/status as Vault's asynchronous
// move does. Policies are not rewritten: a warning names those that
// mention the old path.
func (c *Core) remount(ctx context.Context, a *active, req *logical.Request) (*logical.Response, error) {
	if req.Operation != logical.UpdateOperation && req.Operation != logical.CreateOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	if err := logical.UnknownFields(req.Data, "from", "to"); err != nil {
		return nil, err
	}
	from, _, err := logical.Str(req.Data, "from")
	if err != nil {
		return nil, err
	}
	to, _, err := logical.Str(req.Data, "to")
	if err != nil {
		return nil, err
	}
	src, dst, table, err := remountPaths(from, to)
	if err != nil {
		return nil, err
	}
	t := a.mounts
	t.changeMu.Lock()
	defer t.changeMu.Unlock()
	old := t.get(src)
	if old == nil || old.entry.Table != table {
		return nil, logical.BadRequest("no mount at %q", src)
	}
	if old.system {
		return nil, logical.BadRequest("cannot move %q", src)
	}
	if up, ok := old.backend.(upgrader); ok && up.Upgrading() {
		return nil, logical.Errorf(http.StatusServiceUnavailable, "mount %s is upgrading to KV version 2; move it when that is done", src)
	}
	t.mu.RLock()
	for existing := range t.entries {
		if strings.HasPrefix(existing, dst) || strings.HasPrefix(dst, existing) {
			t.mu.RUnlock()
			return nil, logical.BadRequest("path is already in use at %s", existing)
		}
	}
	t.mu.RUnlock()

	rec := &migration{ID: randomID(), From: src, To: dst, UUID: old.entry.UUID, Status: migrationInProgress, Started: c.now().UTC()}
	if err := c.putMigration(ctx, rec); err != nil {
		return nil, err
	}
	failed := func(cause error) error {
		rec.Status, rec.Finished = migrationFailure, c.now().UTC()
		if err := c.putMigration(ctx, rec); err != nil {
			c.logger.Error("record failed mount move", "migration_id", rec.ID, "err", err)
		}
		return cause
	}
	// Requests inside the mount finish first; those that arrive meanwhile
	// wait and are then refused with 503 (a retry reaches the new path).
	// Tokens created by logins inside are all older than the move's time.
	release := old.drain()
	e := *old.entry
	e.Path = dst
	e.Moves = append(slices.Clone(old.entry.Moves), MountMove{From: src, Since: old.entry.pathSince(), Until: c.now().UTC()})
	nm, err := c.instantiate(ctx, &e)
	if err != nil {
		release()
		return nil, failed(logical.BadRequest("move %s: %v", src, err))
	}
	t.install(old, nm, src, dst)
	if err := c.writeTable(ctx, t, table); err != nil {
		t.uninstall(old, src, dst)
		release()
		cleanupBackend(ctx, nm.backend)
		return nil, failed(err)
	}
	release()
	cleanupBackend(ctx, old.backend)
	c.requests.Forget(src)
	c.logger.Info("mount moved", "from", src, "to", dst, "type", e.Type, "accessor", e.Accessor, "migration_id", rec.ID)
	if err := c.finishRemount(context.WithoutCancel(ctx), a, rec); err != nil {
		return nil, err
	}
	resp := &logical.Response{Data: map[string]any{"migration_id": rec.ID}}
	if names := a.policiesNaming(src); len(names) > 0 {
		resp.Warnings = append(resp.Warnings, fmt.Sprintf(
			"policies are not rewritten: %s still grant paths under %s, which is now %s; update them",
			strings.Join(names, ", "), src, dst))
	}
	return resp, nil
}

// finishRemount moves the leases of a mount whose table entry has moved
// and records the migration as a success. On failure the record stays in
// progress and the next unseal retries.
func (c *Core) finishRemount(ctx context.Context, a *active, rec *migration) error {
	if a.leases != nil {
		n, err := a.leases.Remount(ctx, rec.From, rec.To)
		if err != nil {
			c.logger.Error("move leases of moved mount; retried at the next unseal", "from", rec.From, "to", rec.To, "migration_id", rec.ID, "err", err)
			return fmt.Errorf("mount %s moved to %s, but moving its leases was interrupted (retried at the next unseal): %w", rec.From, rec.To, err)
		}
		rec.Leases += n
	}
	rec.Status, rec.Finished = migrationSuccess, c.now().UTC()
	return c.putMigration(ctx, rec)
}

// resumeRemounts finishes the moves a crash interrupted: a move whose
// table entry was written gets its leases moved; one whose table entry was
// not is recorded as failed (the mount stayed where it was). It runs at
// unseal, once the lease manager is up.
func (c *Core) resumeRemounts(ctx context.Context, a *active) {
	ids, err := c.barrier.List(ctx, remountPrefix)
	if err != nil {
		c.logger.Error("list mount moves", "err", err)
		return
	}
	for _, id := range ids {
		rec, err := c.getMigration(ctx, id)
		if err != nil || rec == nil || rec.Status != migrationInProgress {
			if err != nil {
				c.logger.Error("read mount move", "migration_id", id, "err", err)
			}
			continue
		}
		if m := a.mounts.get(rec.To); m != nil && m.entry.UUID == rec.UUID {
			if err := c.finishRemount(ctx, a, rec); err == nil {
				c.logger.Info("interrupted mount move finished", "from", rec.From, "to", rec.To, "migration_id", rec.ID)
			}
			continue
		}
		rec.Status, rec.Finished = migrationFailure, c.now().UTC()
		if err := c.putMigration(ctx, rec); err != nil {
			c.logger.Error("record failed mount move", "migration_id", rec.ID, "err", err)
		}
	}
}

// remountStatus serves sys/remount/status/ID.
func (c *Core) remountStatus(ctx context.Context, req *logical.Request, id string) (*logical.Response, error) {
	if req.Operation != logical.ReadOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	if id == "" || strings.Contains(id, "/") {
		return nil, logical.BadRequest("missing or invalid migration id")
	}
	rec, err := c.getMigration(ctx, id)
	if err != nil || rec == nil {
		return nil, err
	}
	info := map[string]any{
		"source_mount": rec.From,
		"target_mount": rec.To,
		"status":       rec.Status,
		"start_time":   rec.Started.Format(time.RFC3339Nano),
		"end_time":     "",
		"leases_moved": rec.Leases,
	}
	if !rec.Finished.IsZero() {
		info["end_time"] = rec.Finished.Format(time.RFC3339Nano)
	}
	return &logical.Response{Data: map[string]any{"migration_id": rec.ID, "migration_info": info}}, nil
}

func (c *Core) putMigration(ctx context.Context, rec *migration) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := c.barrier.Put(ctx, remountPrefix+rec.ID, raw); err != nil {
		return fmt.Errorf("record mount move: %w", err)
	}
	return nil
}

func (c *Core) getMigration(ctx context.Context, id string) (*migration, error) {
	raw, err := c.barrier.Get(ctx, remountPrefix+id)
	if err != nil || raw == nil {
		return nil, err
	}
	rec := &migration{}
	if err := json.Unmarshal(raw, rec); err != nil {
		return nil, fmt.Errorf("decode mount move %s: %w", id, err)
	}
	return rec, nil
}

// policiesNaming returns the policies whose text names a path under the
// mount path full ("database/..."): after a move they grant nothing there.
// It is a textual search, so a policy reaching the mount only through a
// glob such as "+/creds/*" is not named.
func (a *active) policiesNaming(full string) []string {
	bare := strings.TrimSuffix(full, "/")
	var out []string
	for _, name := range a.policies.names() {
		text, ok := a.policies.get(name)
		if ok && (strings.Contains(text, `"`+full) || strings.Contains(text, `"`+bare+`"`)) {
			out = append(out, name)
		}
	}
	return out
}
