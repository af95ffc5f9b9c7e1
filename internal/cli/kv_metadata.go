package cli

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func newKVMetadataCmd(e *env) *cobra.Command {
	cmd := groupCmd("metadata", "Read and configure a secret's metadata and versions",
		`Metadata commands work on the metadata of a secret in a version 2 mount:
its versions, how many are kept, whether writes need check-and-set, and
custom metadata. Deleting the metadata removes every version for good.`,
		`  keyward kv metadata get secret/ci/db
  keyward kv metadata put -max-versions=5 -custom-metadata=owner=ci secret/ci/db`)
	cmd.AddCommand(newKVMetadataGetCmd(e), newKVMetadataPutCmd(e), newKVMetadataDeleteCmd(e))
	return cmd
}

func newKVMetadataGetCmd(e *env) *cobra.Command {
	var f kvFlags
	cmd := &cobra.Command{
		Use:   "get PATH",
		Short: "Show a secret's metadata and versions",
		Long:  "Show the metadata of the secret at PATH and the state of each version.",
		Example: `  keyward kv metadata get secret/ci/db
  keyward kv metadata get -format=json secret/ci/db`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := f.startV2(cmd.Context(), e, args[0], "kv metadata")
			if err != nil {
				return err
			}
			p := t.api("metadata")
			s, err := c.Read(cmd.Context(), p, nil)
			if err != nil {
				return explain(err, c)
			}
			if s == nil {
				return notFound(p)
			}
			w := cmd.OutOrStdout()
			if f.out.field != "" {
				return printField(w, dataRows(s.Data), f.out.field)
			}
			if ok, err := f.out.structured(w, s); ok {
				return err
			}
			top := map[string]any{}
			for k, v := range s.Data {
				if k != "versions" {
					top[k] = v
				}
			}
			if n, ok := top["delete_version_after"].(string); ok && n == "" {
				top["delete_version_after"] = "0s"
			}
			table := renderTable(metadataRows(top))
			fmt.Fprintf(w, "%s\n%s\n\n%s\n%s", header("Metadata Path", table), p, header("Metadata", table), table)
			versions, _ := s.Data["versions"].(map[string]any)
			nums := make([]int, 0, len(versions))
			for k := range versions {
				if n, err := strconv.Atoi(k); err == nil {
					nums = append(nums, n)
				}
			}
			sort.Ints(nums)
			for _, n := range nums {
				vm, _ := versions[strconv.Itoa(n)].(map[string]any)
				vt := renderTable(metadataRows(vm))
				fmt.Fprintf(w, "\n%s\n%s", header("Version "+strconv.Itoa(n), vt), vt)
			}
			return nil
		},
	}
	f.add(cmd, true)
	return cmd
}

func newKVMetadataPutCmd(e *env) *cobra.Command {
	var (
		f           kvFlags
		maxVersions int
		casRequired bool
		deleteAfter time.Duration
		custom      []string
	)
	cmd := &cobra.Command{
		Use:   "put PATH",
		Short: "Configure a secret's metadata",
		Long: `Set the metadata of the secret at PATH (which need not have data yet).
Only the flags given are changed. -custom-metadata replaces the whole
custom metadata map.`,
		Example: `  keyward kv metadata put -max-versions=5 -cas-required secret/ci/db
  keyward kv metadata put -custom-metadata=owner=team-a -custom-metadata=tier=1 secret/ci/db`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cm, err := parseStringMap("custom-metadata", custom)
			if err != nil {
				return err
			}
			data := map[string]any{}
			fl := cmd.Flags()
			if fl.Changed("max-versions") {
				if maxVersions < 0 {
					return usagef("-max-versions cannot be negative")
				}
				data["max_versions"] = maxVersions
			}
			if fl.Changed("cas-required") {
				data["cas_required"] = casRequired
			}
			if fl.Changed("delete-version-after") {
				data["delete_version_after"] = deleteAfter.String()
			}
			if cm != nil {
				data["custom_metadata"] = cm
			}
			if len(data) == 0 {
				return usagef("nothing to change: give -max-versions, -cas-required, -delete-version-after or -custom-metadata")
			}
			c, t, err := f.startV2(cmd.Context(), e, args[0], "kv metadata")
			if err != nil {
				return err
			}
			p := t.api("metadata")
			if _, err := c.Write(cmd.Context(), p, data); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Data written to: %s", p)
		},
	}
	f.add(cmd, false)
	fl := cmd.Flags()
	fl.IntVar(&maxVersions, "max-versions", 0, "versions to keep (0: the mount's setting)")
	fl.BoolVar(&casRequired, "cas-required", false, "refuse writes without -cas")
	fl.DurationVar(&deleteAfter, "delete-version-after", 0, "delete versions this long after they are written (0s: never)")
	fl.StringArrayVar(&custom, "custom-metadata", nil, "KEY=VALUE custom metadata (repeatable; replaces the map)")
	return cmd
}

func newKVMetadataDeleteCmd(e *env) *cobra.Command {
	var f kvFlags
	cmd := &cobra.Command{
		Use:     "delete PATH",
		Short:   "Delete a secret with all its versions",
		Long:    "Delete the metadata and every version of the secret at PATH, for good.",
		Example: `  keyward kv metadata delete secret/ci/db`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := f.startV2(cmd.Context(), e, args[0], "kv metadata")
			if err != nil {
				return err
			}
			p := t.api("metadata")
			if _, err := c.Delete(cmd.Context(), p, nil); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Data deleted (if it existed) at: %s", p)
		},
	}
	f.add(cmd, false)
	return cmd
}
