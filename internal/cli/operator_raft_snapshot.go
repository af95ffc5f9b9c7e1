package cli

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/backup"
)

func newOperatorRaftSnapshotCmd(e *env) *cobra.Command {
	cmd := groupCmd("snapshot", "Save, inspect and restore snapshots of raft storage",
		`A raft snapshot is a gzip tar archive of meta.json (cluster id, creation
time, keyring term, size), state.bin (the data as barrier ciphertext),
SHA256SUMS over both, and SHA256SUMS.sealed, the sums sealed by the
cluster's keyring. It holds no plaintext secret and no unseal key; keep the
unseal key shares apart from it.`,
		`  keyward operator raft snapshot save keyward.snap
  keyward operator raft snapshot inspect keyward.snap
  keyward operator raft snapshot restore keyward.snap`)
	cmd.AddCommand(newRaftSnapshotSaveCmd(e), newRaftSnapshotRestoreCmd(e), newRaftSnapshotInspectCmd())
	return cmd
}

// snapshotInfo is what a verified snapshot file says about itself.
type snapshotInfo struct {
	header backup.Header
	digest string // hex SHA-256 of state.bin
}

// verifySnapshot reads a whole snapshot stream: its framing, meta.json,
// SHA256SUMS against the contents, and a non-empty SHA256SUMS.sealed as
// the last entry. It cannot open the seal: that needs the keyring.
func verifySnapshot(f io.ReadSeeker) (snapshotInfo, error) {
	sr, err := backup.NewSnapshotReader(f, nil)
	if err != nil {
		return snapshotInfo{}, err
	}
	sr.AllowForeign()
	if _, err := io.Copy(io.Discard, sr); err != nil {
		return snapshotInfo{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return snapshotInfo{}, err
	}
	if err := lastEntrySealed(f); err != nil {
		return snapshotInfo{}, err
	}
	return snapshotInfo{header: sr.Header, digest: sr.Digest()}, nil
}

// lastEntrySealed checks the archive's last entry is a non-empty
// SHA256SUMS.sealed, the check Vault's client makes.
func lastEntrySealed(r io.Reader) error {
	zr, err := gzip.NewReader(bufio.NewReader(r))
	if err != nil {
		return fmt.Errorf("read snapshot: %w: not a gzip stream", backup.ErrCorrupt)
	}
	tr := tar.NewReader(zr)
	var last *tar.Header
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read snapshot: %w: %w", backup.ErrCorrupt, err)
		}
		last = h
	}
	if last == nil || last.Name != "SHA256SUMS.sealed" || last.Size <= 0 {
		return fmt.Errorf("read snapshot: %w: the last entry is not a non-empty SHA256SUMS.sealed", backup.ErrCorrupt)
	}
	return nil
}

func snapshotRows(i snapshotInfo) []row {
	return []row{
		{"Format Version", i.header.Version},
		{"Cluster ID", i.header.ClusterID},
		{"Storage Type", i.header.StorageType},
		{"Created", i.header.Created.UTC().Format(time.RFC3339)},
		{"Key Term", i.header.KeyTerm},
		{"State Size", i.header.Size},
		{"State SHA-256", i.digest},
	}
}

func newRaftSnapshotSaveCmd(e *env) *cobra.Command {
	var (
		conn    connFlags
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "save FILE",
		Short: "Save a snapshot of the cluster's raft storage into FILE",
		Long: `Stream a consistent snapshot of the raft storage into FILE while the
cluster keeps serving. Any node answers; a standby forwards to the active
node.

FILE is written atomically: into a temporary 0600 file beside it, which is
checked to be a whole snapshot (SHA256SUMS matching the contents, a
non-empty SHA256SUMS.sealed last), fsynced and only then renamed. An
interrupted or failed download leaves no FILE and no temporary file, and
an existing FILE is replaced only by a complete snapshot. Needs sudo on
sys/storage/raft/snapshot.`,
		Example: `  keyward operator raft snapshot save /backups/keyward-$(date +%F).snap`,
		Args:    cobra.ExactArgs(1),
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
			var info snapshotInfo
			size, err := writeAtomic(ctx, "snapshot", args[0], func(f *os.File) error {
				if err := c.RaftSnapshot(ctx, f); err != nil {
					return explain(err, c)
				}
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return fmt.Errorf("snapshot: %w", err)
				}
				info, err = verifySnapshot(f)
				if err != nil {
					return fmt.Errorf("snapshot: the server's stream is incomplete or damaged, nothing was saved: %w", err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if err := success(w, "Snapshot saved to %s", args[0]); err != nil {
				return err
			}
			return writeTable(w, append(snapshotRows(info), row{"File Size", size}))
		},
	}
	conn.add(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up when the whole transfer takes longer (0: no limit)")
	return cmd
}

func newRaftSnapshotRestoreCmd(e *env) *cobra.Command {
	var (
		conn    connFlags
		timeout time.Duration
		force   bool
	)
	cmd := &cobra.Command{
		Use:   "restore [-force] FILE",
		Short: "Replace the cluster's data with a snapshot",
		Long: `Replace the raft cluster's data with the snapshot in FILE, as saved by
keyward operator raft snapshot save. Everything written since the snapshot
is lost. The file is checked whole here first and again by the server,
which changes nothing unless the whole snapshot verifies; a truncated or
altered file is refused and the cluster is left as it was.

A snapshot of another cluster is refused unless -force is given. Forced,
the cluster takes that cluster's data and keyring: the node seals and must
be unsealed with that cluster's unseal keys. Needs sudo on
sys/storage/raft/snapshot (sys/storage/raft/snapshot-force with -force).`,
		Example: `  keyward operator raft snapshot restore keyward.snap
  keyward operator raft snapshot restore -force other-cluster.snap`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := verifySnapshot(f); err != nil {
				return fmt.Errorf("%s: %w: nothing was restored", args[0], err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
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
			s, err := c.RaftSnapshotRestore(ctx, f, force)
			if err != nil {
				return explain(err, c)
			}
			printWarnings(e, s)
			w := cmd.OutOrStdout()
			if s != nil && s.Data["sealed"] == true {
				return success(w, "Snapshot %s restored; the node is sealing: unseal it with the unseal keys of the cluster the snapshot came from", args[0])
			}
			return success(w, "Snapshot %s restored", args[0])
		},
	}
	conn.add(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "restore a snapshot of another cluster too (the node seals for that cluster's keys)")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up when the whole transfer takes longer (0: no limit)")
	return cmd
}

func newRaftSnapshotInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect FILE",
		Short: "Print a snapshot's metadata and verify its checksums (offline)",
		Long: `Print meta.json of a raft snapshot (cluster id, creation time, keyring
term, size) and check SHA256SUMS against the contents end to end. Exit 1
when the file is truncated or altered. It reads only the file: no server
and no key is needed, so SHA256SUMS.sealed, which only the cluster's
keyring opens, is not checked here; a restore checks it.`,
		Example: `  keyward operator raft snapshot inspect keyward.snap`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			info, err := verifySnapshot(f)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			return writeTable(cmd.OutOrStdout(), append(snapshotRows(info),
				row{"Checksums", "ok"},
				row{"Seal", "not checked offline (a restore checks it with the cluster's keyring)"}))
		},
	}
}
