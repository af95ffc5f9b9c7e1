package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() { register(newDocsCmd) }

func newDocsCmd(e *env) *cobra.Command {
	docs := &cobra.Command{
		Use:   "docs",
		Short: "Generate reference documentation from the command tree",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	man := &cobra.Command{
		Use:   "man DIR",
		Short: "Write a man page (section 1) for every command into DIR",
		Long: `Write keyward.1 and one page per subcommand (keyward-kv-get.1, ...) into
DIR, creating it if needed. The pages are dated from SOURCE_DATE_EPOCH when
it is set, so a release build writes the same bytes every time.`,
		Example: `  keyward docs man /usr/local/share/man/man1 && mandb -q`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			date := time.Now().UTC()
			if s := e.getenv("SOURCE_DATE_EPOCH"); s != "" {
				var sec int64
				if _, err := fmt.Sscan(s, &sec); err != nil {
					return usagef("SOURCE_DATE_EPOCH %q is not a number of seconds", s)
				}
				date = time.Unix(sec, 0).UTC()
			}
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			n, err := writeManTree(cmd.Root(), args[0], date)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "wrote %d man pages to %s\n", n, args[0])
			return nil
		},
	}
	docs.AddCommand(man)
	return docs
}

// writeManTree writes a page for c and every visible command below it.
func writeManTree(c *cobra.Command, dir string, date time.Time) (int, error) {
	if c.Hidden || c.Name() == "help" {
		return 0, nil
	}
	name := strings.ReplaceAll(c.CommandPath(), " ", "-")
	f, err := os.Create(filepath.Join(dir, name+".1"))
	if err != nil {
		return 0, err
	}
	writeMan(f, c, date)
	if err := f.Close(); err != nil {
		return 0, err
	}
	n := 1
	for _, sub := range c.Commands() {
		m, err := writeManTree(sub, dir, date)
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// roff escapes text for a man page: backslashes, and a leading dot or
// apostrophe that troff would read as a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

func writeMan(w io.Writer, c *cobra.Command, date time.Time) {
	name := strings.ReplaceAll(c.CommandPath(), " ", "-")
	fmt.Fprintf(w, ".TH %q 1 %q \"Keyward\" \"Keyward Manual\"\n", strings.ToUpper(name), date.Format("2006-01-02"))
	fmt.Fprintf(w, ".SH NAME\n%s \\- %s\n", roff(name), roff(c.Short))
	fmt.Fprintf(w, ".SH SYNOPSIS\n.B %s\n", roff(c.UseLine()))
	desc := c.Long
	if desc == "" {
		desc = c.Short
	}
	fmt.Fprintf(w, ".SH DESCRIPTION\n")
	for _, para := range strings.Split(strings.TrimSpace(desc), "\n\n") {
		fmt.Fprintf(w, ".PP\n%s\n", roff(para))
	}
	writeFlags(w, "OPTIONS", c.NonInheritedFlags())
	writeFlags(w, "OPTIONS INHERITED FROM PARENT COMMANDS", c.InheritedFlags())
	if c.Example != "" {
		fmt.Fprintf(w, ".SH EXAMPLE\n.PP\n.nf\n%s\n.fi\n", roff(c.Example))
	}
	var see []string
	if c.HasParent() {
		see = append(see, strings.ReplaceAll(c.Parent().CommandPath(), " ", "-"))
	}
	for _, sub := range c.Commands() {
		if !sub.Hidden && sub.Name() != "help" {
			see = append(see, strings.ReplaceAll(sub.CommandPath(), " ", "-"))
		}
	}
	if len(see) > 0 {
		for i, s := range see {
			see[i] = `\fB` + roff(s) + `\fP(1)`
		}
		fmt.Fprintf(w, ".SH SEE ALSO\n%s\n", strings.Join(see, ", "))
	}
}

func writeFlags(w io.Writer, title string, fs *pflag.FlagSet) {
	if !fs.HasAvailableFlags() {
		return
	}
	fmt.Fprintf(w, ".SH %s\n", title)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		head := `\fB\-\-` + roff(f.Name) + `\fP`
		if f.Shorthand != "" {
			head = `\fB\-` + f.Shorthand + `\fP, ` + head
		}
		if f.Value.Type() != "bool" {
			head += `=\fI` + roff(f.Value.Type()) + `\fP`
		}
		usage := f.Usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, ".TP\n%s\n%s\n", head, roff(usage))
	})
}
