package logical

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A Router serves a backend's paths from one declaration per path: its
// pattern, one handler per operation, whether it needs sudo or no token,
// how to tell create from update, and its help. HandleRequest,
// SudoPaths, UnauthenticatedPaths, ExistenceCheck and Help all derive
// from the same list, so a backend embeds a *Router and declares nothing
// twice.
//
// Pattern syntax, matched segment by segment against the mount-relative
// path (one trailing "/", which a LIST carries, is ignored):
//
//	users             the literal segment "users"
//	users/{name}      "users/" and one non-empty segment, captured as name
//	keys/{name}/rotate a capture may sit between literals
//	data/{path*}      "data" and everything after it, captured as path (may
//	                  be empty, keeps a trailing "/")
//	mounts/{path*}/tune  a {name*} followed by literals: the non-empty
//	                  middle, which may hold "/" ("a/b" of mounts/a/b/tune)
//	""                the mount's root
//
// The first route whose pattern matches decides: a path no route matches
// is ErrUnsupportedPath (404), and a matching route without a handler for
// the operation is ErrUnsupportedOperation (405). A create falls back to
// the route's update handler when it declares none of its own (the core
// turns an update into a create when the route's existence check says the
// target is absent). A Router is immutable and safe for concurrent use.
type Router struct {
	overview string
	routes   []*compiledRoute
	sudo     []string
	unauth   []string
}

// Route is one path of a backend.
type Route struct {
	Pattern string
	// Ops maps each operation the path serves to its handler.
	Ops map[Operation]Handler
	// Sudo: the path needs the sudo capability on top of the operation's.
	Sudo bool
	// Unauthenticated: the path is served without a token (logins).
	Unauthenticated bool
	// SegmentGlob lists a Sudo or Unauthenticated route with "+" for each
	// single-segment capture ("roles/+/acme/directory") instead of a
	// prefix and "*", so it may sit beside unflagged routes under the same
	// prefix (roles/{name}). A capture of the rest must then be last.
	SegmentGlob bool
	// Exists, when set, tells the core whether a write creates or updates
	// (see ExistenceChecker).
	Exists ExistsFunc
	// Synopsis is the one-line help; Description the paragraph after it.
	Synopsis    string
	Description string
	// Fields are the request fields the path understands. Use
	// Fields.Unknown (or Names with UnknownFields) in the handler, so the
	// names the help documents are the names the handler accepts.
	Fields Fields
}

// Handler serves one operation of a route. p holds the pattern's captures.
type Handler func(ctx context.Context, req *Request, p Params) (*Response, error)

// ExistsFunc reports whether the target of a write already exists. It
// returns ErrNoExistenceCheck when the check does not apply to req (a path
// the handler will refuse): the core then keeps the update.
type ExistsFunc func(ctx context.Context, req *Request, p Params) (bool, error)

// ErrNoExistenceCheck is returned by an ExistsFunc that does not apply to
// the request.
var ErrNoExistenceCheck = errors.New("no existence check for this request")

// Params are the captures of a route pattern, by name.
type Params map[string]string

// Helper is implemented by backends that answer path-help (?help=1) for
// their paths. req.Path is relative to the mount, as for HandleRequest.
type Helper interface {
	Help(ctx context.Context, req *Request) (*Response, error)
}

// FieldType names the shape a field accepts, as Vault's help prints it.
type FieldType string

// Field types, named as Vault's path-help names them.
const (
	TypeString   FieldType = "string"
	TypeInt      FieldType = "int"
	TypeBool     FieldType = "bool"
	TypeDuration FieldType = "duration (sec)"
	TypeSlice    FieldType = "slice"
	TypeMap      FieldType = "map"
	TypeKVPairs  FieldType = "keypair"
)

// Field documents one request field, or with InPath one capture of the
// route's pattern.
type Field struct {
	Name        string
	Type        FieldType
	Description string
	Default     any
	// InPath marks a pattern capture: documented, never a body field.
	InPath bool
}

// Fields is a route's field list.
type Fields []Field

// Names returns the names of the body fields (captures excluded), for
// UnknownFields.
func (fs Fields) Names() []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		if !f.InPath {
			out = append(out, f.Name)
		}
	}
	return out
}

