package logical

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Path-help, as Vault serves it for GET /v1/PATH?help=1: the body is
// {"help": "...", "openapi": {...}} without the usual envelope, which is
// what the official client's Help and `vault path-help` decode.

// HelpResponse is the response to a help request: text for "help" and an
// OpenAPI document (may be nil) for "openapi".
func HelpResponse(text string, openapi map[string]any) (*Response, error) {
	if openapi == nil {
		openapi = openAPIDoc(map[string]any{})
	}
	raw, err := json.Marshal(map[string]any{"help": text, "openapi": openapi})
	if err != nil {
		return nil, fmt.Errorf("encode help: %w", err)
	}
	return &Response{Raw: raw, ContentType: "application/json", Status: http.StatusOK}, nil
}

// Help implements Helper: the matching route's synopsis, fields and
// description, or for the mount itself (an empty path) the backend's
// overview and the list of its routes.
func (r *Router) Help(_ context.Context, req *Request) (*Response, error) {
	if strings.TrimSuffix(req.Path, "/") == "" {
		return HelpResponse(r.overviewText(), r.OpenAPI(req.MountPoint))
	}
	cr, _ := r.route(req.Path)
	if cr == nil {
		return nil, ErrUnsupportedPath
	}
	paths := map[string]any{}
	cr.addOpenAPI(paths, req.MountPoint)
	return HelpResponse(cr.helpText(req.Path), openAPIDoc(paths))
}

// OpenAPI returns an OpenAPI 3 document of every route, with paths under
// mountPoint ("secret/").
func (r *Router) OpenAPI(mountPoint string) map[string]any {
	paths := map[string]any{}
	for _, cr := range r.routes {
		cr.addOpenAPI(paths, mountPoint)
	}
	return openAPIDoc(paths)
}

func (r *Router) overviewText() string {
	var b strings.Builder
	b.WriteString("## DESCRIPTION\n\n")
	b.WriteString(strings.TrimSpace(r.overview))
	b.WriteString("\n\n## PATHS\n\nThe following paths are supported by this backend. To view help for\n" +
		"any of the paths below, use the help command with any route matching\n" +
		"the path pattern. Note that depending on the policy of your auth token,\n" +
		"you may or may not be able to access certain paths.\n\n")
	for _, cr := range r.routes {
		fmt.Fprintf(&b, "    %s\n        %s\n\n", cr.displayPattern(), cr.Synopsis)
	}
	return b.String()
}

// displayPattern is the pattern as help shows it ("" as the mount root).
func (cr *compiledRoute) displayPattern() string {
	if cr.Pattern == "" {
		return "/"
	}
	return cr.Pattern
}

// fields returns the route's documented fields with an entry for every
// capture of its pattern, captures first.
func (cr *compiledRoute) fields() Fields {
	var out Fields
	for _, s := range cr.segs {
		if s.kind == segLiteral {
			continue
		}
		f := Field{Name: s.text, Type: TypeString, Description: "Taken from the request path.", InPath: true}
		if i := slices.IndexFunc(cr.Fields, func(d Field) bool { return d.InPath && d.Name == s.text }); i >= 0 {
			f = cr.Fields[i]
		}
		out = append(out, f)
	}
	for _, f := range cr.Fields {
		if !f.InPath {
			out = append(out, f)
		}
	}
	for i := range out {
		if out[i].Type == "" {
			out[i].Type = TypeString
		}
	}
	return out
}

