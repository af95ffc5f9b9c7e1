// Package passpol owns password policies: it parses Vault's HCL shape
// (length, rule "charset" {charset, min-chars}), stores policies behind the
// barrier and generates passwords from them with crypto/rand, without modulo
// bias. It never logs or stores a generated password.
package passpol

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"

	"github.com/keyward/keyward/internal/logical"
)

// Length bounds of a policy, as in Vault.
const (
	MinLength = 4
	MaxLength = 100
)

// Rule requires at least MinChars characters from Charset. Every rule's
// charset also joins the alphabet the rest of the password is drawn from.
type Rule struct {
	Charset  []rune
	MinChars int
}

// Policy is a parsed password policy.
type Policy struct {
	Length int
	Rules  []Rule
	// alphabet is the union of all rule charsets, deduplicated, in order.
	alphabet []rune
}

// Default is the policy used when none is named: 20 characters with at
// least one lower-case letter, one upper-case letter and one digit, and
// a dash allowed (databases accept it unquoted in passwords).
var Default = mustParse(`length = 20
rule "charset" {
  charset = "abcdefghijklmnopqrstuvwxyz"
  min-chars = 1
}
rule "charset" {
  charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
  min-chars = 1
}
rule "charset" {
  charset = "0123456789"
  min-chars = 1
}
rule "charset" {
  charset = "-"
}
`)

