package cli

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
)

func newKVDeleteCmd(e *env) *cobra.Command {
	var (
		f        kvFlags
		versions []int
	)
	cmd := &cobra.Command{
		Use:   "delete PATH",
		Short: "Delete the newest (or given) versions of a secret",
		Long: `Delete the secret at PATH. With version 2 the newest version is marked
deleted, or with -versions=1,2 those versions; deleted versions can be
restored with kv undelete until they are destroyed. With version 1 the
secret is gone.`,
		Example: `  keyward kv delete secret/ci/db
  keyward kv delete -versions=1,2 secret/ci/db`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := f.start(cmd.Context(), e, args[0])
			if err != nil {
				return err
			}
			var p string
			if len(versions) > 0 {
				if err := t.needV2("-versions"); err != nil {
					return err
				}
				p = t.api("delete")
				_, err = c.Write(cmd.Context(), p, map[string]any{"versions": versions})
			} else {
				p = t.api("data")
				_, err = c.Delete(cmd.Context(), p, nil)
			}
			if err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Data deleted (if it existed) at: %s", p)
		},
	}
	f.add(cmd, false)
	cmd.Flags().IntSliceVar(&versions, "versions", nil, "versions to delete, e.g. 1,2 (version 2 mounts)")
	return cmd
}

// newKVVersionsCmd builds undelete and destroy, which differ in the verb.
func newKVVersionsCmd(e *env, verb, short, long, example string) *cobra.Command {
	var (
		f        kvFlags
		versions []int
	)
	cmd := &cobra.Command{
		Use:     verb + " -versions=N[,N...] PATH",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(versions) == 0 {
				return usagef("-versions is required")
			}
			c, t, err := f.start(cmd.Context(), e, args[0])
			if err != nil {
				return err
			}
			if err := t.needV2("kv " + verb); err != nil {
				return err
			}
			p := t.api(verb)
			if _, err := c.Write(cmd.Context(), p, map[string]any{"versions": versions}); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Data written to: %s", p)
		},
	}
	f.add(cmd, false)
	cmd.Flags().IntSliceVar(&versions, "versions", nil, "versions, e.g. 1,2")
	return cmd
}

func newKVUndeleteCmd(e *env) *cobra.Command {
	return newKVVersionsCmd(e, "undelete", "Restore deleted versions of a secret",
		"Restore the given deleted (not destroyed) versions of the secret at PATH.\nVersion 2 mounts only.",
		`  keyward kv undelete -versions=3 secret/ci/db`)
}

func newKVDestroyCmd(e *env) *cobra.Command {
	return newKVVersionsCmd(e, "destroy", "Permanently remove versions of a secret",
		"Permanently remove the data of the given versions of the secret at PATH.\nTheir metadata stays; the data cannot be restored. Version 2 mounts only.",
		`  keyward kv destroy -versions=1,2 secret/ci/db`)
}

func newKVRollbackCmd(e *env) *cobra.Command {
	var (
		f       kvFlags
		version int
	)
	cmd := &cobra.Command{
		Use:   "rollback -version=N PATH",
		Short: "Make an old version of a secret the newest",
		Long: `Write the data of version N of the secret at PATH as a new version, with
check-and-set on the current version so a concurrent write is not lost.
Version 2 mounts only.`,
		Example: `  keyward kv rollback -version=2 secret/ci/db`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if version <= 0 {
				return usagef("-version must be a version number (1 or more)")
			}
			c, t, err := f.startV2(cmd.Context(), e, args[0], "kv rollback")
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			meta, err := c.Read(ctx, t.api("metadata"), nil)
			if err != nil {
				return explain(err, c)
			}
			if meta == nil {
				return notFound(t.api("metadata"))
			}
			cur, ok := meta.Data["current_version"].(float64)
			if !ok {
				return fmt.Errorf("%s: no current_version in the metadata", t.api("metadata"))
			}
			old, err := c.Read(ctx, t.api("data"), url.Values{"version": {strconv.Itoa(version)}})
			if err != nil {
				return explain(err, c)
			}
			var data map[string]any
			if old != nil {
				data, _ = old.Data["data"].(map[string]any)
			}
			if data == nil {
				return fmt.Errorf("version %d of %s has no data (deleted, destroyed or never written)", version, t.api("data"))
			}
			s, err := c.Write(ctx, t.api("data"), map[string]any{"data": data, "options": map[string]any{"cas": int(cur)}})
			if err != nil {
				return explain(err, c)
			}
			return printKVWrite(e, cmd.OutOrStdout(), &f.out, t, s)
		},
	}
	f.add(cmd, true)
	cmd.Flags().IntVar(&version, "version", 0, "version to roll back to")
	return cmd
}
