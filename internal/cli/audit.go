package cli

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/audit"
)

func init() { register(newAuditCmd) }

func newAuditCmd(e *env) *cobra.Command {
	cmd := groupCmd("audit", "Enable, list and disable audit devices; verify and query audit logs",
		`Audit commands manage the server's audit devices (file, socket, syslog)
and work offline on audit log files: verify checks the hash chain and the
signed checkpoints, query answers "what did this identity touch".`,
		`  keyward audit enable file file_path=/var/log/keyward/audit.log
  keyward audit list -detailed
  keyward audit verify /var/log/keyward/audit.log.1 /var/log/keyward/audit.log --public-key=@audit.pub
  keyward audit query /var/log/keyward/audit.log --actor=token-ci --since=24h`)
	cmd.AddCommand(newAuditEnableCmd(e), newAuditDisableCmd(e), newAuditListCmd(e),
		newAuditVerifyCmd(e), newAuditQueryCmd(e))
	return cmd
}

func newAuditEnableCmd(e *env) *cobra.Command {
	var (
		conn       connFlags
		path, desc string
		local      bool
	)
	cmd := &cobra.Command{
		Use:   "enable TYPE [K=V...]",
		Short: "Enable an audit device",
		Long: `Enable an audit device of TYPE (file, socket or syslog) with options
given as K=V: file_path, mode, address, socket_type, write_timeout,
facility, tag, hmac_accessor, elide_list_responses, checkpoint_interval,
fsync. The device is named after its type unless -path is given.`,
		Example: `  keyward audit enable file file_path=/var/log/keyward/audit.log
  keyward audit enable -path=siem socket address=siem.internal:9090 write_timeout=2s`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := parseStringMap("option", args[1:])
			if err != nil {
				return err
			}
			name := strings.Trim(path, "/")
			if name == "" {
				name = args[0]
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			body := map[string]any{"type": args[0], "description": desc, "options": opts, "local": local}
			if _, err := c.Write(cmd.Context(), "sys/audit/"+url.PathEscape(name), body); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Enabled the %s audit device at: %s/", args[0], name)
		},
	}
	cmd.Flags().StringVar(&path, "path", "", "name of the device (default: its type)")
	cmd.Flags().StringVar(&desc, "description", "", "human-friendly description")
	cmd.Flags().BoolVar(&local, "local", false, "mark the device local to this node")
	conn.add(cmd)
	return cmd
}

func newAuditDisableCmd(e *env) *cobra.Command {
	var conn connFlags
	cmd := &cobra.Command{
		Use:     "disable NAME",
		Short:   "Disable an audit device",
		Long:    "Disable the audit device NAME. Its keys are kept, so its public key\nstays readable for verifying old logs.",
		Example: "  keyward audit disable file",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			name := strings.Trim(args[0], "/")
			if _, err := c.Delete(cmd.Context(), "sys/audit/"+url.PathEscape(name), nil); err != nil {
				return explain(err, c)
			}
			return success(cmd.OutOrStdout(), "Disabled audit device (if it was enabled) at: %s/", name)
		},
	}
	conn.add(cmd)
	return cmd
}

func newAuditListCmd(e *env) *cobra.Command {
	var (
		conn     connFlags
		out      outFlags
		detailed bool
	)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List enabled audit devices",
		Long:    "List the enabled audit devices; -detailed adds their options.",
		Example: "  keyward audit list -detailed",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.clientFor(e, &out)
			if err != nil {
				return err
			}
			s, err := c.Read(cmd.Context(), "sys/audit", nil)
			if err != nil {
				return explain(err, c)
			}
			data := map[string]any{}
			if s != nil && s.Data != nil {
				data = s.Data
			}
			if ok, err := out.structured(cmd.OutOrStdout(), data); ok {
				return err
			}
			if len(data) == 0 {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "No audit devices are enabled.")
				return err
			}
			hdr := []string{"Path", "Type", "Description"}
			if detailed {
				hdr = append(hdr, "Options")
			}
			return writeColumns(cmd.OutOrStdout(), hdr, func(add func(...string)) {
				for _, k := range slices.Sorted(maps.Keys(data)) {
					d, _ := data[k].(map[string]any)
					cells := []string{k, fmt.Sprint(d["type"]), fmt.Sprint(d["description"])}
					if detailed {
						cells = append(cells, formatValue(d["options"]))
					}
					add(cells...)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&detailed, "detailed", false, "show each device's options")
	conn.add(cmd)
	out.add(cmd, false)
	return cmd
}

func newAuditVerifyCmd(e *env) *cobra.Command {
	var (
		key       string
		allowOpen bool
	)
	cmd := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Verify the hash chain and signed checkpoints of audit log files",
		Long: `Verify audit log files offline. Give rotated files oldest first
(audit.log.2 audit.log.1 audit.log). The first edited, deleted, inserted,
reordered, duplicated or truncated line is reported as FILE:LINE. A log
must end with a signed checkpoint (written every checkpoint_interval
entries and when the device closes); --allow-open-tail accepts a tail
after the last checkpoint, checked by the chain only.

--public-key is the base64 key from sys/audit/NAME/public-key, or @FILE
(or a path) holding it.`,
		Example: `  keyward read -field=public_key sys/audit/file/public-key > audit.pub
  keyward audit verify audit.log.1 audit.log --public-key=@audit.pub`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := readPublicKey(key)
			if err != nil {
				return err
			}
			var inputs []audit.Input
			for _, name := range args {
				f, err := os.Open(name)
				if err != nil {
					return fmt.Errorf("open audit log: %w", err)
				}
				defer f.Close()
				inputs = append(inputs, audit.Input{Name: name, R: f})
			}
			rep, err := audit.Verify(inputs, audit.VerifyOptions{PublicKey: pub, AllowOpenTail: allowOpen})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			cp := "no signed checkpoint yet"
			if rep.LastCheckpoint.Line > 0 {
				cp = "last signed checkpoint at " + rep.LastCheckpoint.String()
			}
			fmt.Fprintf(w, "Verified %d entries in %d lines of %d files; %s.\n", rep.Entries, rep.Lines, rep.Files, cp)
			if rep.OpenTail > 0 {
				fmt.Fprintf(w, "Unverified tail: %d entries after the last checkpoint are chained but not signed.\n", rep.OpenTail)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "public-key", "", "the device's Ed25519 public key: base64, or @FILE")
	cmd.Flags().BoolVar(&allowOpen, "allow-open-tail", false, "accept entries after the last signed checkpoint")
	_ = cmd.MarkFlagRequired("public-key")
	return cmd
}

// readPublicKey accepts base64, @FILE, or a path to a file holding base64.
func readPublicKey(v string) (ed25519.PublicKey, error) {
	s := v
	if strings.HasPrefix(v, "@") || fileExists(v) {
		raw, err := os.ReadFile(strings.TrimPrefix(v, "@"))
		if err != nil {
			return nil, fmt.Errorf("read public key: %w", err)
		}
		s = string(raw)
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(k) != ed25519.PublicKeySize {
		return nil, usagef("--public-key must be a base64 Ed25519 public key (32 bytes), or @FILE holding one")
	}
	return ed25519.PublicKey(k), nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