func mustParse(s string) *Policy {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Parse parses and validates a policy. Errors name the problem, never echo
// the document.
func Parse(src string) (*Policy, error) {
	if len(src) > 64<<10 {
		return nil, errors.New("password policy: too large")
	}
	file, err := hcl.Parse(src)
	if err != nil {
		return nil, errors.New("password policy: invalid HCL")
	}
	list, ok := file.Node.(*ast.ObjectList)
	if !ok {
		return nil, errors.New("password policy: expected an object")
	}
	p := &Policy{}
	seenLength := false
	for _, item := range list.Items {
		if len(item.Keys) == 0 {
			return nil, errors.New("password policy: item without a key")
		}
		key := item.Keys[0].Token.Value()
		switch key {
		case "length":
			if len(item.Keys) != 1 || seenLength {
				return nil, errors.New("password policy: length must be set once")
			}
			seenLength = true
			if err := hcl.DecodeObject(&p.Length, item.Val); err != nil {
				return nil, errors.New("password policy: length must be an integer")
			}
		case "rule":
			if len(item.Keys) != 2 {
				return nil, errors.New("password policy: rule needs a type, as in rule \"charset\"")
			}
			typ, _ := item.Keys[1].Token.Value().(string)
			if typ != "charset" {
				return nil, fmt.Errorf("password policy: unsupported rule type %q", truncate(typ))
			}
			r, err := parseCharset(item.Val)
			if err != nil {
				return nil, err
			}
			p.Rules = append(p.Rules, r)
		default:
			return nil, fmt.Errorf("password policy: unknown key %q", truncate(fmt.Sprint(key)))
		}
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func parseCharset(n ast.Node) (Rule, error) {
	obj, ok := n.(*ast.ObjectType)
	if !ok {
		return Rule{}, errors.New("password policy: rule must be a block")
	}
	var r Rule
	seen := map[string]bool{}
	for _, item := range obj.List.Items {
		if len(item.Keys) != 1 {
			return Rule{}, errors.New("password policy: nested blocks are not allowed in a rule")
		}
		k, _ := item.Keys[0].Token.Value().(string)
		if seen[k] {
			return Rule{}, fmt.Errorf("password policy: %q set twice in a rule", truncate(k))
		}
		seen[k] = true
		switch k {
		case "charset":
			var s string
			if err := hcl.DecodeObject(&s, item.Val); err != nil {
				return Rule{}, errors.New("password policy: charset must be a string")
			}
			cs, err := charset(s)
			if err != nil {
				return Rule{}, err
			}
			r.Charset = cs
		case "min-chars", "min_chars":
			if err := hcl.DecodeObject(&r.MinChars, item.Val); err != nil {
				return Rule{}, errors.New("password policy: min-chars must be an integer")
			}
		default:
			return Rule{}, fmt.Errorf("password policy: unknown rule field %q", truncate(k))
		}
	}
	if len(r.Charset) == 0 {
		return Rule{}, errors.New("password policy: a charset rule needs a non-empty charset")
	}
	if r.MinChars < 0 {
		return Rule{}, errors.New("password policy: min-chars must not be negative")
	}
	return r, nil
}

// charset decodes s into distinct printable runes.
func charset(s string) ([]rune, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("password policy: charset is not valid UTF-8")
	}
	seen := map[rune]bool{}
	var out []rune
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return nil, errors.New("password policy: charset holds a space or non-printable character")
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out, nil
}

func (p *Policy) validate() error {
	if p.Length < MinLength || p.Length > MaxLength {
		return fmt.Errorf("password policy: length must be between %d and %d", MinLength, MaxLength)
	}
	if len(p.Rules) == 0 {
		return errors.New("password policy: at least one charset rule is required")
	}
	sum := 0
	seen := map[rune]bool{}
	p.alphabet = p.alphabet[:0]
	for _, r := range p.Rules {
		sum += r.MinChars
		for _, c := range r.Charset {
			if !seen[c] {
				seen[c] = true
				p.alphabet = append(p.alphabet, c)
			}
		}
	}
	if sum > p.Length {
		return errors.New("password policy: the rules' min-chars add up to more than length")
	}
	return nil
}

// Generate returns a new password satisfying p.
func (p *Policy) Generate() (string, error) {
	out := make([]rune, 0, p.Length)
	for _, r := range p.Rules {
		for range r.MinChars {
			c, err := pick(r.Charset)
			if err != nil {
				return "", err
			}
			out = append(out, c)
		}
	}
	for len(out) < p.Length {
		c, err := pick(p.alphabet)
		if err != nil {
			return "", err
		}
		out = append(out, c)
	}
	// Fisher-Yates, so the required characters land anywhere.
	for i := len(out) - 1; i > 0; i-- {
		j, err := uniform(uint32(i + 1))
		if err != nil {
			return "", err
		}
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
}

func pick(set []rune) (rune, error) {
	i, err := uniform(uint32(len(set)))
	if err != nil {
		return 0, err
	}
	return set[i], nil
}

// uniform returns a uniform value in [0, n) from crypto/rand, rejecting the
// top partial range so there is no modulo bias.
func uniform(n uint32) (uint32, error) {
	if n == 0 {
		return 0, errors.New("password policy: empty set")
	}
	limit := (1<<32 - 1) - (1<<32-1)%uint64(n) // values >= limit are rejected
	var b [4]byte
	for {
		rand.Read(b[:]) // never fails (Go 1.24+); see docs/architecture.md
		v := uint64(binary.LittleEndian.Uint32(b[:]))
		if v < limit {
			return uint32(v % uint64(n)), nil
		}
	}
}

// Check reports whether pw satisfies p: length and every rule's minimum.
func (p *Policy) Check(pw string) bool {
	runes := []rune(pw)
	if len(runes) != p.Length {
		return false
	}
	allowed := map[rune]bool{}
	for _, c := range p.alphabet {
		allowed[c] = true
	}
	for _, c := range runes {
		if !allowed[c] {
			return false
		}
	}
	for _, r := range p.Rules {
		in := map[rune]bool{}
		for _, c := range r.Charset {
			in[c] = true
		}
		n := 0
		for _, c := range runes {
			if in[c] {
				n++
			}
		}
		if n < r.MinChars {
			return false
		}
	}
	return true
}

// StoragePrefix is where the core should keep policies, behind the barrier.
const StoragePrefix = "sys/password_policy/"

// Store keeps named policies in a storage view. It holds no state of its
// own beyond its routes, built on first use, so building one per request
// is cheap.
type Store struct {
	view       logical.Storage
	routerOnce sync.Once
	routes     *logical.Router
}

// NewStore returns a Store over view.
func NewStore(view logical.Storage) *Store { return &Store{view: view} }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

type record struct {
	Policy string `json:"policy"`
}

// Get returns the source and parsed form of policy name; ok is false if it
// does not exist.
func (s *Store) Get(ctx context.Context, name string) (src string, p *Policy, ok bool, err error) {
	if !nameRE.MatchString(name) {
		return "", nil, false, logical.BadRequest("invalid password policy name")
	}
	raw, err := s.view.Get(ctx, name)
	if err != nil || raw == nil {
		return "", nil, false, err
	}
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return "", nil, false, fmt.Errorf("password policy %q: decode: %w", name, err)
	}
	p, err = Parse(rec.Policy)
	if err != nil {
		return "", nil, false, err
	}
	return rec.Policy, p, true, nil
}

// Put validates and stores policy src as name.
func (s *Store) Put(ctx context.Context, name, src string) error {
	if !nameRE.MatchString(name) {
		return logical.BadRequest("invalid password policy name")
	}
	if _, err := Parse(src); err != nil {
		return logical.BadRequest("%s", err.Error())
	}
	raw, err := json.Marshal(record{Policy: src})
	if err != nil {
		return err
	}
	return s.view.Put(ctx, name, raw)
}

// Generate returns a password from policy name, or from Default when name
// is empty.
func (s *Store) Generate(ctx context.Context, name string) (string, error) {
	if name == "" {
		return Default.Generate()
	}
	_, p, ok, err := s.Get(ctx, name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", logical.BadRequest("password policy %q not found", name)
	}
	return p.Generate()
}

// HandleRequest serves sys/policies/password/NAME (read, write, delete),
// LIST sys/policies/password/ and sys/policies/password/NAME/generate, with
// paths relative to sys/, from the store's routes.
func (s *Store) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	return s.router().HandleRequest(ctx, req)
}

// Help implements logical.Helper from the same routes.
func (s *Store) Help(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	return s.router().Help(ctx, req)
}

// OpenAPI describes the routes as an OpenAPI document, paths under
// mountPoint (logical.Router.OpenAPI).
func (s *Store) OpenAPI(mountPoint string) map[string]any {
	return s.router().OpenAPI(mountPoint)
}

func (s *Store) router() *logical.Router {
	s.routerOnce.Do(func() { s.routes = logical.NewRouter(backendHelp, s.routeList()...) })
	return s.routes
}

const backendHelp = `Password policies say how generated passwords look (length, and how many
characters each charset must give), for the database engine's generated
passwords and for sys/policies/password/NAME/generate.`

var nameDoc = logical.Field{Name: "name", InPath: true, Description: "The policy's name: letters, digits, . _ -."}

var policyDocs = logical.Fields{
	nameDoc,
	{Name: "policy", Description: "The policy in HCL: length (4 to 100) and rule \"charset\" { charset, min-chars } blocks."},
}

func (s *Store) routeList() []logical.Route {
	return []logical.Route{
		{Pattern: "policies/password", Ops: map[logical.Operation]logical.Handler{logical.ListOperation: s.list},
			Synopsis: "List the password policies."},
		{Pattern: "policies/password/{name}/generate", Ops: map[logical.Operation]logical.Handler{logical.ReadOperation: s.generate},
			Synopsis: "Generate a password from a policy.", Fields: logical.Fields{nameDoc}},
		// {name*}, not {name}: a name with a "/" is refused as invalid
		// (400), not as an unknown path.
		{Pattern: "policies/password/{name*}",
			Ops: map[logical.Operation]logical.Handler{
				logical.ReadOperation: s.read, logical.UpdateOperation: s.write, logical.DeleteOperation: s.delete,
			},
			Synopsis: "Write, read or delete a password policy.", Fields: policyDocs},
	}
}

func (s *Store) list(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	keys, err := s.view.List(ctx, "")
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"keys": keys}}, nil
}

func (s *Store) generate(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	pw, err := s.Generate(ctx, p["name"])
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"password": pw}}, nil
}

func (s *Store) read(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	src, _, ok, err := s.Get(ctx, p["name"])
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, logical.Errorf(http.StatusNotFound, "password policy %q not found", p["name"])
	}
	return &logical.Response{Data: map[string]any{"policy": src}}, nil
}

func (s *Store) write(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := policyDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	src, _, err := logical.Str(req.Data, "policy")
	if err != nil {
		return nil, err
	}
	if src == "" {
		return nil, logical.BadRequest("missing policy")
	}
	return nil, s.Put(ctx, p["name"], src)
}

func (s *Store) delete(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	if !nameRE.MatchString(p["name"]) {
		return nil, logical.BadRequest("invalid password policy name")
	}
	return nil, s.view.Delete(ctx, p["name"])
}

var (
	_ logical.Backend = (*Store)(nil)
	_ logical.Helper  = (*Store)(nil)
)
