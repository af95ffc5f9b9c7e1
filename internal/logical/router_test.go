package logical_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// echo is a handler that answers which route served the request and the
// captures it got.
func echo(name string) logical.Handler {
	return func(_ context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		return &logical.Response{Data: map[string]any{"route": name, "params": map[string]string(p), "op": string(req.Operation)}}, nil
	}
}

func read(name string) map[logical.Operation]logical.Handler {
	return map[logical.Operation]logical.Handler{logical.ReadOperation: echo(name)}
}

func TestRouterMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		ok            bool
		params        map[string]string
	}{
		{"", "", true, nil},
		{"", "/", false, nil},
		{"", "x", false, nil},
		{"config", "config", true, nil},
		{"config", "config/", true, nil},
		{"config", "config//", false, nil},
		{"config", "configx", false, nil},
		{"config", "conf", false, nil},
		{"config", "config/x", false, nil},
		{"users/{name}", "users/alice", true, map[string]string{"name": "alice"}},
		{"users/{name}", "users/alice/", true, map[string]string{"name": "alice"}},
		{"users/{name}", "users/", false, nil},
		{"users/{name}", "users", false, nil},
		{"users/{name}", "users//", false, nil},
		{"users/{name}", "users/alice/x", false, nil},
		{"users/{name}/password", "users/a.b@c/password", true, map[string]string{"name": "a.b@c"}},
		{"users/{name}/password", "users/a/passwords", false, nil},
		{"data/{path*}", "data", true, map[string]string{"path": ""}},
		{"data/{path*}", "data/", true, map[string]string{"path": ""}},
		{"data/{path*}", "data/a/b/", true, map[string]string{"path": "a/b/"}},
		{"data/{path*}", "database", false, nil},
		{"{path*}", "", true, map[string]string{"path": ""}},
		{"{path*}", "a/b", true, map[string]string{"path": "a/b"}},
		{"{name}", "a", true, map[string]string{"name": "a"}},
		{"{name}/{sub}", "a/b", true, map[string]string{"name": "a", "sub": "b"}},
		{"mounts/{path*}/tune", "mounts/a/b/tune", true, map[string]string{"path": "a/b"}},
		{"mounts/{path*}/tune", "mounts/a/tune/", true, map[string]string{"path": "a"}},
		{"mounts/{path*}/tune", "mounts/tune", false, nil},
		{"mounts/{path*}/tune", "mounts//tune", false, nil},
		{"mounts/{path*}/tune", "mounts/a/tunes", false, nil},
		{"{path*}/x/y", "a/x/y", true, map[string]string{"path": "a"}},
	}
	for _, tt := range tests {
		r := logical.NewRouter("", logical.Route{Pattern: tt.pattern, Ops: read("r")})
		resp, err := r.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: tt.path})
		if !tt.ok {
			if !errors.Is(err, logical.ErrUnsupportedPath) {
				t.Errorf("%q on %q: got %v, %v; want ErrUnsupportedPath", tt.pattern, tt.path, resp, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q on %q: %v", tt.pattern, tt.path, err)
			continue
		}
		got := resp.Data["params"].(map[string]string)
		if len(got) != len(tt.params) || (len(got) > 0 && !reflect.DeepEqual(got, tt.params)) {
			t.Errorf("%q on %q: params %v, want %v", tt.pattern, tt.path, got, tt.params)
		}
	}
}

func TestRouterBadPatterns(t *testing.T) {
	for _, p := range []string{
		"/a", "a/", "a//b", "{}", "{Name}", "{1a}", "a{b}", "a*", "{rest*}/{x}", "{a}/{a}", "{a-b}", "{a*}/{b}",
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewRouter accepted pattern %q", p)
				}
			}()
			logical.NewRouter("", logical.Route{Pattern: p})
		}()
	}
}

