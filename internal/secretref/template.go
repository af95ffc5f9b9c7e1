package secretref

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"text/template"

	"github.com/keyward/keyward/internal/mask"
	"github.com/keyward/keyward/internal/sensitive"
)

// Render executes src, a Go text/template, with one function: `secret
// "PATH#FIELD"` returns the value of a reference, fetched through f. It
// returns the output and the values used, named by their reference. A
// missing map key is an error. Errors name the template and the reference;
// they are masked with known and every value fetched so far before they are
// returned, so a template that makes the engine quote a value cannot leak it
// through the error.
func Render(ctx context.Context, f *Fetcher, name string, src []byte, known []mask.Secret) (sensitive.String, []mask.Secret, error) {
	var used []mask.Secret
	seen := map[string]bool{}
	funcs := template.FuncMap{"secret": func(ref string) (string, error) {
		// A reference computed at run time may hold a value: its errors
		// must not quote it.
		literal := bytes.Contains(src, []byte(strconv.Quote(ref))) || bytes.Contains(src, []byte("`"+ref+"`"))
		r, err := ParseRef(ref)
		if err != nil {
			if !literal {
				return "", errors.New("invalid reference computed by the template")
			}
			return "", err
		}
		v, err := f.Value(ctx, r)
		if err != nil {
			if !literal {
				return "", errors.New("cannot read a reference computed by the template")
			}
			return "", err
		}
		if !seen[r.String()] {
			seen[r.String()] = true
			used = append(used, mask.Secret{Name: r.String(), Value: v.Reveal()})
		}
		return v.Reveal(), nil
	}}
	base := filepath.Base(name)
	t, err := template.New(base).Option("missingkey=error").Funcs(funcs).Parse(string(src))
	if err != nil {
		return sensitive.String{}, nil, fmt.Errorf("template %s: %w", name, err)
	}
	var out bytes.Buffer
	if err := t.Execute(&out, nil); err != nil {
		all := append(append(append([]mask.Secret(nil), known...), used...), f.fetched()...)
		return sensitive.String{}, nil, fmt.Errorf("template %s: %s", name, maskText(err.Error(), all))
	}
	return sensitive.NewString(out.String()), used, nil
}

// maskText returns s with every form of secrets masked.
func maskText(s string, secrets []mask.Secret) string {
	var b bytes.Buffer
	w := mask.NewWriter(&b, secrets, mask.Options{FlushDelay: -1, MinLen: 1})
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// Refs lists the references a template uses, without fetching anything:
// it executes src with a `secret` function that records its argument and
// returns an empty string. Branches not taken are not seen.
func Refs(name string, src []byte) ([]string, error) {
	var refs []string
	funcs := template.FuncMap{"secret": func(ref string) (string, error) {
		if _, err := ParseRef(ref); err != nil {
			return "", err
		}
		refs = append(refs, ref)
		return "", nil
	}}
	t, err := template.New(filepath.Base(name)).Funcs(funcs).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	if err := t.Execute(&bytes.Buffer{}, nil); err != nil {
		return refs, fmt.Errorf("template %s: %w", name, err)
	}
	return refs, nil
}
