package policy

import (
	"errors"
	"strings"
)

// Identity is the caller's identity used to render templated paths such as
// secret/data/{{identity.entity.name}}/*.
type Identity struct {
	EntityID       string
	EntityName     string
	EntityMetadata map[string]string
	// Aliases is keyed by auth mount accessor.
	Aliases map[string]Alias
	// Groups are the groups the entity is in (directly or through member
	// groups), group id -> group name.
	Groups map[string]string
}

// Alias is an entity alias on one auth mount.
type Alias struct {
	Name     string
	Metadata map[string]string
}

// Supported template expressions.
const (
	tmplEntityID       = "identity.entity.id"
	tmplEntityName     = "identity.entity.name"
	tmplEntityMetadata = "identity.entity.metadata."
	tmplAliases        = "identity.entity.aliases."
	tmplGroupNames     = "identity.groups.names." // NAME.id
	tmplGroupIDs       = "identity.groups.ids."   // ID.name
)

// lookupTemplate resolves one template expression (without braces) for
// ident. known is false for an unsupported expression; ok is false when the
// expression is supported but has no value (ident nil, key missing).
func lookupTemplate(expr string, ident *Identity) (value string, known, ok bool) {
	switch {
	case expr == tmplEntityID:
		if ident == nil || ident.EntityID == "" {
			return "", true, false
		}
		return ident.EntityID, true, true
	case expr == tmplEntityName:
		if ident == nil || ident.EntityName == "" {
			return "", true, false
		}
		return ident.EntityName, true, true
	case strings.HasPrefix(expr, tmplEntityMetadata):
		key := expr[len(tmplEntityMetadata):]
		if key == "" {
			return "", false, false
		}
		if ident == nil {
			return "", true, false
		}
		v, ok := ident.EntityMetadata[key]
		return v, true, ok
	case strings.HasPrefix(expr, tmplAliases):
		rest := expr[len(tmplAliases):]
		dot := strings.IndexByte(rest, '.')
		if dot <= 0 {
			return "", false, false
		}
		accessor, field := rest[:dot], rest[dot+1:]
		var metaKey string
		switch {
		case field == "name":
		case strings.HasPrefix(field, "metadata.") && len(field) > len("metadata."):
			metaKey = field[len("metadata."):]
		default:
			return "", false, false
		}
		if ident == nil {
			return "", true, false
		}
		alias, ok := ident.Aliases[accessor]
		if !ok {
			return "", true, false
		}
		if metaKey == "" {
			return alias.Name, true, alias.Name != ""
		}
		v, ok := alias.Metadata[metaKey]
		return v, true, ok
	case strings.HasPrefix(expr, tmplGroupNames):
		name, ok := strings.CutSuffix(expr[len(tmplGroupNames):], ".id")
		if !ok || name == "" {
			return "", false, false
		}
		if ident == nil {
			return "", true, false
		}
		for id, n := range ident.Groups {
			if n == name {
				return id, true, true
			}
		}
		return "", true, false
	case strings.HasPrefix(expr, tmplGroupIDs):
		id, ok := strings.CutSuffix(expr[len(tmplGroupIDs):], ".name")
		if !ok || id == "" {
			return "", false, false
		}
		if ident == nil {
			return "", true, false
		}
		n, ok := ident.Groups[id]
		return n, true, ok
	}
	return "", false, false
}

var errTemplate = errors.New("malformed identity template")

// render replaces each {{expr}} in pattern using ident. With placeholder
// set, every supported expression renders as that value instead (used to
// validate patterns at parse time). It returns ok=false when a value is
// missing or unsafe, so the rule must match nothing, and an error for
// malformed or unsupported templates. Braces outside templates are errors.
func render(pattern string, ident *Identity, placeholder string) (out string, ok bool, err error) {
	if !strings.ContainsAny(pattern, "{}") {
		return pattern, true, nil
	}
	var b strings.Builder
	rest := pattern
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			if strings.ContainsAny(rest, "{}") {
				return "", false, errTemplate
			}
			b.WriteString(rest)
			return b.String(), true, nil
		}
		if strings.ContainsAny(rest[:open], "{}") {
			return "", false, errTemplate
		}
		b.WriteString(rest[:open])
		rest = rest[open+2:]
		end := strings.Index(rest, "}}")
		if end < 0 {
			return "", false, errTemplate
		}
		expr := strings.TrimSpace(rest[:end])
		if strings.ContainsAny(expr, "{} \t") {
			return "", false, errTemplate
		}
		rest = rest[end+2:]
		value, known, found := lookupTemplate(expr, ident)
		if !known {
			return "", false, errTemplate
		}
		if placeholder != "" {
			value, found = placeholder, true
		}
		if !found || !safeTemplateValue(value) {
			// Keep checking the syntax of the remaining templates, but
			// the rule will match nothing.
			if _, _, err := render(rest, nil, "x"); err != nil {
				return "", false, err
			}
			return "", false, nil
		}
		b.WriteString(value)
	}
}

// safeTemplateValue reports whether v can be substituted into a path
// without widening it: one or more non-empty, canonical path segments with
// no glob, wildcard or template characters. A "/" inside the value is
// allowed because CI identities are paths (GitHub's repository claim is
// "owner/repo"); the result is a longer literal path, never a wider one.
func safeTemplateValue(v string) bool {
	if v == "" || strings.ContainsAny(v, "*+,{}\\") || strings.Contains(v, "..") {
		return false
	}
	for _, seg := range strings.Split(v, "/") {
		if seg == "" || pathProblem(seg) != "" {
			return false
		}
	}
	return pathProblem(v) == ""
}