// "No such path" is answered one way, a wrong operation another, and the
// first matching route decides.
func TestRouterDispatch(t *testing.T) {
	write := echo("write")
	r := logical.NewRouter("test backend",
		logical.Route{Pattern: "users", Ops: map[logical.Operation]logical.Handler{logical.ListOperation: echo("list")}},
		logical.Route{Pattern: "users/{name}", Ops: map[logical.Operation]logical.Handler{
			logical.ReadOperation: echo("read"), logical.UpdateOperation: write, logical.DeleteOperation: echo("delete"),
		}},
		logical.Route{Pattern: "users/admin", Ops: read("shadowed")},
		logical.Route{Pattern: "roles/{name}", Ops: map[logical.Operation]logical.Handler{
			logical.CreateOperation: echo("create"), logical.UpdateOperation: echo("update"),
		}},
	)
	tests := []struct {
		op        logical.Operation
		path      string
		wantRoute string
		wantErr   error
	}{
		{logical.ListOperation, "users/", "list", nil},
		{logical.ReadOperation, "users", "", logical.ErrUnsupportedOperation},
		{logical.ReadOperation, "users/admin", "read", nil},
		{logical.CreateOperation, "users/bob", "write", nil}, // create falls back to update
		{logical.UpdateOperation, "users/bob", "write", nil},
		{logical.PatchOperation, "users/bob", "", logical.ErrUnsupportedOperation},
		{logical.CreateOperation, "roles/x", "create", nil},
		{logical.UpdateOperation, "roles/x", "update", nil},
		{logical.ReadOperation, "nothing", "", logical.ErrUnsupportedPath},
		{logical.ReadOperation, "users/a/b", "", logical.ErrUnsupportedPath},
	}
	for _, tt := range tests {
		resp, err := r.HandleRequest(context.Background(), &logical.Request{Operation: tt.op, Path: tt.path})
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s %s: err %v, want %v", tt.op, tt.path, err, tt.wantErr)
			}
			continue
		}
		if err != nil || resp.Data["route"] != tt.wantRoute {
			t.Errorf("%s %s: %v, %v; want route %q", tt.op, tt.path, resp, err, tt.wantRoute)
		}
	}
}

func TestRouterExistenceCheck(t *testing.T) {
	stored := map[string]bool{"alice": true}
	exists := func(_ context.Context, _ *logical.Request, p logical.Params) (bool, error) {
		if p["name"] == "bad" {
			return false, logical.ErrNoExistenceCheck
		}
		return stored[p["name"]], nil
	}
	r := logical.NewRouter("",
		logical.Route{Pattern: "users/{name}", Ops: map[logical.Operation]logical.Handler{logical.UpdateOperation: echo("w")}, Exists: exists},
		logical.Route{Pattern: "config", Ops: map[logical.Operation]logical.Handler{logical.UpdateOperation: echo("w")}},
		logical.Route{Pattern: "readonly/{name}", Ops: read("r"), Exists: exists},
	)
	tests := []struct {
		path          string
		found, exists bool
	}{
		{"users/alice", true, true},
		{"users/bob", true, false},
		{"users/bad", false, false},      // the check does not apply
		{"config", false, false},         // no Exists: the core keeps update
		{"readonly/alice", false, false}, // Exists on a route that takes no write
		{"elsewhere", false, false},
	}
	for _, tt := range tests {
		found, ok, err := r.ExistenceCheck(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: tt.path})
		if err != nil || found != tt.found || ok != tt.exists {
			t.Errorf("%s: found=%v exists=%v err=%v, want %v %v", tt.path, found, ok, err, tt.found, tt.exists)
		}
	}
}

