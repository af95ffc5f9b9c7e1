package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
	hclparser "github.com/hashicorp/hcl/hcl/parser"
	"github.com/hashicorp/hcl/hcl/token"
)

// Limits on policy documents, checked before and during parsing.
const (
	MaxPolicyBytes = 1 << 20 // text larger than this is rejected unparsed
	MaxPathBlocks  = 10000   // more path blocks than this are rejected
	maxNesting     = 32      // bracket depth; bounds the HCL parser's recursion
)

// Policy is one parsed ACL policy. Rules keep the order of the path blocks
// in the source; blocks for the same pattern are merged only by Compile.
type Policy struct {
	Name  string
	Rules []Rule
}

// Rule is one path block.
type Rule struct {
	// Path is the pattern as written, minus one leading "/". It may end in
	// "*" (prefix glob), contain "+" segments, and contain identity
	// templates such as {{identity.entity.id}}.
	Path string
	// Capabilities granted; a rule listing "deny" holds CapDeny alone.
	Capabilities Capability
	// AllowedParameters and DeniedParameters map a lower-cased parameter
	// name ("*" for any) to permitted or forbidden values; an empty list
	// means any value. Values may start or end with "*" as globs.
	AllowedParameters map[string][]string
	DeniedParameters  map[string][]string
	// RequiredParameters are lower-cased names that must be present.
	RequiredParameters []string
	// MinWrappingTTL and MaxWrappingTTL bound response wrapping; zero is
	// unset. They are parsed and merged but enforced by the caller.
	MinWrappingTTL time.Duration
	MaxWrappingTTL time.Duration
	// Conditions restrict when the rule grants its capabilities: when any
	// one of them holds for the request (see Condition). Empty means
	// always. A deny rule cannot have conditions.
	Conditions []Condition
	// MFAMethods name the MFA methods (sys/mfa/method/TYPE/NAME) a request
	// on the path must pass (Vault's path MFA); enforced by the caller.
	MFAMethods []string
	// ControlGroup, when set, holds requests on the path for approval
	// (see ControlGroup); nil for most rules.
	ControlGroup *ControlGroup
}

// ParseError reports a problem in policy text at a 1-based line and column
// (0 when unknown). Msg never quotes more than a short key or value.
type ParseError struct {
	Line, Col int
	Msg       string
}

