package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func init() { register(newVersionCmd) }

// Release builds set these with -ldflags -X (see `make release`); a plain
// `go build` leaves them empty and the build information fills them in.
var (
	version   string // e.g. v0.2.0
	commit    string // full commit hash
	buildDate string // RFC 3339, from the commit time
)

// buildInfo is what `keyward version` reports.
type buildInfo struct {
	Version   string            `json:"version"`
	Commit    string            `json:"commit,omitempty"`
	Dirty     bool              `json:"dirty"`
	BuildDate string            `json:"build_date,omitempty"`
	GoVersion string            `json:"go_version"`
	Platform  string            `json:"platform"`
	Settings  map[string]string `json:"build_settings,omitempty"`
}

// readBuildInfo combines the -X values with runtime/debug's record of the
// module version, VCS state and build flags.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, BuildDate: buildDate,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		b.Settings = map[string]string{}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.BuildDate == "" {
					b.BuildDate = s.Value
				}
			case "vcs.modified":
				b.Dirty = s.Value == "true"
			default:
				b.Settings[s.Key] = s.Value
			}
		}
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	return b
}

func newVersionCmd(e *env) *cobra.Command {
	var out outFlags
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build settings of this binary",
		Long: `Print the version of this keyward binary: the release version (or the Go
module version, or "(devel)"), the commit it was built from and whether the
work tree had uncommitted changes, the Go version, the platform and the
build settings (CGO_ENABLED, -trimpath, -ldflags, GOARCH...) recorded in the
binary. A bug report should include it.`,
		Example: `  keyward version
  keyward version -format=json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.resolve(e); err != nil {
				return err
			}
			b := readBuildInfo()
			w := cmd.OutOrStdout()
			if ok, err := out.structured(w, b); ok {
				return err
			}
			c := b.Commit
			if c == "" {
				c = "unknown"
			}
			if b.Dirty {
				c += " (dirty)"
			}
			fmt.Fprintf(w, "Keyward %s\n", b.Version)
			fmt.Fprintf(w, "commit:     %s\n", c)
			if b.BuildDate != "" {
				fmt.Fprintf(w, "built:      %s\n", b.BuildDate)
			}
			fmt.Fprintf(w, "go:         %s %s\n", b.GoVersion, b.Platform)
			for _, k := range []string{"CGO_ENABLED", "-trimpath", "-buildmode", "-ldflags", "-tags"} {
				if v, ok := b.Settings[k]; ok {
					fmt.Fprintf(w, "%-11s %s\n", k+":", v)
				}
			}
			return nil
		},
	}
	out.add(cmd, false)
	return cmd
}
