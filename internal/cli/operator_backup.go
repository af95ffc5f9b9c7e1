package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/backup"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/storage/bolt"
)

func newOperatorBackupCmd(e *env) *cobra.Command {
	var (
		conn    connFlags
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent, encrypted backup of a bolt store while it serves",
		Long: `Stream a backup of the server's bolt storage into FILE while the server
keeps serving. The backup is a header (format version, cluster ID, storage
type, creation time, keyring term), the bolt file as of one moment, and a
SHA-256 over both. It holds barrier ciphertext only: no plaintext secret and
no unseal key; protect it as you would the bolt file itself, and keep the
unseal key shares apart from it.

FILE is written atomically: into a temporary 0600 file beside it, checked
against its hash, fsynced and only then renamed. An interrupted or damaged
transfer leaves no FILE and no temporary file. Needs sudo on
sys/storage/backup.`,
		Example: `  keyward operator backup /backups/keyward-$(date +%F).kwb
  keyward operator backup inspect /backups/keyward-2026-12-04.kwb
  keyward operator backup restore /backups/keyward-2026-12-04.kwb -path /var/lib/keyward`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn.timeout = timeout
			if timeout == 0 {
				conn.timeout = -1
			}
			c, err := conn.client(e)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var h backup.Header
			var digest string
			size, err := writeAtomic(ctx, "backup", args[0], func(f *os.File) error {
				pr, pw := io.Pipe()
				done := make(chan error, 1)
				go func() {
					r, err := backup.NewReader(pr)
					if err == nil {
						h = r.Header
						_, err = io.Copy(io.Discard, r)
						digest = r.Digest()
					}
					pr.CloseWithError(err) // unblocks the download if verification stopped early
					done <- err
				}()
				err := c.Backup(ctx, io.MultiWriter(f, pw))
				pw.CloseWithError(err)
				verr := <-done
				if err != nil {
					return explain(err, c)
				}
				return verr
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if err := success(w, "Backup written to %s", args[0]); err != nil {
				return err
			}
			return writeTable(w, append(headerRows(h), row{"File Size", size}, row{"SHA-256", digest}))
		},
	}
	conn.add(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up when the whole transfer takes longer (0: no limit)")
	cmd.AddCommand(newOperatorBackupInspectCmd(), newOperatorBackupRestoreCmd())
	return cmd
}

func headerRows(h backup.Header) []row {
	return []row{
		{"Format Version", h.Version},
		{"Cluster ID", h.ClusterID},
		{"Storage Type", h.StorageType},
		{"Created", h.Created.UTC().Format(time.RFC3339)},
		{"Key Term", h.KeyTerm},
		{"Store Size", h.Size},
	}
}

// writeAtomic creates path through a 0600 temporary file in its directory:
// fill writes it, then it is fsynced and renamed over path. On any error
// the temporary file is removed and path is untouched. op prefixes its
// errors. It returns the file's size.
func writeAtomic(ctx context.Context, op, path string, fill func(*os.File) error) (size int64, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if err := fill(f); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("%s: sync %s: %w", op, f.Name(), err)
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return fi.Size(), nil
}

func openBackup(path string) (*os.File, *backup.Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	r, err := backup.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, r, nil
}

func newOperatorBackupInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect FILE",
		Short: "Print a backup's header and verify its integrity",
		Long: `Print the header of a backup written by keyward operator backup and check
its SHA-256 end to end. Exit 1 when the file is truncated or altered. It
reads only the file: no server and no key is needed.`,
		Example: `  keyward operator backup inspect keyward.kwb`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, r, err := openBackup(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(io.Discard, r); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			return writeTable(cmd.OutOrStdout(), append(headerRows(r.Header), row{"SHA-256", r.Digest()}, row{"Integrity", "ok"}))
		},
	}
}

func newOperatorBackupRestoreCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "restore FILE -path DIR",
		Short: "Put a backup's bolt file into a storage directory (offline)",
		Long: `Restore a backup into the bolt storage directory DIR (the storage block's
path) while no server runs on it: the bolt file is written beside the
current one, its hash and layout checked, fsynced and renamed into place.
It refuses while a server holds the file's lock, and refuses a backup whose
hash does not verify, leaving DIR as it was.

Start the server on DIR afterwards and unseal it with the key shares that
were current when the backup was taken.`,
		Example: `  keyward operator backup restore keyward.kwb -path /var/lib/keyward`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usagef("restore needs -path DIR, the bolt storage directory")
			}
			f, r, err := openBackup(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			if r.Header.StorageType != "bolt" && r.Header.StorageType != "file" {
				return fmt.Errorf("%s: a %q backup cannot be restored into bolt storage", args[0], r.Header.StorageType)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			n, err := bolt.Restore(ctx, filepath.Join(dir, node.DBFile), r)
			if err != nil {
				if errors.Is(err, bolt.ErrLocked) {
					return withHint(err, "stop the server using this directory first")
				}
				return err
			}
			marker := filepath.Join(dir, node.MarkerFile)
			if err := os.WriteFile(marker, []byte("this directory holds an initialized Keyward store\n"), 0o600); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			w := cmd.OutOrStdout()
			if err := success(w, "Restored %s into %s", args[0], dir); err != nil {
				return err
			}
			return writeTable(w, append(headerRows(r.Header), row{"Written", n}, row{"SHA-256", r.Digest()}))
		},
	}
	cmd.Flags().StringVar(&dir, "path", "", "the bolt storage directory to restore into")
	return cmd
}
