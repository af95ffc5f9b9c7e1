package policy

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

// Control groups (Vault's shape): a path block may require approvals
// before a request on it is performed.
//
//	path "database/creds/prod" {
//	  capabilities = ["read"]
//	  control_group {
//	    max_ttl = "4h"
//	    factor "ops" {
//	      identity {
//	        group_names = ["ops"]
//	        approvals   = 2
//	      }
//	    }
//	  }
//	}
//
// The policy package only parses, formats and merges the stanza and
// reports it on the Decision; the core holds the request, counts the
// approvals and performs it.

// Limits of the control_group stanza.
const (
	// DefaultControlGroupTTL is a control group's max_ttl when unset.
	DefaultControlGroupTTL = 24 * time.Hour
	maxControlGroupFactors = 16
	maxFactorGroups        = 64
	maxFactorApprovals     = 100
)

// ControlGroup is a parsed control_group stanza: every factor must be
// satisfied before the request is performed.
type ControlGroup struct {
	// MaxTTL is how long the request waits for its approvals (and the
	// wrapping token lives); zero means DefaultControlGroupTTL.
	MaxTTL  time.Duration
	Factors []ControlGroupFactor
}

// ControlGroupFactor is one factor: Approvals distinct entities that are
// members of any of GroupNames (identity groups, internal or external).
type ControlGroupFactor struct {
	Name       string
	GroupNames []string
	Approvals  int
}

// TTL is the control group's effective max TTL.
func (cg *ControlGroup) TTL() time.Duration {
	if cg == nil || cg.MaxTTL <= 0 {
		return DefaultControlGroupTTL
	}
	return cg.MaxTTL
}

func (cg *ControlGroup) clone() *ControlGroup {
	if cg == nil {
		return nil
	}
	out := &ControlGroup{MaxTTL: cg.MaxTTL, Factors: make([]ControlGroupFactor, len(cg.Factors))}
	for i, f := range cg.Factors {
		out.Factors[i] = ControlGroupFactor{Name: f.Name, GroupNames: slices.Clone(f.GroupNames), Approvals: f.Approvals}
	}
	return out
}

// mergeControlGroup merges two control groups on the same pattern so the
// result is at least as strict as either: every factor of both is
// required (a factor of the same name keeps the larger approval count and
// the groups of both), and the longer max_ttl wins (the request may wait
// the longer of the two).
func mergeControlGroup(dst, src *ControlGroup) *ControlGroup {
	if src == nil {
		return dst
	}
	if dst == nil {
		return src.clone()
	}
	if src.TTL() > dst.TTL() {
		dst.MaxTTL = src.MaxTTL
	}
	for _, f := range src.Factors {
		i := slices.IndexFunc(dst.Factors, func(d ControlGroupFactor) bool { return d.Name == f.Name })
		if i < 0 {
			dst.Factors = append(dst.Factors, ControlGroupFactor{Name: f.Name, GroupNames: slices.Clone(f.GroupNames), Approvals: f.Approvals})
			continue
		}
		d := &dst.Factors[i]
		d.Approvals = max(d.Approvals, f.Approvals)
		for _, g := range f.GroupNames {
			if !slices.Contains(d.GroupNames, g) {
				d.GroupNames = append(d.GroupNames, g)
			}
		}
	}
	return dst
}

// parseControlGroup parses the body of a control_group stanza.
func parseControlGroup(val ast.Node) (*ControlGroup, error) {
	obj, ok := val.(*ast.ObjectType)
	if !ok {
		return nil, errAt(val.Pos(), "control_group must be a block")
	}
	cg := &ControlGroup{}
	haveTTL := false
	for _, item := range obj.List.Items {
		key, v := splitItem(item)
		switch key {
		case "max_ttl":
			if haveTTL {
				return nil, errAt(item.Pos(), "control_group: duplicate key %s", quoteShort(key))
			}
			haveTTL = true
			d, err := parseTTL(v)
			if err != nil {
				return nil, err
			}
			if d > 0 && d < time.Second {
				return nil, errAt(item.Pos(), "control_group: max_ttl must be at least 1s")
			}
			cg.MaxTTL = d
		case "factor":
			fobj, ok := v.(*ast.ObjectType)
			if !ok {
				return nil, errAt(item.Pos(), "control_group: factor must be a named block (factor \"NAME\" { ... })")
			}
			for _, fi := range fobj.List.Items {
				name, body := splitItem(fi)
				f, err := parseFactor(fi.Pos(), name, body)
				if err != nil {
					return nil, err
				}
				if slices.ContainsFunc(cg.Factors, func(o ControlGroupFactor) bool { return o.Name == f.Name }) {
					return nil, errAt(fi.Pos(), "control_group: duplicate factor %s", quoteShort(name))
				}
				if len(cg.Factors) >= maxControlGroupFactors {
					return nil, errAt(fi.Pos(), "control_group: more than %d factors", maxControlGroupFactors)
				}
				cg.Factors = append(cg.Factors, f)
			}
		default:
			return nil, errAt(item.Pos(), "unknown key %s in control_group", quoteShort(key))
		}
	}
	if len(cg.Factors) == 0 {
		return nil, errAt(val.Pos(), "control_group needs at least one factor")
	}
	return cg, nil
}

