package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newKVCmd) }

func newKVCmd(e *env) *cobra.Command {
	cmd := groupCmd("kv", "Read and write secrets in key/value mounts",
		`KV commands read and write secrets in key/value mounts, of version 1 or 2.
The mount and its version are detected from the path: "secret/app/db" is
"app/db" in the mount at secret/ (or give -mount=secret and "app/db"). With
version 2 the commands add data/, metadata/ and the like to the API paths
for you, and keep versions: get -version, delete, undelete, destroy and
rollback work on them.

Secret values never need to be on the command line: KEY=- reads a value
from stdin and KEY=@FILE from a file.`,
		`  keyward kv put secret/ci/db password=- < pass.txt
  keyward kv get -field=password secret/ci/db
  keyward kv list secret/ci`)
	cmd.AddCommand(newKVPutCmd(e), newKVGetCmd(e), newKVPatchCmd(e), newKVListCmd(e),
		newKVDeleteCmd(e), newKVUndeleteCmd(e), newKVDestroyCmd(e), newKVRollbackCmd(e),
		newKVMetadataCmd(e), newKVEnableVersioningCmd(e))
	return cmd
}

// kvFlags are the flags every kv subcommand takes.
type kvFlags struct {
	conn  connFlags
	out   outFlags
	mount string
}

func (f *kvFlags) add(cmd *cobra.Command, withField bool) {
	f.conn.add(cmd)
	f.out.add(cmd, withField)
	cmd.Flags().StringVar(&f.mount, "mount", "", "mount path of the KV engine; the PATH argument is then relative to it")
}

// kvTarget is a path resolved against its KV mount.
type kvTarget struct {
	mount string // with a trailing slash: "secret/"
	rel   string // below the mount: "app/db"
	v2    bool
}

// api returns the API path: MOUNT/KIND/REL for version 2, MOUNT/REL for 1.
func (t *kvTarget) api(kind string) string {
	if !t.v2 {
		return t.mount + t.rel
	}
	return t.mount + kind + "/" + t.rel
}

func (t *kvTarget) needV2(what string) error {
	if !t.v2 {
		return fmt.Errorf("%s needs a KV version 2 mount; %s is version 1", what, t.mount)
	}
	return nil
}

// start resolves the flags and the path and returns a client.
// startV2 is start for commands that exist only on KV version 2 mounts.
func (f *kvFlags) startV2(ctx context.Context, e *env, p, what string) (*api.Client, *kvTarget, error) {
	c, t, err := f.start(ctx, e, p)
	if err != nil {
		return nil, nil, err
	}
	if err := t.needV2(what); err != nil {
		return nil, nil, err
	}
	return c, t, nil
}

func (f *kvFlags) start(ctx context.Context, e *env, p string) (*api.Client, *kvTarget, error) {
	c, err := f.conn.clientFor(e, &f.out)
	if err != nil {
		return nil, nil, err
	}
	t, err := resolveKV(ctx, c, f.mount, p)
	if err != nil {
		return nil, nil, explain(err, c)
	}
	return c, t, nil
}

func resolveKV(ctx context.Context, c *api.Client, mount, p string) (*kvTarget, error) {
	p = strings.Trim(p, "/")
	full := p
	if mount != "" {
		full = strings.Trim(mount, "/") + "/" + p
	}
	if full == "" {
		return nil, usagef("a PATH is required")
	}
	m, err := c.MountFor(ctx, full)
	if err != nil {
		return nil, fmt.Errorf("find the mount of %s: %w", full, err)
	}
	if m.Type != "kv" {
		return nil, fmt.Errorf("%s is not in a KV mount (%s is a %q mount)", full, m.Path, m.Type)
	}
	mp := strings.TrimSuffix(m.Path, "/") + "/"
	rel := strings.Trim(strings.TrimPrefix(full+"/", mp), "/")
	return &kvTarget{mount: mp, rel: rel, v2: m.Options["version"] == "2"}, nil
}

