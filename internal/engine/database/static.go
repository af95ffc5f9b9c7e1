package database

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// staticRole is a database user whose password Keyward rotates. With an
// alternate username (graceful mode) the two users take turns: a rotation
// changes the idle one and makes it current, so the previous credential
// keeps working for one more period.
type staticRole struct {
	DBName             string        `json:"db_name"`
	Username           string        `json:"username"`
	AltUsername        string        `json:"alternate_username,omitempty"`
	RotationPeriod     time.Duration `json:"rotation_period"`
	RotationSchedule   string        `json:"rotation_schedule,omitempty"`
	RotationWindow     time.Duration `json:"rotation_window,omitempty"`
	RotationStatements []string      `json:"rotation_statements"`

	Active       int       `json:"active"` // 0: Username, 1: AltUsername
	Passwords    [2]string `json:"passwords"`
	LastRotation time.Time `json:"last_rotation"`
	NextRotation time.Time `json:"next_rotation"`
	// Pending is a password stored before it is applied; PendingFor says
	// which user it is for. It is re-applied until a rotation completes.
	Pending    string `json:"pending,omitempty"`
	PendingFor int    `json:"pending_for"`
	Failures   int    `json:"failures"`
	LastError  string `json:"last_error,omitempty"`
}

func (r *staticRole) user(i int) string {
	if i == 1 {
		return r.AltUsername
	}
	return r.Username
}

var staticFields = staticDocs.Names()

func (b *Backend) loadStatic(ctx context.Context, name string) (*staticRole, bool, error) {
	r := &staticRole{}
	ok, err := logical.GetJSON(ctx, b.view, "static-role/"+name, r)
	return r, ok, err
}

func (b *Backend) readStatic(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	r, ok, err := b.loadStatic(ctx, name)
	if err != nil || !ok {
		return nil, orNotFound(err, "static role", name)
	}
	data := map[string]any{
		"db_name":             r.DBName,
		"username":            r.Username,
		"rotation_period":     int64(r.RotationPeriod / time.Second),
		"rotation_statements": nonNil(r.RotationStatements),
		"last_vault_rotation": r.LastRotation.UTC().Format(time.RFC3339Nano),
		"next_rotation":       r.NextRotation.UTC().Format(time.RFC3339Nano),
		"failed_rotations":    r.Failures,
		"credential_type":     "password",
	}
	if r.RotationSchedule != "" {
		data["rotation_schedule"] = r.RotationSchedule
		data["rotation_window"] = int64(r.RotationWindow / time.Second)
	}
	if r.AltUsername != "" {
		data["alternate_username"] = r.AltUsername
	}
	if r.LastError != "" {
		data["last_rotation_error"] = r.LastError
	}
	return &logical.Response{Data: data}, nil
}

func (b *Backend) deleteStatic(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	b.rotMu.Lock()
	defer b.rotMu.Unlock()
	return nil, b.view.Delete(ctx, "static-role/"+name)
}

func (b *Backend) writeStaticReq(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	return nil, b.writeStatic(ctx, req.Data, name)
}

func (b *Backend) writeStatic(ctx context.Context, d map[string]any, name string) error {
	if err := logical.UnknownFields(d, staticFields...); err != nil {
		return err
	}
	b.rotMu.Lock()
	r, exists, err := b.loadStatic(ctx, name)
	if err != nil {
		b.rotMu.Unlock()
		return err
	}
	for key, dst := range map[string]*string{"db_name": &r.DBName, "username": &r.Username,
		"alternate_username": &r.AltUsername, "rotation_schedule": &r.RotationSchedule} {
		v, ok, err := logical.Str(d, key)
		if err != nil {
			b.rotMu.Unlock()
			return err
		}
		if ok {
			if exists && (key == "username" || key == "alternate_username" || key == "db_name") && v != *dst {
				b.rotMu.Unlock()
				return logical.BadRequest("field %q cannot change on an existing static role", key)
			}
			*dst = v
		}
	}
	for key, dst := range map[string]*time.Duration{"rotation_period": &r.RotationPeriod, "rotation_window": &r.RotationWindow} {
		v, ok, err := logical.Duration(d, key)
		if err != nil {
			b.rotMu.Unlock()
			return err
		}
		if ok {
			*dst = v
		}
	}
	if v, ok, err := logical.Strings(d, "rotation_statements"); err != nil {
		b.rotMu.Unlock()
		return err
	} else if ok {
		r.RotationStatements = v
	}
	if err := r.validate(); err != nil {
		b.rotMu.Unlock()
		return err
	}
	r.NextRotation = r.nextAfter(b.opts.Now())
	if err := logical.PutJSON(ctx, b.view, "static-role/"+name, r); err != nil {
		b.rotMu.Unlock()
		return err
	}
	b.rotMu.Unlock()
	if exists {
		b.poke()
		return nil
	}
	// A new static role is rotated at once so no human knows its password
	// (both users in graceful mode).
	if err := b.rotateStatic(ctx, name, true); err != nil {
		return err
	}
	if r.AltUsername != "" {
		return b.rotateStatic(ctx, name, true)
	}
	return nil
}