func parseFactor(pos token.Pos, name string, body ast.Node) (ControlGroupFactor, error) {
	f := ControlGroupFactor{Name: name}
	if err := checkText(name); err != nil || name == "" || len(name) > 128 {
		return f, errAt(pos, "control_group: factor name must be 1 to 128 printable characters")
	}
	obj, ok := body.(*ast.ObjectType)
	if !ok {
		return f, errAt(pos, "control_group: factor %s must be a block", quoteShort(name))
	}
	haveIdentity := false
	for _, item := range obj.List.Items {
		key, v := splitItem(item)
		if key != "identity" {
			return f, errAt(item.Pos(), "unknown key %s in factor %s", quoteShort(key), quoteShort(name))
		}
		if haveIdentity {
			return f, errAt(item.Pos(), "factor %s: duplicate key %s", quoteShort(name), quoteShort(key))
		}
		haveIdentity = true
		iobj, ok := v.(*ast.ObjectType)
		if !ok {
			return f, errAt(item.Pos(), "factor %s: identity must be a block", quoteShort(name))
		}
		seen := map[string]bool{}
		for _, ii := range iobj.List.Items {
			k, iv := splitItem(ii)
			if seen[k] {
				return f, errAt(ii.Pos(), "factor %s: duplicate key %s", quoteShort(name), quoteShort(k))
			}
			seen[k] = true
			switch k {
			case "group_names":
				names, err := parseStringList(iv)
				if err != nil {
					return f, err
				}
				for _, g := range names {
					if g == "" || len(g) > 128 {
						return f, errAt(ii.Pos(), "factor %s: group name must be 1 to 128 characters", quoteShort(name))
					}
					if !slices.Contains(f.GroupNames, g) {
						f.GroupNames = append(f.GroupNames, g)
					}
				}
				if len(f.GroupNames) > maxFactorGroups {
					return f, errAt(ii.Pos(), "factor %s: more than %d groups", quoteShort(name), maxFactorGroups)
				}
			case "approvals":
				n, err := parseCount(iv)
				if err != nil {
					return f, err
				}
				f.Approvals = n
			default:
				return f, errAt(ii.Pos(), "unknown key %s in factor %s identity", quoteShort(k), quoteShort(name))
			}
		}
	}
	if len(f.GroupNames) == 0 {
		return f, errAt(pos, "factor %s: identity needs group_names", quoteShort(name))
	}
	if f.Approvals == 0 {
		f.Approvals = 1 // Vault's default
	}
	return f, nil
}

// parseCount parses approvals: a number or a numeric string, 1 to
// maxFactorApprovals.
func parseCount(val ast.Node) (int, error) {
	lit, ok := val.(*ast.LiteralType)
	if !ok {
		return 0, errAt(val.Pos(), "approvals must be a number")
	}
	text := lit.Token.Text
	if lit.Token.Type == token.STRING {
		s, err := parseString(val)
		if err != nil {
			return 0, err
		}
		text = s
	} else if lit.Token.Type != token.NUMBER {
		return 0, errAt(val.Pos(), "approvals must be a number")
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < 1 || n > maxFactorApprovals {
		return 0, errAt(val.Pos(), "approvals must be a whole number from 1 to %d", maxFactorApprovals)
	}
	return n, nil
}

// formatControlGroup writes cg in canonical HCL inside a path block.
func formatControlGroup(b *strings.Builder, cg *ControlGroup) {
	if cg == nil {
		return
	}
	b.WriteString("  control_group {\n")
	if cg.MaxTTL > 0 {
		b.WriteString("    max_ttl = " + hclQuote(cg.MaxTTL.String()) + "\n")
	}
	for _, f := range cg.Factors {
		b.WriteString("    factor " + hclQuote(f.Name) + " {\n      identity {\n        group_names = ")
		writeList(b, f.GroupNames)
		b.WriteString("\n        approvals = " + strconv.Itoa(f.Approvals) + "\n      }\n    }\n")
	}
	b.WriteString("  }\n")
}

// ControlGroup returns the control group of the rule matching path (a
// copy the caller may keep), or nil when none applies or path is not
// canonical. A deny rule never has one.
func (a *ACL) ControlGroup(path string) *ControlGroup {
	if !a.HasControlGroups() || !isCleanPath(path) {
		return nil
	}
	if p := a.lookup(path, false); p != nil && p.cg != nil {
		return p.cg.clone()
	}
	return nil
}

// HasControlGroups reports whether any rule of the ACL has a control group.
func (a *ACL) HasControlGroups() bool { return a != nil && a.anyCG }