// kvDataArgs parses the KEY=VALUE arguments of put and patch.
func kvDataArgs(cmd *cobra.Command, args []string) (map[string]any, error) {
	if len(args) == 0 {
		return nil, usagef("give at least one KEY=VALUE (KEY=@FILE, KEY=-)")
	}
	return parseKVArgs(args, &stdinSource{r: cmd.InOrStdin()})
}

// printKVWrite prints the metadata of a version 2 write as Vault does.
func printKVWrite(e *env, w io.Writer, o *outFlags, t *kvTarget, s *api.Secret) error {
	if s == nil {
		return success(w, "Data written to: %s", t.api("data"))
	}
	printWarnings(e, s)
	if o.field != "" {
		return printField(w, dataRows(s.Data), o.field)
	}
	if ok, err := o.structured(w, s); ok {
		return err
	}
	meta := renderTable(metadataRows(s.Data))
	_, err := fmt.Fprintf(w, "%s\n%s\n\n%s\n%s", header("Secret Path", meta), t.api("data"), header("Metadata", meta), meta)
	return err
}

// metadataRows are a version's metadata rows; an empty deletion time
// reads "n/a" as in Vault.
func metadataRows(m map[string]any) []row {
	rows := dataRows(m)
	for i := range rows {
		if s, ok := rows[i].val.(string); ok && s == "" && strings.HasSuffix(rows[i].key, "_time") {
			rows[i].val = "n/a"
		}
	}
	return rows
}

func casOptions(cmd *cobra.Command, cas int) map[string]any {
	if !cmd.Flags().Changed("cas") {
		return nil
	}
	return map[string]any{"cas": cas}
}

func newKVPutCmd(e *env) *cobra.Command {
	var (
		f   kvFlags
		cas int
	)
	cmd := &cobra.Command{
		Use:   "put PATH KEY=VALUE...",
		Short: "Write a new version of a secret",
		Long: `Write the fields given as the whole new content of the secret at PATH:
fields not given are not kept (use kv patch for that). With version 2,
-cas=N writes only if the current version is N (0: only if there is none).

` + kvArgsHelp,
		Example: `  keyward kv put secret/ci/db user=app password=- < pass.txt
  keyward kv put -cas=0 secret/ci/tls cert=@tls.crt key=@tls.key
  keyward kv put -mount=secret ci/db password=@pass.txt`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := kvDataArgs(cmd, args[1:])
			if err != nil {
				return err
			}
			c, t, err := f.start(cmd.Context(), e, args[0])
			if err != nil {
				return err
			}
			body := data
			if t.v2 {
				body = map[string]any{"data": data}
				if opts := casOptions(cmd, cas); opts != nil {
					body["options"] = opts
				}
			} else if cmd.Flags().Changed("cas") {
				return usagef("-cas needs a KV version 2 mount")
			}
			s, err := c.Write(cmd.Context(), t.api("data"), body)
			if err != nil {
				return explain(err, c)
			}
			return printKVWrite(e, cmd.OutOrStdout(), &f.out, t, s)
		},
	}
	f.add(cmd, true)
	cmd.Flags().IntVar(&cas, "cas", -1, "write only if the current version is this (0: only create)")
	return cmd
}

func newKVPatchCmd(e *env) *cobra.Command {
	var (
		f   kvFlags
		cas int
	)
	cmd := &cobra.Command{
		Use:   "patch PATH KEY=VALUE...",
		Short: "Change some fields of a secret, keeping the others",
		Long: `Write a new version of the secret at PATH with the given fields changed
and the others kept (a JSON merge patch; version 2 mounts only). -cas=N
patches only if the current version is N.

` + kvArgsHelp,
		Example: `  keyward kv patch secret/ci/db password=- < new-pass.txt`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := kvDataArgs(cmd, args[1:])
			if err != nil {
				return err
			}
			c, t, err := f.startV2(cmd.Context(), e, args[0], "kv patch")
			if err != nil {
				return err
			}
			body := map[string]any{"data": data}
			if opts := casOptions(cmd, cas); opts != nil {
				body["options"] = opts
			}
			s, err := c.Patch(cmd.Context(), t.api("data"), body)
			if err != nil {
				return explain(err, c)
			}
			return printKVWrite(e, cmd.OutOrStdout(), &f.out, t, s)
		},
	}
	f.add(cmd, true)
	cmd.Flags().IntVar(&cas, "cas", -1, "patch only if the current version is this")
	return cmd
}