func (e *ParseError) Error() string {
	if e.Line <= 0 {
		return "policy: " + e.Msg
	}
	return fmt.Sprintf("policy: line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

func errAt(pos token.Pos, format string, args ...any) *ParseError {
	return &ParseError{Line: pos.Line, Col: pos.Column, Msg: fmt.Sprintf(format, args...)}
}

// ValidName reports whether name is a valid policy name: ASCII lower-case
// letters, digits, '.', '_' and '-', starting with a letter or digit, at most
// 128 bytes. Names are never normalised (no lower-casing or trimming), so
// "Root", " root" or a Cyrillic look-alike of "root" are invalid rather than
// aliases of "root".
func ValidName(name string) error {
	if name == "" || len(name) > 128 {
		return errors.New("policy name must be 1 to 128 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return fmt.Errorf("policy name %s: only a-z, 0-9, '.', '_' and '-' allowed, starting with a letter or digit", quoteShort(name))
		}
	}
	return nil
}

// Parse parses policy text in Vault's HCL or JSON ACL syntax. Unknown keys,
// unknown capabilities, malformed path patterns and identity templates are
// errors (*ParseError). name must satisfy ValidName.
func Parse(name, text string) (*Policy, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	p, err := parseText(text)
	if err != nil {
		return nil, err
	}
	p.Name = name
	return p, nil
}

func parseText(text string) (p *Policy, err error) {
	if len(text) > MaxPolicyBytes {
		return nil, &ParseError{Msg: fmt.Sprintf("policy larger than %d bytes", MaxPolicyBytes)}
	}
	if !utf8.ValidString(text) {
		return nil, &ParseError{Msg: "policy is not valid utf-8"}
	}
	if line := tooDeep(text); line > 0 {
		return nil, &ParseError{Line: line, Msg: "nesting too deep"}
	}
	defer func() {
		// The HCL library panics on a few malformed literals; report them
		// as parse errors rather than crashing the server.
		if r := recover(); r != nil {
			p, err = nil, &ParseError{Msg: "malformed literal"}
		}
	}()
	f, err := hcl.Parse(text)
	if err != nil {
		return nil, syntaxError(err)
	}
	root, ok := f.Node.(*ast.ObjectList)
	if !ok {
		return nil, &ParseError{Msg: "policy must be an object"}
	}
	p = &Policy{}
	for _, item := range root.Items {
		key, val := splitItem(item)
		if key != "path" {
			return nil, errAt(item.Pos(), "unknown key %s", quoteShort(key))
		}
		obj, ok := val.(*ast.ObjectType)
		if !ok {
			return nil, errAt(item.Pos(), "path must be a block of path patterns")
		}
		if err := p.parsePaths(obj.List); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// parsePaths parses the contents of "path": items keyed by pattern.
func (p *Policy) parsePaths(list *ast.ObjectList) error {
	for _, item := range list.Items {
		pattern, val := splitItem(item)
		if len(p.Rules) >= MaxPathBlocks {
			return errAt(item.Pos(), "more than %d path blocks", MaxPathBlocks)
		}
		obj, ok := val.(*ast.ObjectType)
		if !ok {
			return errAt(item.Pos(), "path %s must be a block", quoteShort(pattern))
		}
		r, err := parseRule(item.Pos(), pattern, obj.List)
		if err != nil {
			return err
		}
		p.Rules = append(p.Rules, r)
	}
	return nil
}

func parseRule(pos token.Pos, pattern string, body *ast.ObjectList) (Rule, error) {
	r := Rule{Path: strings.TrimPrefix(pattern, "/")}
	if err := checkPattern(r.Path); err != nil {
		return r, errAt(pos, "path %s: %v", quoteShort(pattern), err)
	}
	seen := map[string]bool{}
	var legacy Capability
	var haveCaps, haveLegacy bool
	for _, item := range body.Items {
		key, val := splitItem(item)
		if seen[key] && key != "condition" {
			return r, errAt(item.Pos(), "duplicate key %s", quoteShort(key))
		}
		seen[key] = true
		var err error
		switch key {
		case "capabilities":
			haveCaps = true
			r.Capabilities, err = parseCapabilities(val)
		case "policy":
			haveLegacy = true
			legacy, err = parseLegacyPolicy(val)
		case "allowed_parameters":
			r.AllowedParameters, err = parseParams(val)
		case "denied_parameters":
			r.DeniedParameters, err = parseParams(val)
		case "required_parameters":
			var names []string
			names, err = parseStringList(val)
			for i := range names {
				names[i] = strings.ToLower(names[i])
			}
			r.RequiredParameters = names
		case "min_wrapping_ttl":
			r.MinWrappingTTL, err = parseTTL(val)
		case "max_wrapping_ttl":
			r.MaxWrappingTTL, err = parseTTL(val)
		case "mfa_methods":
			r.MFAMethods, err = parseMFAMethods(val)
		case "comment":
			_, err = parseString(val)
		case "control_group":
			r.ControlGroup, err = parseControlGroup(val)
		case "condition":
			var conds []Condition
			conds, err = parseConditions(val)
			r.Conditions = append(r.Conditions, conds...)
		default:
			return r, errAt(item.Pos(), "unknown key %s in path block", quoteShort(key))
		}
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) {
				return r, pe
			}
			return r, errAt(item.Pos(), "%s: %v", key, err)
		}
	}
	if haveLegacy && !haveCaps {
		r.Capabilities = legacy
	} else if haveLegacy {
		r.Capabilities |= legacy
	}
	if r.Capabilities&CapDeny != 0 {
		r.Capabilities = CapDeny
		if len(r.Conditions) > 0 {
			return r, errAt(pos, "a deny rule cannot have conditions: put the condition on the rule that grants")
		}
		if r.ControlGroup != nil {
			return r, errAt(pos, "a deny rule cannot have a control_group")
		}
	}
	if len(r.Conditions) > 0 && r.Capabilities == 0 {
		return r, errAt(pos, "a rule with conditions must grant capabilities")
	}
	if r.MinWrappingTTL > 0 && r.MaxWrappingTTL > 0 && r.MinWrappingTTL > r.MaxWrappingTTL {
		return r, errAt(pos, "min_wrapping_ttl is greater than max_wrapping_ttl")
	}
	return r, nil
}

// splitItem returns an item's first key and its value, re-nesting the
// remaining keys: HCL's `a "b" { }` and the JSON flattening of nested
// objects both produce items with several keys.
func splitItem(item *ast.ObjectItem) (string, ast.Node) {
	if len(item.Keys) == 0 {
		return "", item.Val
	}
	key := keyString(item.Keys[0])
	if len(item.Keys) == 1 {
		return key, item.Val
	}
	inner := &ast.ObjectItem{Keys: item.Keys[1:], Val: item.Val}
	return key, &ast.ObjectType{List: &ast.ObjectList{Items: []*ast.ObjectItem{inner}}, Lbrace: item.Keys[1].Pos()}
}

func keyString(k *ast.ObjectKey) string {
	if k.Token.Type == token.STRING {
		if s, ok := k.Token.Value().(string); ok {
			return s
		}
	}
	return k.Token.Text
}

func parseCapabilities(val ast.Node) (Capability, error) {
	list, ok := val.(*ast.ListType)
	if !ok {
		return 0, errAt(val.Pos(), "capabilities must be a list of strings")
	}
	var caps Capability
	for _, n := range list.List {
		s, err := parseString(n)
		if err != nil {
			return 0, err
		}
		c, ok := capFromName(s)
		if !ok {
			return 0, errAt(n.Pos(), "unknown capability %s", quoteShort(s))
		}
		caps |= c
	}
	return caps, nil
}

// parseLegacyPolicy accepts Vault's deprecated `policy = "read"` form.
func parseLegacyPolicy(val ast.Node) (Capability, error) {
	s, err := parseString(val)
	if err != nil {
		return 0, err
	}
	switch s {
	case "deny":
		return CapDeny, nil
	case "read":
		return CapRead | CapList, nil
	case "write":
		return CapCreate | CapRead | CapUpdate | CapDelete | CapList, nil
	case "sudo":
		return CapCreate | CapRead | CapUpdate | CapDelete | CapList | CapSudo, nil
	}
	return 0, errAt(val.Pos(), "unknown policy value %s", quoteShort(s))
}

func parseParams(val ast.Node) (map[string][]string, error) {
	obj, ok := val.(*ast.ObjectType)
	if !ok {
		return nil, errAt(val.Pos(), "parameters must be a map of name to list of values")
	}
	out := map[string][]string{}
	for _, item := range obj.List.Items {
		key, v := splitItem(item)
		if err := checkText(key); err != nil {
			return nil, errAt(item.Pos(), "parameter name: %v", err)
		}
		key = strings.ToLower(key)
		if _, dup := out[key]; dup {
			return nil, errAt(item.Pos(), "duplicate parameter %s", quoteShort(key))
		}
		values, err := parseValueList(v)
		if err != nil {
			return nil, err
		}
		out[key] = values
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseValueList parses a list of scalar values; numbers and booleans are
// kept in their literal text form.
func parseValueList(val ast.Node) ([]string, error) {
	list, ok := val.(*ast.ListType)
	if !ok {
		return nil, errAt(val.Pos(), "parameter values must be a list")
	}
	var out []string
	for _, n := range list.List {
		lit, ok := n.(*ast.LiteralType)
		if !ok {
			return nil, errAt(n.Pos(), "parameter value must be a string, number or bool")
		}
		var s string
		switch lit.Token.Type {
		case token.STRING, token.HEREDOC:
			v, err := parseString(n)
			if err != nil {
				return nil, err
			}
			s = v
		case token.NUMBER, token.FLOAT:
			f, err := strconv.ParseFloat(lit.Token.Text, 64)
			if err != nil {
				return nil, errAt(n.Pos(), "malformed number")
			}
			s = strconv.FormatFloat(f, 'f', -1, 64)
		case token.BOOL:
			s = lit.Token.Text
		default:
			return nil, errAt(n.Pos(), "parameter value must be a string, number or bool")
		}
		out = append(out, s)
	}
	return out, nil
}

func parseStringList(val ast.Node) ([]string, error) {
	list, ok := val.(*ast.ListType)
	if !ok {
		return nil, errAt(val.Pos(), "expected a list of strings")
	}
	var out []string
	for _, n := range list.List {
		s, err := parseString(n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func parseString(n ast.Node) (string, error) {
	lit, ok := n.(*ast.LiteralType)
	if !ok || (lit.Token.Type != token.STRING && lit.Token.Type != token.HEREDOC) {
		return "", errAt(n.Pos(), "expected a string")
	}
	s, ok := lit.Token.Value().(string)
	if !ok {
		return "", errAt(n.Pos(), "expected a string")
	}
	if err := checkText(s); err != nil {
		return "", errAt(n.Pos(), "%v", err)
	}
	return s, nil
}

// checkText rejects strings the canonical formatter could not reproduce or
// that have no business in a policy: control characters, invalid UTF-8 and
// HCL interpolation markers.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("invalid utf-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errors.New("control character in string")
		}
	}
	if strings.Contains(s, "${") || strings.Contains(s, "%{") {
		return errors.New("interpolation sequence in string")
	}
	return nil
}

func parseTTL(val ast.Node) (time.Duration, error) {
	lit, ok := val.(*ast.LiteralType)
	if !ok {
		return 0, errAt(val.Pos(), "expected a duration")
	}
	var d time.Duration
	switch lit.Token.Type {
	case token.NUMBER:
		secs, err := strconv.ParseInt(lit.Token.Text, 10, 64)
		if err != nil || secs < 0 || secs > int64(100*365*24*time.Hour/time.Second) {
			return 0, errAt(val.Pos(), "duration out of range")
		}
		d = time.Duration(secs) * time.Second
	case token.STRING:
		s, err := parseString(val)
		if err != nil {
			return 0, err
		}
		if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
			if secs < 0 || secs > int64(100*365*24*time.Hour/time.Second) {
				return 0, errAt(val.Pos(), "duration out of range")
			}
			d = time.Duration(secs) * time.Second
		} else if d, err = time.ParseDuration(s); err != nil {
			return 0, errAt(val.Pos(), "malformed duration")
		}
	default:
		return 0, errAt(val.Pos(), "expected a duration")
	}
	if d < 0 {
		return 0, errAt(val.Pos(), "negative duration")
	}
	return d, nil
}

// syntaxError converts an HCL error to a ParseError without repeating the
// library's message, which may quote arbitrary input.
func syntaxError(err error) *ParseError {
	var pe *hclparser.PosError
	if errors.As(err, &pe) {
		return &ParseError{Line: pe.Pos.Line, Col: pe.Pos.Column, Msg: "syntax error"}
	}
	if msg := err.Error(); strings.Contains(msg, " was already set") {
		// The library reports duplicates as "... at LINE:COL was already set".
		pe := &ParseError{Msg: "duplicate key"}
		msg = msg[:strings.LastIndex(msg, " was already set")]
		if i := strings.LastIndex(msg, " at "); i >= 0 {
			if _, err := fmt.Sscanf(msg[i+4:], "%d:%d", &pe.Line, &pe.Col); err != nil {
				pe.Line, pe.Col = 0, 0
			}
		}
		return pe
	}
	return &ParseError{Msg: "syntax error"}
}

// tooDeep returns the line at which brackets outside strings and comments
// nest deeper than maxNesting, or 0.
func tooDeep(text string) int {
	depth, line := 0, 1
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '\n':
			line++
		case '"':
			for i++; i < len(text) && text[i] != '"' && text[i] != '\n'; i++ {
				if text[i] == '\\' {
					i++
				}
			}
			if i < len(text) && text[i] == '\n' {
				line++
			}
		case '#':
			for i < len(text) && text[i] != '\n' {
				i++
			}
			line++
		case '/':
			if i+1 < len(text) && text[i+1] == '/' {
				for i < len(text) && text[i] != '\n' {
					i++
				}
				line++
			} else if i+1 < len(text) && text[i+1] == '*' {
				end := strings.Index(text[i+2:], "*/")
				if end < 0 {
					return 0 // unterminated comment: the parser reports it
				}
				line += strings.Count(text[i:i+2+end], "\n")
				i += end + 3
			}
		case '{', '[':
			depth++
			if depth > maxNesting {
				return line
			}
		case '}', ']':
			depth--
		}
	}
	return 0
}