// Unknown is UnknownFields over the body fields of fs.
func (fs Fields) Unknown(data map[string]any) error {
	return UnknownFields(data, fs.Names()...)
}

// With returns fs followed by more, as a new list.
func (fs Fields) With(more ...Field) Fields {
	return append(slices.Clip(fs), more...)
}

type segKind int

const (
	segLiteral segKind = iota
	segParam
	segRest
)

type segment struct {
	kind segKind
	text string // the literal, or the capture's name
}

type compiledRoute struct {
	Route
	segs []segment
}

// NewRouter compiles routes. help is the backend's overview, shown for
// path-help on the mount itself. It panics on a malformed pattern, a
// capture without a name or used twice, or an unauthenticated or sudo
// route whose path list (SudoPaths, UnauthenticatedPaths: exact paths or a
// prefix and "*") would also cover a route without the flag: those are
// programmer errors a backend's tests catch on construction.
func NewRouter(help string, routes ...Route) *Router {
	r := &Router{overview: help}
	for _, rt := range routes {
		segs, err := compilePattern(rt.Pattern)
		if err != nil {
			panic(fmt.Sprintf("logical: route %q: %v", rt.Pattern, err))
		}
		r.routes = append(r.routes, &compiledRoute{Route: rt, segs: segs})
	}
	for _, cr := range r.routes {
		// A sudo list may reach the LIST form of a route without the flag
		// (see overlaps): it asks more there, never less.
		for _, flag := range []struct {
			name     string
			on       func(*compiledRoute) bool
			dst      *[]string
			listForm bool
		}{
			{"sudo", func(c *compiledRoute) bool { return c.Sudo }, &r.sudo, true},
			{"unauthenticated", func(c *compiledRoute) bool { return c.Unauthenticated }, &r.unauth, false},
		} {
			if !flag.on(cr) {
				continue
			}
			globs := r.globs(cr)
			if cr.SegmentGlob {
				g, ok := cr.segmentGlob()
				if !ok {
					panic(fmt.Sprintf("logical: route %q: SegmentGlob needs any {x*} capture last", cr.Pattern))
				}
				globs = []string{g}
			}
			for _, g := range globs {
				if other := r.coversUnflagged([]string{g}, flag.on, flag.listForm); other != nil {
					panic(fmt.Sprintf("logical: %s route %q: its path %q also covers route %q", flag.name, cr.Pattern, g, other.Pattern))
				}
				if !slices.Contains(*flag.dst, g) {
					*flag.dst = append(*flag.dst, g)
				}
			}
		}
	}
	return r
}