func TestRouterPathLists(t *testing.T) {
	r := logical.NewRouter("",
		logical.Route{Pattern: "login", Unauthenticated: true, Ops: read("login")},
		logical.Route{Pattern: "login/{role}", Unauthenticated: true, Ops: read("login")},
		logical.Route{Pattern: "accessors", Sudo: true, Ops: read("a")},
		logical.Route{Pattern: "revoke-orphan/{rest*}", Sudo: true, Ops: read("a")},
		logical.Route{Pattern: "roles/{name}", Ops: read("r")},
	)
	if got, want := r.UnauthenticatedPaths(), []string{"login", "login/*"}; !slices.Equal(got, want) {
		t.Errorf("UnauthenticatedPaths = %q, want %q", got, want)
	}
	if got, want := r.SudoPaths(), []string{"accessors", "revoke-orphan", "revoke-orphan/*"}; !slices.Equal(got, want) {
		t.Errorf("SudoPaths = %q, want %q", got, want)
	}
	// A flag's path list may not reach a route without it: the core
	// would serve that route without a token (or demand sudo there).
	for _, routes := range [][]logical.Route{
		{{Pattern: "login/{role}", Unauthenticated: true}, {Pattern: "login/{role}/secret"}},
		{{Pattern: "login/{role}", Unauthenticated: true}, {Pattern: "{x}/admin"}},
		{{Pattern: "{rest*}", Unauthenticated: true}, {Pattern: "config"}},
		{{Pattern: "keys/{name}/rotate", Sudo: true}, {Pattern: "keys/{name}"}},
		{{Pattern: "config", Sudo: true}, {Pattern: "{name}"}},
		{{Pattern: "lo", Unauthenticated: true}, {Pattern: "lo/{x*}"}},
		// "login/*" covers "login/", which the route "login" serves.
		{{Pattern: "login/{role}", Unauthenticated: true}, {Pattern: "login"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewRouter accepted %q (flagged) beside %q", routes[0].Pattern, routes[1].Pattern)
				}
			}()
			logical.NewRouter("", routes...)
		}()
	}
	// Neighbours the list cannot reach are fine.
	logical.NewRouter("",
		logical.Route{Pattern: "login/{role}", Unauthenticated: true},
		logical.Route{Pattern: "logins"},
		logical.Route{Pattern: "roles/{x}/login"},
	)
}

func TestRouterHelp(t *testing.T) {
	r := logical.NewRouter("Userpass authenticates users with a password.",
		logical.Route{
			Pattern:  "users/{name}",
			Ops:      map[logical.Operation]logical.Handler{logical.ReadOperation: echo("r"), logical.UpdateOperation: echo("w")},
			Synopsis: "Manage a user.",
			Fields: logical.Fields{
				{Name: "name", Description: "The user's name.", InPath: true},
				{Name: "password", Type: logical.TypeString, Description: "The user's password."},
				{Name: "token_ttl", Type: logical.TypeDuration, Description: "Token lifetime.", Default: 0},
			},
			Description: "Create, read or update a user.",
		},
		logical.Route{Pattern: "login/{user}", Unauthenticated: true, Synopsis: "Log in.",
			Ops: map[logical.Operation]logical.Handler{logical.UpdateOperation: echo("w")}},
	)
	help := func(path string) (string, map[string]any) {
		t.Helper()
		resp, err := r.Help(context.Background(), &logical.Request{Operation: logical.HelpOperation, Path: path, MountPoint: "auth/userpass/"})
		if err != nil {
			t.Fatalf("help %q: %v", path, err)
		}
		var body struct {
			Help    string         `json:"help"`
			OpenAPI map[string]any `json:"openapi"`
		}
		if resp.ContentType != "application/json" || json.Unmarshal(resp.Raw, &body) != nil {
			t.Fatalf("help %q: body %q", path, resp.Raw)
		}
		return body.Help, body.OpenAPI
	}
	text, doc := help("users/alice")
	for _, want := range []string{"Matching Route: users/{name}", "Manage a user.", "name (string)", "The user's name.",
		"password (string)", "The user's password.", "token_ttl (duration (sec))", "Default: 0.", "## DESCRIPTION\n\nCreate, read or update a user."} {
		if !strings.Contains(text, want) {
			t.Errorf("help lacks %q:\n%s", want, text)
		}
	}
	paths := doc["paths"].(map[string]any)
	item, ok := paths["/auth/userpass/users/{name}"].(map[string]any)
	if !ok || item["get"] == nil || item["post"] == nil || item["delete"] != nil {
		t.Errorf("openapi paths = %v", paths)
	}
	text, _ = help("login/bob")
	if !strings.Contains(text, "user (string)") || !strings.Contains(text, "Taken from the request path.") {
		t.Errorf("undocumented capture not listed:\n%s", text)
	}
	text, doc = help("")
	if !strings.Contains(text, "Userpass authenticates users") || !strings.Contains(text, "users/{name}") || !strings.Contains(text, "login/{user}") {
		t.Errorf("overview:\n%s", text)
	}
	if len(doc["paths"].(map[string]any)) != 2 {
		t.Errorf("overview openapi = %v", doc["paths"])
	}
	if _, err := r.Help(context.Background(), &logical.Request{Operation: logical.HelpOperation, Path: "nope"}); !errors.Is(err, logical.ErrUnsupportedPath) {
		t.Errorf("help on an unknown path: %v", err)
	}
	// A help request through HandleRequest is answered by Help, never by
	// a handler.
	resp, err := r.HandleRequest(context.Background(), &logical.Request{Operation: logical.HelpOperation, Path: "users/x"})
	if err != nil || resp.Raw == nil {
		t.Errorf("HandleRequest(help) = %v, %v", resp, err)
	}
}