func (r *staticRole) validate() error {
	switch {
	case r.DBName == "":
		return logical.BadRequest("missing db_name")
	case r.Username == "":
		return logical.BadRequest("missing username")
	case r.AltUsername == r.Username:
		return logical.BadRequest("alternate_username must differ from username")
	case r.RotationPeriod > 0 && r.RotationSchedule != "":
		return logical.BadRequest("set rotation_period or rotation_schedule, not both")
	case r.RotationPeriod == 0 && r.RotationSchedule == "":
		return logical.BadRequest("missing rotation_period or rotation_schedule")
	case r.RotationPeriod > 0 && r.RotationPeriod < time.Second:
		return logical.BadRequest("rotation_period must be at least 1s")
	case r.RotationWindow > 0 && r.RotationSchedule == "":
		return logical.BadRequest("rotation_window needs rotation_schedule")
	}
	if r.RotationSchedule != "" {
		if _, err := parseCron(r.RotationSchedule); err != nil {
			return logical.BadRequest("%s", err.Error())
		}
	}
	return nil
}

// nextAfter is the next scheduled rotation after t.
func (r *staticRole) nextAfter(t time.Time) time.Time {
	if r.RotationSchedule != "" {
		s, err := parseCron(r.RotationSchedule)
		if err != nil {
			return time.Time{}
		}
		return s.next(t.UTC())
	}
	return t.Add(r.RotationPeriod)
}

func (b *Backend) staticCreds(ctx context.Context, name string) (*logical.Response, error) {
	r, ok, err := b.loadStatic(ctx, name)
	if err != nil || !ok {
		return nil, orNotFound(err, "static role", name)
	}
	if r.LastRotation.IsZero() {
		return nil, logical.Errorf(http.StatusServiceUnavailable, "static role %q has not been rotated yet", name)
	}
	data := map[string]any{
		"username":            r.user(r.Active),
		"password":            r.Passwords[r.Active],
		"last_vault_rotation": r.LastRotation.UTC().Format(time.RFC3339Nano),
		"ttl":                 int64(max(r.NextRotation.Sub(b.opts.Now()), 0) / time.Second),
	}
	if r.RotationPeriod > 0 {
		data["rotation_period"] = int64(r.RotationPeriod / time.Second)
	} else {
		data["rotation_schedule"] = r.RotationSchedule
	}
	return &logical.Response{Data: data}, nil
}

