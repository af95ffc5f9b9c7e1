package core

import (
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/watch"
)

// EventSink receives one access event per request outcome that reached
// the unsealed pipeline, after the response was audited. Emit must not
// block (watch.Hub drops slow subscribers instead).
type EventSink interface {
	Emit(watch.Event)
}

// emitEvent builds the request's access event from an allowlist of fields
// and hands it to the configured sink. Nothing from req.Data, resp.Data,
// the client token or the response's token enters it.
func (c *Core) emitEvent(a *active, req, routed *logical.Request, resp *logical.Response, err error) {
	if c.cfg.Events == nil && !c.bgAnyLive() {
		return
	}
	e := watch.Event{Time: c.now(), Type: watch.TypeRequest, RequestID: req.ID,
		Operation: string(req.Operation), Path: req.Path}
	if routed != nil {
		e.Operation = string(routed.Operation)
		e.Mount, e.MountType = routed.MountPoint, routed.MountType
		if routed.Unauthenticated && strings.HasPrefix(routed.MountPoint, "auth/") {
			e.Type = watch.TypeLogin
		}
	}
	if req.Connection != nil {
		e.RemoteAddr = req.Connection.RemoteAddr
	}
	e.Status = statusOf(req, resp, err)
	e.Result = watch.ResultOf(e.Status)
	if t := req.Token; t != nil {
		e.Identity = watch.Identity{EntityID: t.EntityID, Accessor: t.Accessor, DisplayName: t.DisplayName,
			Root: t.Root}
		if m := a.mounts.route(t.Path); m != nil {
			e.Identity.AuthMount, e.Identity.AuthType = m.entry.Path, m.entry.Type
		}
		setClaims(&e.Identity, t.Metadata)
	} else if err == nil && resp != nil && resp.Auth != nil && routed != nil {
		// A login: the caller is who the new token names.
		au := resp.Auth
		e.Identity = watch.Identity{EntityID: au.EntityID, Accessor: au.Accessor, DisplayName: au.DisplayName,
			AuthMount: routed.MountPoint, AuthType: routed.MountType}
		setClaims(&e.Identity, au.Metadata)
	}
	if resp != nil && resp.Served != nil {
		e.Version, e.CurrentVersion = resp.Served.Version, resp.Served.Current
	}
	if resp != nil && resp.Secret != nil && resp.Secret.LeaseID != "" {
		e.LeaseIDs = []string{resp.Secret.LeaseID}
	}
	if c.cfg.Events != nil {
		c.cfg.Events.Emit(e)
	}
	c.bgRecordEvent(e)
}

// setClaims copies the role and the allowlisted CI claims from token
// metadata.
func setClaims(id *watch.Identity, meta map[string]string) {
	if len(meta) == 0 {
		return
	}
	if r := meta["role"]; r != "" {
		id.Role = r
	} else {
		id.Role = meta["role_name"] // approle
	}
	for _, k := range watch.ClaimKeys {
		if v, ok := meta[k]; ok {
			if id.Claims == nil {
				id.Claims = make(map[string]string, 4)
			}
			id.Claims[k] = v
		}
	}
}

// statusOf is the HTTP status a request's outcome gives the client: the
// error's, 204 for no response (404 for a read or list), or the
// response's own.
func statusOf(req *logical.Request, resp *logical.Response, err error) int {
	switch {
	case err != nil:
		status, _, _ := logical.StatusOf(err)
		return status
	case resp == nil:
		if req.Operation == logical.ReadOperation || req.Operation == logical.ListOperation {
			return http.StatusNotFound
		}
		return http.StatusNoContent
	case resp.Status != 0:
		return resp.Status
	}
	return http.StatusOK
}