func (cr *compiledRoute) helpText(path string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Request:        %s\nMatching Route: %s\n\n", path, cr.displayPattern())
	b.WriteString(strings.TrimSpace(cr.Synopsis))
	b.WriteString("\n\n")
	if fs := cr.fields(); len(fs) > 0 {
		b.WriteString("## PARAMETERS\n")
		for _, f := range fs {
			fmt.Fprintf(&b, "\n    %s (%s)\n", f.Name, f.Type)
			desc := strings.TrimSpace(f.Description)
			if f.Default != nil {
				desc = strings.TrimSpace(fmt.Sprintf("%s Default: %v.", desc, f.Default))
			}
			if desc != "" {
				fmt.Fprintf(&b, "\n%s\n", indent(desc, 8))
			}
		}
		b.WriteString("\n")
	}
	desc := strings.TrimSpace(cr.Description)
	if desc == "" {
		desc = strings.TrimSpace(cr.Synopsis)
	}
	b.WriteString("## DESCRIPTION\n\n")
	b.WriteString(desc)
	b.WriteString("\n")
	return b.String()
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

func openAPIDoc(paths map[string]any) map[string]any {
	return map[string]any{
		"openapi": "3.0.2",
		"info": map[string]any{
			"title":       "Keyward API",
			"description": "HTTP API that gives you full access to Keyward. All API routes are prefixed with `/v1/`.",
			"version":     "1",
		},
		"paths":      paths,
		"components": map[string]any{"schemas": map[string]any{}},
	}
}

// addOpenAPI adds the route's path item to paths.
func (cr *compiledRoute) addOpenAPI(paths map[string]any, mountPoint string) {
	var segs []string
	for _, s := range cr.segs {
		if s.kind == segLiteral {
			segs = append(segs, s.text)
		} else {
			segs = append(segs, "{"+s.text+"}")
		}
	}
	path := "/" + mountPoint + strings.Join(segs, "/")
	item := map[string]any{"description": cr.Synopsis}
	var params []any
	props := map[string]any{}
	for _, f := range cr.fields() {
		if f.InPath {
			params = append(params, map[string]any{
				"name": f.Name, "description": f.Description, "in": "path", "required": true,
				"schema": map[string]any{"type": "string"},
			})
			continue
		}
		props[f.Name] = f.schema()
	}
	if len(params) > 0 {
		item["parameters"] = params
	}
	op := func() map[string]any {
		return map[string]any{"summary": cr.Synopsis, "responses": map[string]any{"200": map[string]any{"description": "OK"}}}
	}
	body := func(o map[string]any) map[string]any {
		if len(props) > 0 {
			o["requestBody"] = map[string]any{"content": map[string]any{"application/json": map[string]any{
				"schema": map[string]any{"type": "object", "properties": props},
			}}}
		}
		return o
	}
	if cr.Ops[ReadOperation] != nil || cr.Ops[ListOperation] != nil {
		get := op()
		if cr.Ops[ListOperation] != nil {
			get["parameters"] = []any{map[string]any{
				"name": "list", "description": "Return a list if `true`", "in": "query",
				"required": cr.Ops[ReadOperation] == nil, "schema": map[string]any{"type": "string", "enum": []any{"true"}},
			}}
		}
		item["get"] = get
	}
	if cr.Ops[UpdateOperation] != nil || cr.Ops[CreateOperation] != nil {
		item["post"] = body(op())
	}
	if cr.Ops[PatchOperation] != nil {
		item["patch"] = body(op())
	}
	if cr.Ops[DeleteOperation] != nil {
		item["delete"] = op()
	}
	if cr.Sudo {
		item["x-vault-sudo"] = true
	}
	if cr.Unauthenticated {
		item["x-vault-unauthenticated"] = true
	}
	paths[path] = item
}

func (f Field) schema() map[string]any {
	s := map[string]any{"description": f.Description}
	switch f.Type {
	case TypeInt:
		s["type"] = "integer"
	case TypeBool:
		s["type"] = "boolean"
	case TypeDuration:
		s["type"] = "string"
		s["format"] = "duration"
	case TypeSlice:
		s["type"] = "array"
		s["items"] = map[string]any{"type": "string"}
	case TypeMap, TypeKVPairs:
		s["type"] = "object"
	default:
		s["type"] = "string"
	}
	if f.Default != nil {
		s["default"] = f.Default
	}
	return s
}
