package core

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
)

// policyStore keeps ACL policies in the barrier and compiled ACLs in memory.
// Policies change rarely and are read on every request, so reads hit a map
// and the compiled ACL for a set of policy names is cached until any policy
// changes.
type policyStore struct {
	view logical.Storage

	mu     sync.RWMutex
	parsed map[string]*policy.Policy
	// templated records the policies with identity templates in a path.
	templated map[string]bool
	texts     map[string]string
	acls      map[string]*policy.ACL // by joined policy names; reset on change
	// gen counts policy writes, so an ACL compiled from texts a write
	// replaced meanwhile is not cached.
	gen uint64
	// afterCompile, when set (tests only), runs between compiling an ACL
	// and caching it.
	afterCompile func()
}

type storedPolicy struct {
	Name   string `json:"name"`
	Policy string `json:"policy"`
}

func newPolicyStore(ctx context.Context, view logical.Storage) (*policyStore, error) {
	ps := &policyStore{view: view, parsed: map[string]*policy.Policy{}, templated: map[string]bool{}, texts: map[string]string{}, acls: map[string]*policy.ACL{}}
	names, err := view.List(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		raw, err := view.Get(ctx, n)
		if err != nil {
			return nil, err
		}
		if raw == nil {
			continue
		}
		var sp storedPolicy
		if err := json.Unmarshal(raw, &sp); err != nil {
			return nil, fmt.Errorf("decode policy %q: %w", n, err)
		}
		p, err := policy.Parse(sp.Name, sp.Policy)
		if err != nil {
			return nil, fmt.Errorf("parse stored policy %q: %w", n, err)
		}
		ps.parsed[sp.Name] = p
		ps.templated[sp.Name] = hasTemplate(p)
		ps.texts[sp.Name] = sp.Policy
	}
	if _, ok := ps.parsed["default"]; !ok {
		if err := ps.put(ctx, "default", policy.DefaultPolicyText); err != nil {
			return nil, fmt.Errorf("write default policy: %w", err)
		}
	}
	return ps, nil
}

func (ps *policyStore) get(name string) (string, bool) {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	t, ok := ps.texts[name]
	return t, ok
}

func (ps *policyStore) names() []string {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	out := make([]string, 0, len(ps.texts)+1)
	for n := range ps.texts {
		out = append(out, n)
	}
	out = append(out, "root")
	sort.Strings(out)
	return out
}

func (ps *policyStore) put(ctx context.Context, name, text string) error {
	if err := policy.ValidName(name); err != nil {
		return logical.BadRequest("%v", err)
	}
	if name == "root" {
		return logical.BadRequest("cannot update the root policy")
	}
	p, err := policy.Parse(name, text)
	if err != nil {
		return logical.BadRequest("failed to parse policy: %v", err)
	}
	raw, err := json.Marshal(storedPolicy{Name: name, Policy: text})
	if err != nil {
		return err
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err := ps.view.Put(ctx, name, raw); err != nil {
		return fmt.Errorf("store policy: %w", err)
	}
	ps.parsed[name] = p
	ps.templated[name] = hasTemplate(p)
	ps.texts[name] = text
	ps.acls = map[string]*policy.ACL{}
	ps.gen++
	return nil
}

func (ps *policyStore) delete(ctx context.Context, name string) error {
	switch name {
	case "root":
		return logical.BadRequest("cannot delete the root policy")
	case "default":
		return logical.BadRequest("cannot delete the default policy")
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err := ps.view.Delete(ctx, name); err != nil {
		return fmt.Errorf("delete policy: %w", err)
	}
	delete(ps.parsed, name)
	delete(ps.templated, name)
	delete(ps.texts, name)
	ps.acls = map[string]*policy.ACL{}
	ps.gen++
	return nil
}

func hasTemplate(p *policy.Policy) bool {
	for _, r := range p.Rules {
		if strings.Contains(r.Path, "{{") {
			return true
		}
	}
	return false
}

// parsedPolicies returns the parsed policies of names that exist.
func (ps *policyStore) parsedPolicies(names []string) []*policy.Policy {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	out := make([]*policy.Policy, 0, len(names))
	for _, n := range names {
		if p, ok := ps.parsed[n]; ok {
			out = append(out, p)
		}
	}
	return out
}

// acl returns the compiled ACL for a token's policies. Policies that don't
// exist are skipped, as in Vault. The identity matters only when one of the
// policies has templated paths; the cache key then includes it.
func (ps *policyStore) acl(names []string, ident *policy.Identity) (*policy.ACL, error) {
	ps.mu.RLock()
	templated := false
	for _, n := range names {
		if ps.templated[n] {
			templated = true
			break
		}
	}
	key := strings.Join(names, "\x00")
	if !templated {
		ident = nil
	} else {
		key += "\x01" + identityKey(ident)
	}
	a, ok := ps.acls[key]
	if ok {
		ps.mu.RUnlock()
		return a, nil
	}
	// The texts and the generation are read together, so the ACL is
	// cached only if no write replaced them while it compiled.
	gen := ps.gen
	pols := make([]*policy.Policy, 0, len(names))
	for _, n := range names {
		if p, ok := ps.parsed[n]; ok {
			pols = append(pols, p)
		}
	}
	ps.mu.RUnlock()
	a, err := policy.Compile(pols, ident)
	if err != nil {
		return nil, err
	}
	if ps.afterCompile != nil {
		ps.afterCompile()
	}
	ps.mu.Lock()
	if ps.gen == gen {
		if len(ps.acls) > 4096 {
			ps.acls = map[string]*policy.ACL{}
		}
		ps.acls[key] = a
	}
	ps.mu.Unlock()
	return a, nil
}

// identityKey serialises an identity for the ACL cache: everything a
// template can read (policy.Identity), so two identities that render any
// template differently never share a compiled ACL.
func identityKey(id *policy.Identity) string {
	if id == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(id.EntityID)
	b.WriteByte(0)
	b.WriteString(id.EntityName)
	writeMap := func(m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteByte(1)
			b.WriteString(k)
			b.WriteByte(2)
			b.WriteString(m[k])
		}
	}
	writeMap(id.EntityMetadata)
	accs := make([]string, 0, len(id.Aliases))
	for k := range id.Aliases {
		accs = append(accs, k)
	}
	sort.Strings(accs)
	for _, acc := range accs {
		al := id.Aliases[acc]
		b.WriteByte(3)
		b.WriteString(acc)
		b.WriteByte(4)
		b.WriteString(al.Name)
		writeMap(al.Metadata)
	}
	// Groups render identity.groups.* templates: leaving a group or a
	// rename must not be served from an ACL compiled before it.
	b.WriteByte(5)
	writeMap(id.Groups)
	return b.String()
}
