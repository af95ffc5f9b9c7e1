package cli_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// TestLeaseScripts runs testdata/lease/*.txt against a fresh server each,
// with the real PostgreSQL on 127.0.0.1 for dynamic credentials. $PREFIX
// starts every user name a script creates; leftovers are dropped at the end.
func TestLeaseScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/lease",
		UpdateScripts: *update,
		Setup: func(e *testscript.Env) error {
			tb, ok := e.T().(testing.TB)
			if !ok {
				return errors.New("testscript.T is not a testing.TB")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			admin, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
			if err != nil {
				tb.Skipf("PostgreSQL not reachable on 127.0.0.1:5432 (.ci/run starts it): %v", err)
			}
			prefix := "kwt" + strings.ToLower(rand.Text()[:6])
			e.Defer(func() { dropRoles(admin, prefix) })
			n := nodetest.Start(tb)
			e.Defer(func() { n.Close() })
			e.Setenv("PREFIX", prefix)
			e.Setenv("KEYWARD_ADDR", n.URL)
			e.Setenv("KEYWARD_TOKEN", n.RootToken.Reveal())
			home := filepath.Join(e.WorkDir, ".home")
			if err := os.MkdirAll(home, 0o700); err != nil {
				return err
			}
			e.Setenv("HOME", home)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"setenvfile": cmdSetenvFile,
		},
	})
}

func dropRoles(admin *pgx.Conn, prefix string) {
	ctx := context.Background()
	defer admin.Close(ctx)
	rows, err := admin.Query(ctx, `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`, prefix)
	if err != nil {
		return
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, n := range names {
		admin.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{n}.Sanitize())
	}
}