func newKVGetCmd(e *env) *cobra.Command {
	var (
		f       kvFlags
		version int
	)
	cmd := &cobra.Command{
		Use:   "get PATH",
		Short: "Read a secret",
		Long: `Read the secret at PATH: its newest version, or with -version=N that
version (version 2 mounts). -field=NAME prints only that field's value,
which is what scripts want.

Exit codes, as Vault's: 0 found, 2 nothing (or only a deleted or destroyed
version) found, 1 on errors such as a denied request.`,
		Example: `  keyward kv get secret/ci/db
  keyward kv get -field=password secret/ci/db
  keyward kv get -version=1 -format=json secret/ci/db`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := f.start(cmd.Context(), e, args[0])
			if err != nil {
				return err
			}
			var q url.Values
			if cmd.Flags().Changed("version") {
				if err := t.needV2("-version"); err != nil {
					return err
				}
				q = url.Values{"version": {strconv.Itoa(version)}}
			}
			s, err := c.Read(cmd.Context(), t.api("data"), q)
			if err != nil {
				return explain(err, c)
			}
			if s == nil {
				return notFound(t.api("data"))
			}
			w := cmd.OutOrStdout()
			if !t.v2 {
				return printSecret(e, w, &f.out, s)
			}
			printWarnings(e, s)
			data, _ := s.Data["data"].(map[string]any)
			meta, _ := s.Data["metadata"].(map[string]any)
			if f.out.field != "" {
				if data == nil {
					return notFound(t.api("data"))
				}
				return printField(w, dataRows(data), f.out.field)
			}
			if ok, err := f.out.structured(w, s); ok {
				return err
			}
			metaTable := renderTable(metadataRows(meta))
			fmt.Fprintf(w, "%s\n%s\n\n%s\n%s", header("Secret Path", metaTable), t.api("data"), header("Metadata", metaTable), metaTable)
			if data == nil {
				return &exitError{code: ExitUsage, err: fmt.Errorf("version %s of %s has no data: it is deleted or destroyed", formatValue(meta["version"]), t.api("data"))}
			}
			dataTable := renderTable(dataRows(data))
			_, err = fmt.Fprintf(w, "\n%s\n%s", header("Data", dataTable), dataTable)
			return err
		},
	}
	f.add(cmd, true)
	cmd.Flags().IntVar(&version, "version", 0, "read this version (version 2 mounts)")
	return cmd
}

func newKVListCmd(e *env) *cobra.Command {
	var f kvFlags
	cmd := &cobra.Command{
		Use:   "list PATH",
		Short: "List the keys under a path",
		Long: `List the secret names and folders (ending in "/") directly under PATH.
Exits 2 when there is nothing under PATH.`,
		Example: `  keyward kv list secret/
  keyward kv list secret/ci`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := f.start(cmd.Context(), e, args[0])
			if err != nil {
				return err
			}
			p := t.api("metadata")
			s, err := c.List(cmd.Context(), p)
			if err != nil {
				return explain(err, c)
			}
			keys := listKeys(s)
			if len(keys) == 0 {
				return notFound(strings.TrimSuffix(p, "/") + "/")
			}
			return printList(cmd.OutOrStdout(), &f.out, keys)
		},
	}
	f.add(cmd, false)
	return cmd
}
