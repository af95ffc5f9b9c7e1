package node

import (
	"context"
	"strings"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/engine/transit"
	"github.com/keyward/keyward/internal/logical"
)

// toolsService serves Vault's general-purpose tools, sys/tools/random and
// sys/tools/hash, with the transit engine's own random and hash handlers
// (the same fields, limits and answers as transit/random and transit/hash).
// It stores nothing.
func toolsService() core.Service {
	return core.Service{Name: "tools", Paths: []string{"tools"},
		New: func(ctx context.Context, _ core.ServiceEnv) (core.ServiceBackend, error) {
			b, err := transit.Factory(ctx, &logical.BackendConfig{MountPoint: "sys/tools/"})
			if err != nil {
				return nil, err
			}
			return tools{b}, nil
		}}
}

// tools passes sys/tools/random[/BYTES] and sys/tools/hash[/ALGORITHM] to
// a transit backend with no storage; every other path under sys/tools is
// unsupported, so no key operation is reachable here.
type tools struct{ transit logical.Backend }

func (tools) Close() error { return nil }

func (t tools) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	rel, ok := toolPath(req.Path)
	if !ok {
		return nil, logical.ErrUnsupportedPath
	}
	r := *req
	r.Path = rel
	r.Storage = nil
	return t.transit.HandleRequest(ctx, &r)
}

// Help answers ?help=1 on a tool path from transit's declaration of it.
func (t tools) Help(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	h, ok := t.transit.(logical.Helper)
	rel, tool := toolPath(req.Path)
	if !ok || !tool {
		return nil, logical.ErrUnsupportedPath
	}
	r := *req
	r.Path = rel
	r.Storage = nil
	return h.Help(ctx, &r)
}

// toolPath maps "tools/random/16" to "random/16"; ok is false for a path
// that is not a tool.
func toolPath(p string) (rel string, ok bool) {
	rel, ok = strings.CutPrefix(p, "tools/")
	tool, arg, _ := strings.Cut(rel, "/")
	if !ok || (tool != "random" && tool != "hash") || strings.Contains(arg, "/") {
		return "", false
	}
	return rel, true
}