// rotateStatic rotates one static role: it stores the new password as
// pending, applies it, checks that it connects, and only then makes it the
// current one. On failure the old password stays current and a retry is
// scheduled with backoff. manual reports failures to the caller.
func (b *Backend) rotateStatic(ctx context.Context, name string, manual bool) error {
	b.rotMu.Lock()
	defer b.rotMu.Unlock()
	r, ok, err := b.loadStatic(ctx, name)
	if err != nil || !ok {
		return orNotFound(err, "static role", name)
	}
	if !manual && r.Pending == "" && r.NextRotation.After(b.opts.Now()) {
		return nil // another rotation got there first
	}
	cfg, ok, err := b.loadConfig(ctx, r.DBName)
	if err != nil || !ok {
		return orNotFound(err, "database config", r.DBName)
	}
	if !allowed(cfg.AllowedRoles, name) {
		return logical.BadRequest("static role %q is not allowed by database config %q", name, r.DBName)
	}
	if r.Pending == "" {
		target := r.Active
		if r.AltUsername != "" && !r.LastRotation.IsZero() {
			target = 1 - r.Active
		}
		pw, err := b.password(ctx, cfg.PasswordPolicy)
		if err != nil {
			return err
		}
		r.Pending, r.PendingFor = pw, target
		if err := logical.PutJSON(ctx, b.view, "static-role/"+name, r); err != nil {
			return err
		}
	}
	user := r.user(r.PendingFor)
	err = b.use(ctx, r.DBName, func(d driver, _ *dbConfig) error {
		if err := d.SetPassword(ctx, r.RotationStatements, vars{Name: user, Password: r.Pending, hasPass: true}); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		if err := d.Verify(ctx, user, r.Pending); err != nil {
			// Put the old password back so current consumers keep working.
			if old := r.Passwords[r.PendingFor]; old != "" {
				d.SetPassword(ctx, r.RotationStatements, vars{Name: user, Password: old, hasPass: true})
			}
			r.Pending = ""
			return fmt.Errorf("verify: %w", err)
		}
		return nil
	})
	now := b.opts.Now()
	if err != nil {
		r.Failures++
		r.LastError = err.Error()
		retry := b.opts.RetryBase << min(r.Failures-1, 16)
		if r.RotationPeriod > 0 {
			retry = min(retry, r.RotationPeriod)
		}
		r.NextRotation = now.Add(retry)
		b.met.rotationFailures.Inc()
		b.logger.Error("static role rotation failed", "role", name, "failures", r.Failures, "retry_at", r.NextRotation, "err", err)
		if perr := logical.PutJSON(ctx, b.view, "static-role/"+name, r); perr != nil {
			b.logger.Error("persist static role", "role", name, "err", perr)
		}
		b.poke()
		if manual {
			return logical.Errorf(http.StatusInternalServerError, "rotate static role %q: %v", name, err)
		}
		return err
	}
	r.Passwords[r.PendingFor] = r.Pending
	r.Active = r.PendingFor
	r.Pending = ""
	r.LastRotation = now
	r.NextRotation = r.nextAfter(now)
	r.Failures, r.LastError = 0, ""
	if err := logical.PutJSON(ctx, b.view, "static-role/"+name, r); err != nil {
		return err
	}
	b.met.rotations.Inc()
	b.logger.Info("static role rotated", "role", name, "user", user)
	b.poke()
	return nil
}

func (b *Backend) poke() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// rotationLoop is the engine's one background goroutine: it rotates static
// roles when due (including pending rotations left by a crash) and sleeps
// until the next one.
func (b *Backend) rotationLoop() {
	defer b.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-timer.C:
		case <-b.kick:
		}
		wait := b.rotateDue()
		timer.Reset(wait)
	}
}

// rotateDue rotates every due static role and returns how long to wait for
// the next one.
func (b *Backend) rotateDue() time.Duration {
	ctx := b.ctx
	names, err := b.view.List(ctx, "static-role/")
	if err != nil {
		b.logger.Error("list static roles", "err", err)
		return time.Minute
	}
	wait := time.Hour
	now := b.opts.Now()
	for _, name := range names {
		r, ok, err := b.loadStatic(ctx, name)
		if err != nil || !ok {
			continue
		}
		due := r.Pending != "" || !r.NextRotation.After(now)
		if due && r.RotationSchedule != "" && r.RotationWindow > 0 && r.Pending == "" && r.Failures == 0 &&
			now.Sub(r.NextRotation) > r.RotationWindow {
			// Missed the window (the server was down): wait for the next slot.
			b.rotMu.Lock()
			if cur, ok, _ := b.loadStatic(ctx, name); ok {
				cur.NextRotation = cur.nextAfter(now)
				logical.PutJSON(ctx, b.view, "static-role/"+name, cur)
				r = cur
			}
			b.rotMu.Unlock()
			due = false
		}
		if due {
			if err := b.rotateStatic(ctx, name, false); err != nil && ctx.Err() != nil {
				return time.Hour
			}
			if cur, ok, _ := b.loadStatic(ctx, name); ok {
				r = cur
			}
		}
		if d := r.NextRotation.Sub(b.opts.Now()); d < wait {
			wait = max(d, 10*time.Millisecond)
		}
	}
	return wait
}
