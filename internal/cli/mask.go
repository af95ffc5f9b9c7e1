package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/mask"
	"github.com/keyward/keyward/internal/secretref"
)

func init() { register(newMaskCmd) }

func newMaskCmd(e *env) *cobra.Command {
	var (
		conn          connFlags
		from          []string
		valuesFiles   []string
		style         string
		allowUnmasked []string
	)
	cmd := &cobra.Command{
		Use:   "mask [flags] < INPUT",
		Short: "Copy stdin to stdout with secrets masked",
		Long: `Mask copies its standard input to its standard output, replacing every
value of the secrets at the --from paths (each field; names as --env-from
gives them) and every line of the --values-file files, in all the forms
keyward run masks (base64, hex, URL, JSON and shell escapes, PEM lines).
Output is never held back for more than 50 ms. Values shorter than 6 bytes
are refused unless --allow-unmasked NAME is given (names of --values-file
lines are FILE:LINE).`,
		Example: `  ./deploy.sh 2>&1 | keyward mask --from secret/prod/app
  some-cmd | keyward mask --values-file /dev/shm/values.txt`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := parseMaskStyle(style)
			if err != nil {
				return err
			}
			if len(from)+len(valuesFiles) == 0 {
				return usagef("nothing to mask: give --from PATH or --values-file FILE")
			}
			var secrets []mask.Secret
			for _, vf := range valuesFiles {
				s, err := readValuesFile(vf)
				if err != nil {
					return err
				}
				secrets = append(secrets, s...)
			}
			if len(from) > 0 {
				var plan secretref.Plan
				for _, p := range from {
					ef, err := secretref.ParseEnvFrom(p, "")
					if err != nil {
						return usagef("%v", err)
					}
					plan.EnvFrom = append(plan.EnvFrom, ef)
				}
				c, err := conn.client(e)
				if err != nil {
					return err
				}
				res, err := secretref.Resolve(cmd.Context(), secretref.NewFetcher(c), plan)
				if err != nil {
					return explain(err, c)
				}
				secrets = append(secrets, res.Secrets...)
			}
			secrets = unmaskedRemoved(secrets, allowUnmasked)
			if err := mask.Check(secrets); err != nil {
				var short *mask.ErrTooShort
				if errors.As(err, &short) {
					return withHint(fmt.Errorf("refusing to mask: %w", err),
						fmt.Sprintf("pass --allow-unmasked %s to leave it unmasked", short.Names[0]))
				}
				return err
			}
			w := mask.NewWriter(cmd.OutOrStdout(), secrets, mask.Options{Style: st})
			_, cerr := io.Copy(w, e.stdin)
			if err := w.Close(); cerr == nil {
				cerr = err
			}
			if cerr != nil {
				return fmt.Errorf("mask: %w", cerr)
			}
			return nil
		},
	}
	conn.add(cmd)
	fl := cmd.Flags()
	fl.StringArrayVar(&from, "from", nil, "mask every field of the secret at `PATH` (repeatable)")
	fl.StringArrayVar(&valuesFiles, "values-file", nil, "mask each non-empty line of `FILE` (repeatable)")
	fl.StringVar(&style, "mask-style", "stars", "what replaces a secret: stars (***) or name ([NAME])")
	fl.StringArrayVar(&allowUnmasked, "allow-unmasked", nil, "leave the short value `NAME` unmasked instead of refusing")
	return cmd
}

// readValuesFile returns each non-empty line of path (without its line
// ending) as a secret named PATH:LINE.
func readValuesFile(path string) ([]mask.Secret, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("values file: %w", err)
	}
	defer f.Close()
	var out []mask.Secret
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		v := strings.TrimSuffix(sc.Text(), "\r")
		if v != "" {
			out = append(out, mask.Secret{Name: fmt.Sprintf("%s:%d", path, n), Value: v})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("values file %s: %w", path, err)
	}
	return out, nil
}
