package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func init() { register(newWatchCmd) }

func newWatchCmd(e *env) *cobra.Command {
	var (
		conn        connFlags
		path, types string
		asJSON      bool
		replay      bool
		count       int
	)
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Stream the server's access events",
		Long: `Print one line per access event as it happens: time, result, status,
operation, path, who (display name, role, entity, CI repository) and the
client address. Events carry no secret values, tokens or request data.

The token needs read and sudo on sys/events/subscribe. --path takes
comma-separated patterns as in policies (a final * matches any suffix, +
one segment); --type takes request, login or both. The command runs until
interrupted, after --count events, or until the server ends the stream
(it sealed, or this client fell behind), which is an error. --replay
prints the matching recent events the server still holds first.`,
		Example: `  keyward watch
  keyward watch --path 'secret/data/prod/*' --type request
  keyward watch --type login --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn.timeout = -1 // a stream has no end to wait for
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			seen := 0
			err = c.SubscribeEvents(cmd.Context(), path, types, replay, func(ev *api.Event) error {
				if err := printEvent(w, ev, asJSON); err != nil {
					return err
				}
				if seen++; count > 0 && seen >= count {
					return errEnoughEvents
				}
				return nil
			})
			if errors.Is(err, errEnoughEvents) {
				return nil
			}
			if err != nil {
				return explain(fmt.Errorf("watch: %w", err), c)
			}
			return nil
		},
	}
	conn.add(cmd)
	cmd.Flags().StringVar(&path, "path", "", "only events for these paths (comma-separated patterns)")
	cmd.Flags().StringVar(&types, "type", "", "only these event types: request, login (comma-separated)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print each event as one line of JSON")
	cmd.Flags().BoolVar(&replay, "replay", false, "print the matching recent events the server still holds first")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events (0: run until interrupted)")
	return cmd
}

var errEnoughEvents = errors.New("enough events")

func printEvent(w io.Writer, ev *api.Event, asJSON bool) error {
	if asJSON {
		raw, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", raw)
		return err
	}
	return writeEventLine(w, ev)
}

// writeEventLine prints ev as one line:
// TIME RESULT STATUS OPERATION PATH who=... [role=...] [entity=...] [repo=...] from=ADDR.
func writeEventLine(w io.Writer, ev *api.Event) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-6s %d %-6s %s", ev.Time.UTC().Format(time.RFC3339), ev.Result, ev.Status, ev.Operation, ev.Path)
	id := ev.Identity
	who := id.DisplayName
	if who == "" {
		who = "-"
	}
	fmt.Fprintf(&b, " who=%s", who)
	if id.AuthMount != "" {
		fmt.Fprintf(&b, " auth=%s", id.AuthMount)
	}
	if id.Role != "" {
		fmt.Fprintf(&b, " role=%s", id.Role)
	}
	if id.EntityID != "" {
		fmt.Fprintf(&b, " entity=%s", id.EntityID)
	}
	if r := id.Claims["repository"]; r != "" {
		fmt.Fprintf(&b, " repo=%s", r)
	}
	if env := id.Claims["environment"]; env != "" {
		fmt.Fprintf(&b, " env=%s", env)
	}
	if ev.RemoteAddr != "" {
		fmt.Fprintf(&b, " from=%s", ev.RemoteAddr)
	}
	for _, l := range ev.LeaseIDs {
		fmt.Fprintf(&b, " lease=%s", l)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, sanitizeLine(b.String()))
	return err
}

// sanitizeLine keeps control characters a path could carry out of the
// terminal (only the final newline stays).
func sanitizeLine(s string) string {
	body := strings.TrimSuffix(s, "\n")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, body) + "\n"
}