func TestFieldsNames(t *testing.T) {
	fs := logical.Fields{{Name: "name", InPath: true}, {Name: "password"}, {Name: "ttl"}}
	if got := fs.Names(); !slices.Equal(got, []string{"password", "ttl"}) {
		t.Errorf("Names = %q", got)
	}
	if err := fs.Unknown(map[string]any{"password": "x", "name": "y"}); err == nil || !strings.Contains(err.Error(), `"name"`) {
		t.Errorf("Unknown accepted a capture as a body field: %v", err)
	}
	if err := fs.Unknown(map[string]any{"ttl": "1h"}); err != nil {
		t.Error(err)
	}
	more := fs.With(logical.Field{Name: "extra"})
	if len(fs) != 3 || len(more) != 4 {
		t.Errorf("With changed its receiver: %d %d", len(fs), len(more))
	}
}

// FuzzRouterPattern checks the router against the core's path lists: an
// unauthenticated route's list covers every path the route serves, and
// never a path another route serves; whichever order they are declared in.
func FuzzRouterPattern(f *testing.F) {
	for _, s := range [][3]string{
		{"login/{role}", "roles/{name}", "login/x"},
		{"login", "login/{x*}", "login/"},
		{"{rest*}", "config", "config"},
		{"a/{b}/c", "a/{b}", "a/x/"},
		{"users/{name}", "users", "users/"},
		{"lo", "log", "log"},
		{"", "{x*}", ""},
		{"a/{p*}/b", "a/{q}", "a/b/b"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, unauth, other, path string) {
		for _, order := range [][]logical.Route{
			{{Pattern: unauth, Unauthenticated: true, Ops: read("u")}, {Pattern: other, Ops: read("o")}},
			{{Pattern: other, Ops: read("o")}, {Pattern: unauth, Unauthenticated: true, Ops: read("u")}},
		} {
			r, ok := newRouter(order)
			if !ok {
				continue
			}
			resp, err := r.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: path})
			if err != nil {
				if !errors.Is(err, logical.ErrUnsupportedPath) {
					t.Fatalf("%q: %v", path, err)
				}
				continue
			}
			covered := logical.MatchPath(r.UnauthenticatedPaths(), path)
			switch resp.Data["route"] {
			case "u":
				if !covered {
					t.Fatalf("unauthenticated %q serves %q, not covered by %q", unauth, path, r.UnauthenticatedPaths())
				}
			case "o":
				if covered {
					t.Fatalf("%q serves %q, which %q (from %q) leaves without a token", other, path, r.UnauthenticatedPaths(), unauth)
				}
			}
		}
	})
}

// newRouter returns the router, or false when NewRouter refuses routes.
func newRouter(routes []logical.Route) (r *logical.Router, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return logical.NewRouter("", routes...), true
}

// A sudo "{rest*}" route behind a route serving its bare path lists only
// its children, and may cover that route's LIST form: "auth" lists without
// sudo, "auth/" (LIST) and "auth/NAME" need it, as sys/auth does. An
// unauthenticated list may not do the same (TestRouterPathLists).
func TestRouterSudoBesideBarePath(t *testing.T) {
	r := logical.NewRouter("",
		logical.Route{Pattern: "auth", Ops: read("list")},
		logical.Route{Pattern: "auth/{path*}", Sudo: true, Ops: read("one")},
		logical.Route{Pattern: "revoke/{prefix*}", Sudo: true, Ops: read("revoke")},
	)
	if got, want := r.SudoPaths(), []string{"auth/*", "revoke", "revoke/*"}; !slices.Equal(got, want) {
		t.Fatalf("SudoPaths = %q, want %q", got, want)
	}
	for path, want := range map[string]bool{"auth": false, "auth/": true, "auth/x": true, "revoke": true, "revoke/x": true} {
		if got := logical.MatchPath(r.SudoPaths(), path); got != want {
			t.Errorf("sudo on %q = %v, want %v", path, got, want)
		}
	}
}
