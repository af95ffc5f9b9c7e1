package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward/internal/policy"
)

// policyTable is the file `keyward policy test` runs.
type policyTable struct {
	// Policies maps a policy name to its file, relative to the table.
	Policies map[string]string `yaml:"policies"`
	// Environments maps a path prefix to its environment.
	Environments map[string]string `yaml:"environments"`
	Cases        []policyCase      `yaml:"cases"`
}

type policyCase struct {
	Name     string         `yaml:"name"`
	Identity policyIdentity `yaml:"identity"`
	Request  struct {
		Path      string `yaml:"path"`
		Operation string `yaml:"operation"`
	} `yaml:"request"`
	Want string `yaml:"want"` // allowed or denied
}

type policyIdentity struct {
	Policies    []string          `yaml:"policies"`
	EntityID    string            `yaml:"entity_id"`
	EntityName  string            `yaml:"entity_name"`
	Metadata    map[string]string `yaml:"metadata"`
	Environment string            `yaml:"environment"`
	Groups      []string          `yaml:"groups"`
	RemoteAddr  string            `yaml:"remote_addr"`
	Time        string            `yaml:"time"`
	MFAAge      string            `yaml:"mfa_age"`
	TokenTTL    string            `yaml:"token_ttl"`
}

func newPolicyTestCmd(*env) *cobra.Command {
	return &cobra.Command{
		Use:   "test FILE",
		Short: "Run a table of requests against policy files, offline",
		Long: `Run the cases of the YAML table in FILE against policy files, without a
server, and report every case whose outcome differs from the one expected.
Each case names the caller (policies, claims as metadata, environment, groups,
entity, remote address, time, MFA age, token TTL) and a request (path and
operation) and says whether it is allowed or denied. Exit status 1 when a case
fails. See docs/governance.md for the table format.`,
		Example: `  keyward policy test policies/tests.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyTable(cmd.OutOrStdout(), args[0])
		},
	}
}

func runPolicyTable(w io.Writer, file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var tab policyTable
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&tab); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(tab.Cases) == 0 {
		return fmt.Errorf("%s: no cases", file)
	}
	pols := map[string]*policy.Policy{}
	for name, rel := range tab.Policies {
		p, err := readPolicyFile(name, filepath.Join(filepath.Dir(file), rel))
		if err != nil {
			return err
		}
		pols[name] = p
	}
	envs, err := policy.NewEnvironments(tab.Environments)
	if err != nil {
		return fmt.Errorf("%s: environments: %w", file, err)
	}
	failed := 0
	for i, tc := range tab.Cases {
		name := tc.Name
		if name == "" {
			name = fmt.Sprintf("case %d", i+1)
		}
		got, reason, err := runPolicyCase(pols, envs, &tc)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", file, name, err)
		}
		if want := tc.Want; want != "allowed" && want != "denied" {
			return fmt.Errorf("%s: %s: want must be allowed or denied", file, name)
		}
		if got == tc.Want {
			fmt.Fprintf(w, "ok    %s\n", name)
			continue
		}
		failed++
		op := tc.Request.Operation
		if op == "" {
			op = "read"
		}
		fmt.Fprintf(w, "FAIL  %s\n      %s %s\n      - want: %s\n      + got:  %s\n      because %s\n", name, op, tc.Request.Path, tc.Want, got, reason)
	}
	fmt.Fprintf(w, "%d of %d cases passed\n", len(tab.Cases)-failed, len(tab.Cases))
	if failed > 0 {
		return fmt.Errorf("%d policy test case(s) failed", failed)
	}
	return nil
}

func readPolicyFile(name, path string) (*policy.Policy, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > policy.MaxPolicyBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, policy.MaxPolicyBytes)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := policy.Parse(name, string(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func runPolicyCase(pols map[string]*policy.Policy, envs *policy.Environments, tc *policyCase) (string, string, error) {
	id := tc.Identity
	var list []*policy.Policy
	root := false
	for _, n := range id.Policies {
		if n == "root" {
			root = true
			continue
		}
		p, ok := pols[n]
		if !ok {
			return "", "", fmt.Errorf("policy %q is not in the table's policies", n)
		}
		list = append(list, p)
	}
	path, err := policy.CleanPath(tc.Request.Path)
	if err != nil || path == "" {
		return "", "", fmt.Errorf("request path %q is not canonical", tc.Request.Path)
	}
	op := policy.Operation(tc.Request.Operation)
	if op == "" {
		op = policy.OpRead
	}
	if root && len(id.Policies) == 1 {
		return "allowed", "root token", nil
	}
	ident := &policy.Identity{EntityID: id.EntityID, EntityName: id.EntityName, EntityMetadata: id.Metadata}
	acl, err := policy.Compile(list, ident)
	if err != nil {
		return "", "", err
	}
	rc := &policy.RequestContext{Claims: id.Metadata, Environment: id.Environment, EntityID: id.EntityID,
		GroupNames: id.Groups, PathEnvironment: envs.Lookup(path), Time: time.Now()}
	if rc.Environment == "" {
		rc.Environment = id.Metadata["environment"]
	}
	if id.RemoteAddr != "" {
		a, err := netip.ParseAddr(id.RemoteAddr)
		if err != nil {
			return "", "", fmt.Errorf("remote_addr %q: not an IP address", id.RemoteAddr)
		}
		rc.RemoteAddr = a
	}
	if id.Time != "" {
		t, err := time.Parse(time.RFC3339, id.Time)
		if err != nil {
			return "", "", fmt.Errorf("time %q: not an RFC 3339 time", id.Time)
		}
		rc.Time = t
	}
	if id.MFAAge != "" {
		d, err := time.ParseDuration(id.MFAAge)
		if err != nil {
			return "", "", fmt.Errorf("mfa_age %q: %w", id.MFAAge, err)
		}
		rc.MFATime = rc.Time.Add(-d)
	}
	if id.TokenTTL != "" {
		d, err := time.ParseDuration(id.TokenTTL)
		if err != nil {
			return "", "", fmt.Errorf("token_ttl %q: %w", id.TokenTTL, err)
		}
		rc.TokenTTL = d
	}
	e := acl.Explain(path, op, nil, rc)
	if e.Reason == "" || strings.HasPrefix(e.Reason, "unknown operation") {
		return "", "", fmt.Errorf("operation %q: use create, read, update, patch, delete or list", op)
	}
	if e.Allowed {
		return "allowed", e.Reason, nil
	}
	return "denied", e.Reason, nil
}

func newPolicyLintCmd(e *env) *cobra.Command {
	var (
		envFlags   []string
		fromServer bool
		conn       connFlags
	)
	cmd := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Warn about policies that let non-production callers read production paths",
		Long: `Check policy files offline. With -env PREFIX=ENV labels (the same as the
server's mount environments), every rule that grants read or list on a
production path (environment prod, production, prod-*) without a condition
that pins the caller to production (environment_match = true, environments,
or an environment claim listing only production) is reported. -server adds
the environments of the server's mounts (their environment tunable). Exit
status 1 when there are warnings.`,
		Example: `  keyward policy lint -env kv-prod=prod -env kv-staging=staging policies/*.hcl
  keyward policy lint -server policies/*.hcl`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			labels := map[string]string{}
			for _, f := range envFlags {
				k, v, ok := strings.Cut(f, "=")
				if !ok {
					return usagef("-env %q: want PREFIX=ENV", f)
				}
				labels[k] = v
			}
			if fromServer {
				c, err := conn.client(e)
				if err != nil {
					return err
				}
				s, err := c.Read(cmd.Context(), "sys/mounts", nil)
				if err != nil {
					return explain(err, c)
				}
				if s != nil {
					for path, v := range s.Data {
						m, _ := v.(map[string]any)
						cfg, _ := m["config"].(map[string]any)
						if env, _ := cfg["environment"].(string); env != "" {
							if _, set := labels[path]; !set {
								labels[path] = env
							}
						}
					}
				}
			}
			envs, err := policy.NewEnvironments(labels)
			if err != nil {
				return usagef("-env: %v", err)
			}
			var warnings []string
			for _, file := range args {
				name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
				p, err := readPolicyFile(strings.ToLower(name), file)
				if err != nil {
					return err
				}
				for _, w := range policy.LintEnvironments(p, envs) {
					warnings = append(warnings, file+": "+w)
				}
			}
			sort.Strings(warnings)
			for _, w := range warnings {
				fmt.Fprintln(cmd.OutOrStdout(), "warning: "+w)
			}
			if len(warnings) > 0 {
				return errors.New("policies let non-production callers read production paths")
			}
			return success(cmd.OutOrStdout(), "%d policy file(s) checked, no warnings", len(args))
		},
	}
	cmd.Flags().StringArrayVar(&envFlags, "env", nil, "label a path prefix with an environment: PREFIX=ENV (repeatable)")
	cmd.Flags().BoolVar(&fromServer, "server", false, "also read the environments of the server's mounts")
	conn.add(cmd)
	return cmd
}