// compilePattern parses a pattern into segments.
func compilePattern(p string) ([]segment, error) {
	if p == "" {
		return nil, nil
	}
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return nil, fmt.Errorf("leading or trailing \"/\"")
	}
	parts := strings.Split(p, "/")
	segs := make([]segment, 0, len(parts))
	seen := map[string]bool{}
	for i, s := range parts {
		switch {
		case s == "":
			return nil, fmt.Errorf("empty segment")
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			name := s[1 : len(s)-1]
			kind := segParam
			if n, ok := strings.CutSuffix(name, "*"); ok {
				for _, after := range parts[i+1:] {
					if strings.ContainsAny(after, "{}*") {
						return nil, fmt.Errorf("{%s} may be followed by literal segments only", name)
					}
				}
				name, kind = n, segRest
			}
			if !validName(name) {
				return nil, fmt.Errorf("capture name %q: want lower case letters, digits and _", name)
			}
			if seen[name] {
				return nil, fmt.Errorf("capture %q used twice", name)
			}
			seen[name] = true
			segs = append(segs, segment{kind: kind, text: name})
		case strings.ContainsAny(s, "{}*"):
			return nil, fmt.Errorf("segment %q: \"{\", \"}\" and \"*\" only in a whole-segment capture", s)
		default:
			segs = append(segs, segment{kind: segLiteral, text: s})
		}
	}
	return segs, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c != '_' && (c < 'a' || c > 'z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// match reports whether path matches and returns its captures.
func (cr *compiledRoute) match(path string) (Params, bool) {
	var p Params
	capture := func(name, v string) {
		if p == nil {
			p = Params{}
		}
		p[name] = v
	}
	rest := path
	for i, s := range cr.segs {
		if i > 0 {
			after, ok := strings.CutPrefix(rest, "/")
			if !ok && !(s.kind == segRest && rest == "") {
				return nil, false
			}
			rest = after
		}
		if s.kind == segRest {
			return cr.matchRest(p, s.text, rest, cr.segs[i+1:])
		}
		seg, _, _ := strings.Cut(rest, "/")
		switch {
		case s.kind == segLiteral && seg != s.text:
			return nil, false
		case s.kind == segParam && seg == "":
			return nil, false
		case s.kind == segParam:
			capture(s.text, seg)
		}
		rest = rest[len(seg):]
	}
	// What is left may only be the trailing "/" of a LIST.
	if rest != "" && (rest != "/" || len(cr.segs) == 0) {
		return nil, false
	}
	return p, true
}

// matchRest captures rest as name, less the literal segments that must
// end it (the trailing "/" of a LIST ignored).
func (cr *compiledRoute) matchRest(p Params, name, rest string, suffix []segment) (Params, bool) {
	if len(suffix) > 0 {
		lits := make([]string, len(suffix))
		for i, s := range suffix {
			lits[i] = s.text
		}
		sfx := "/" + strings.Join(lits, "/")
		r := strings.TrimSuffix(rest, "/")
		if !strings.HasSuffix(r, sfx) || len(r) == len(sfx) {
			return nil, false
		}
		rest = r[:len(r)-len(sfx)]
	}
	if p == nil {
		p = Params{}
	}
	p[name] = rest
	return p, true
}

// globs returns the exact paths and "prefix*" patterns that cover every
// path the route serves, in the form the core's path lists use: a capture
// and all that follows it become "*", so "keys/{name}/rotate" is listed as
// "keys/*" (NewRouter refuses the list if that covers a route without the
// flag). A "{rest*}" route lists its bare prefix too ("login/{name*}" is
// "login" and "login/*") unless an earlier route serves that path.
func (r *Router) globs(cr *compiledRoute) []string {
	g := cr.globs()
	if len(g) == 2 {
		if served, _ := r.route(g[0]); served != cr {
			return g[1:]
		}
	}
	return g
}

// coversUnflagged returns a route without the flag that one of globs
// covers, or nil.
func (r *Router) coversUnflagged(globs []string, on func(*compiledRoute) bool, listForm bool) *compiledRoute {
	for _, g := range globs {
		for _, other := range r.routes {
			if !on(other) && other.overlaps(g, listForm) {
				return other
			}
		}
	}
	return nil
}

// segmentGlob is the route's path with each single-segment capture as
// "+" (MatchPath matches one segment there). A final {x*} becomes "*";
// ok is false for one that is not final.
func (cr *compiledRoute) segmentGlob() (g string, ok bool) {
	parts := make([]string, len(cr.segs))
	for i, s := range cr.segs {
		switch s.kind {
		case segLiteral:
			parts[i] = s.text
		case segParam:
			parts[i] = "+"
		case segRest:
			if i != len(cr.segs)-1 {
				return "", false
			}
			parts[i] = "*"
		}
	}
	return strings.Join(parts, "/"), true
}

func (cr *compiledRoute) globs() []string {
	var lits []string
	for i, s := range cr.segs {
		if s.kind == segLiteral {
			lits = append(lits, s.text)
			continue
		}
		if i == 0 {
			return []string{"*"}
		}
		prefix := strings.Join(lits, "/")
		if s.kind == segRest {
			return []string{prefix, prefix + "/*"}
		}
		return []string{prefix + "/*"}
	}
	return []string{strings.Join(lits, "/")}
}

// overlaps reports whether glob g (an exact path, or a prefix and "*")
// covers some path the route matches, as the core applies path lists: a
// trailing "/" on the request path is ignored, so "a" covers "a/" too.
// With listForm, "a/*" is allowed to cover "a/", the LIST form of a route
// "a", without counting as an overlap: a sudo list may treat listing a
// path's children like the children, as Vault does (LIST
// sys/leases/lookup/ needs sudo like sys/leases/lookup/PREFIX; the lookup
// write at sys/leases/lookup does not).
func (cr *compiledRoute) overlaps(g string, listForm bool) bool {
	if strings.Contains(g, "+") {
		return cr.overlapsSegments(strings.Split(g, "/"))
	}
	prefix, isPrefix := strings.CutSuffix(g, "*")
	if !isPrefix {
		_, ok := cr.match(g)
		if !ok {
			_, ok = cr.match(g + "/")
		}
		return ok
	}
	return cr.matchesSomeWithPrefix(prefix, !listForm || !strings.HasSuffix(prefix, "/"))
}

// overlapsSegments reports whether the route matches some path of the
// segment glob pat ("a/+/b", "+" one segment, a final "*" any rest). It
// errs towards true: a capture is taken to match any literal.
func (cr *compiledRoute) overlapsSegments(pat []string) bool {
	for i, p := range pat {
		if p == "*" && i == len(pat)-1 {
			return len(cr.segs) >= i
		}
		if i >= len(cr.segs) {
			return false
		}
		s := cr.segs[i]
		switch {
		case s.kind == segRest:
			return true
		case p == "+" || s.kind == segParam:
		case s.text != p:
			return false
		}
	}
	return len(cr.segs) == len(pat)
}

// matchesSomeWithPrefix reports whether the route matches some path that
// starts with prefix; listForm counts the route's own path with a trailing
// "/" (its LIST form).
func (cr *compiledRoute) matchesSomeWithPrefix(prefix string, listForm bool) bool {
	rest := prefix
	for i, s := range cr.segs {
		if rest == "" {
			return true
		}
		if i > 0 {
			var ok bool
			if rest, ok = strings.CutPrefix(rest, "/"); !ok {
				return false
			}
			if rest == "" {
				return true
			}
		}
		switch s.kind {
		case segRest:
			return true
		case segLiteral:
			if after, ok := strings.CutPrefix(rest, s.text); ok {
				rest = after
				continue
			}
			// The prefix may end inside the literal.
			return !strings.Contains(rest, "/") && strings.HasPrefix(s.text, rest)
		case segParam:
			seg, _, _ := strings.Cut(rest, "/")
			if seg == "" {
				return false
			}
			rest = rest[len(seg):]
		}
	}
	return rest == "" || (listForm && rest == "/" && len(cr.segs) > 0)
}

// route finds the route for path.
func (r *Router) route(path string) (*compiledRoute, Params) {
	for _, cr := range r.routes {
		if p, ok := cr.match(path); ok {
			return cr, p
		}
	}
	return nil, nil
}

// HandleRequest implements Backend.
func (r *Router) HandleRequest(ctx context.Context, req *Request) (*Response, error) {
	if req.Operation == HelpOperation {
		return r.Help(ctx, req)
	}
	cr, p := r.route(req.Path)
	if cr == nil {
		return nil, ErrUnsupportedPath
	}
	h := cr.handler(req.Operation)
	if h == nil {
		return nil, ErrUnsupportedOperation
	}
	return h(ctx, req, p)
}

func (cr *compiledRoute) handler(op Operation) Handler {
	h := cr.Ops[op]
	if h == nil && op == CreateOperation {
		h = cr.Ops[UpdateOperation]
	}
	return h
}

// ExistenceCheck implements ExistenceChecker from the matching route's
// Exists.
func (r *Router) ExistenceCheck(ctx context.Context, req *Request) (found, exists bool, err error) {
	cr, p := r.route(req.Path)
	if cr == nil || cr.Exists == nil || cr.handler(UpdateOperation) == nil {
		return false, false, nil
	}
	exists, err = cr.Exists(ctx, req, p)
	if errors.Is(err, ErrNoExistenceCheck) {
		return false, false, nil
	}
	return true, exists, err
}

// SudoPaths implements SudoPaths: the paths of the routes marked Sudo.
func (r *Router) SudoPaths() []string { return slices.Clone(r.sudo) }

// UnauthenticatedPaths implements Unauthenticated: the paths of the routes
// marked Unauthenticated.
func (r *Router) UnauthenticatedPaths() []string { return slices.Clone(r.unauth) }

// Routes returns the patterns of the router's routes, in order.
func (r *Router) Routes() []string {
	out := make([]string, len(r.routes))
	for i, cr := range r.routes {
		out[i] = cr.Pattern
	}
	return out
}
