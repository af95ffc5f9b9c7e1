package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/keyward/keyward/internal/filecrypt"
	"github.com/keyward/keyward/internal/inject"
	"github.com/keyward/keyward/internal/mask"
	"github.com/keyward/keyward/internal/secretref"
	"github.com/keyward/keyward/internal/sensitive"
)

// addEnvFiles decrypts the files of keyward run --env-file in memory and
// adds their values to res as environment variables: a dotenv variable by
// its own name, any other value by its path joined with '_' and
// upper-cased (database.password: DATABASE_PASSWORD). Encrypted values are
// masked like every other secret; values the file keeps in clear are not.
// Names that would change how the job runs (inject.Reserved,
// inject.ToolSetting) or that are already set are refused: the file's
// writer chooses them. Transit key groups are used with token.
func addEnvFiles(ctx context.Context, e *env, token string, files []string, res *secretref.Result) error {
	if len(files) == 0 {
		return nil
	}
	ff := fileFlags{token: token}
	o, err := ff.options(e)
	if err != nil {
		return err
	}
	taken := map[string]bool{}
	for _, v := range res.Spec.Env {
		taken[v.Name] = true
	}
	var errs []error
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("env-file: %w", err)
		}
		vals, err := filecrypt.Values(ctx, file, data, o)
		if err != nil {
			return fmt.Errorf("env-file: %w", err)
		}
		for _, v := range vals {
			name := envFileName(o.Format, file, v.Path)
			switch {
			case taken[name]:
				errs = append(errs, fmt.Errorf("env-file %s: %s is set twice", file, name))
				continue
			case inject.Reserved(name), inject.ToolSetting(name):
				errs = append(errs, fmt.Errorf("env-file %s: %s would set %s, which changes how the job's programs run", file, v.Path.Display(), name))
				continue
			}
			taken[name] = true
			res.Spec.Env = append(res.Spec.Env, inject.EnvVar{Name: name, Value: sensitive.NewString(v.Value)})
			if v.Encrypted {
				res.Secrets = append(res.Secrets, mask.Secret{Name: name, Value: v.Value})
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("refusing to start: %w", errors.Join(errs...))
	}
	return nil
}

func envFileName(f filecrypt.Format, file string, p filecrypt.Path) string {
	if f == "" {
		f = filecrypt.FormatFor(file)
	}
	parts := make([]string, 0, len(p))
	for _, s := range p {
		parts = append(parts, fmt.Sprint(s))
	}
	if f == filecrypt.Dotenv && len(parts) == 1 {
		return parts[0]
	}
	return secretref.EnvName(strings.Join(parts, "_"))
}

// ageKeyVar holds an age identity itself (see ageIdentities): a long-lived
// key the job's command must not inherit.
const ageKeyVar = "KEYWARD_AGE_KEY"

// withoutAgeKey removes $KEYWARD_AGE_KEY from a command's base environment.
func withoutAgeKey(base []string) []string {
	out := base[:0:0]
	for _, kv := range base {
		if !strings.HasPrefix(kv, ageKeyVar+"=") {
			out = append(out, kv)
		}
	}
	return out
}
