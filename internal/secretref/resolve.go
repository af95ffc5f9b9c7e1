package secretref

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/keyward/keyward/internal/inject"
	"github.com/keyward/keyward/internal/mask"
	"github.com/keyward/keyward/internal/sensitive"
)

// Result is what a Plan resolved to: the child's secrets and every value
// injected, named, for masking.
type Result struct {
	Spec inject.Spec
	// Secrets holds every value injected, named after the variable or file
	// that carries it (a template's values are named by their reference).
	Secrets []mask.Secret
}

// Resolve fetches everything p asks for and renders its templates. It
// stops at the first failure, with an error that names the reference and
// never a value. Explicit Env entries override variables of the same name
// from EnvFrom.
func Resolve(ctx context.Context, f *Fetcher, p Plan) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	res := &Result{}
	explicit := map[string]bool{}
	for _, e := range p.Env {
		explicit[e.Name] = true
	}
	fromEnv := map[string]string{} // variable -> reference that set it
	for _, ef := range p.EnvFrom {
		data, err := f.Data(ctx, ef.Ref)
		if err != nil {
			return nil, fmt.Errorf("env-from %w", err)
		}
		for _, k := range fieldNames(data) {
			name := ef.Prefix + EnvName(k)
			if explicit[name] {
				continue
			}
			if prev, ok := fromEnv[name]; ok {
				return nil, fmt.Errorf("variable %s comes from both %s and %s; use --env-prefix", name, prev, ef.Ref)
			}
			fromEnv[name] = ef.Ref.String()
			s, err := stringOf(data[k])
			if err != nil {
				return nil, fmt.Errorf("env-from %s field %q: %w", ef.Ref, k, err)
			}
			res.add(name, sensitive.NewString(s))
			res.Spec.Env = append(res.Spec.Env, inject.EnvVar{Name: name, Value: sensitive.NewString(s)})
		}
	}
	for _, e := range p.Env {
		v, err := f.Value(ctx, e.Ref)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		res.add(e.Name, v)
		res.Spec.Env = append(res.Spec.Env, inject.EnvVar{Name: e.Name, Value: v})
	}
	for _, fr := range p.Files {
		v, err := f.Value(ctx, fr.Ref)
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", fr.Name, err)
		}
		res.add(fr.Name, v)
		res.Spec.Files = append(res.Spec.Files, inject.File{Name: fr.Name, Value: v, Mode: fr.Mode})
	}
	for _, t := range p.Templates {
		src, err := os.ReadFile(t.Source)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", t.Source, err)
		}
		out, used, err := Render(ctx, f, t.Source, src, res.values())
		if err != nil {
			return nil, err
		}
		for _, u := range used {
			res.add(u.Name, sensitive.NewString(u.Value))
		}
		res.Spec.Files = append(res.Spec.Files, inject.File{Name: t.Dest, Value: out, Mode: t.Mode})
	}
	sort.SliceStable(res.Spec.Env, func(i, j int) bool { return res.Spec.Env[i].Name < res.Spec.Env[j].Name })
	if err := res.Spec.Validate(); err != nil {
		return nil, errors.Unwrap(err)
	}
	return res, nil
}

func (r *Result) add(name string, v sensitive.String) {
	r.Secrets = append(r.Secrets, mask.Secret{Name: name, Value: v.Reveal()})
}

func (r *Result) values() []mask.Secret { return r.Secrets }
