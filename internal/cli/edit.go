package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/filecrypt"
	"github.com/keyward/keyward/internal/inject"
)

func init() { register(newEditCmd) }

func newEditCmd(e *env) *cobra.Command {
	var (
		ff fileFlags
		kf keyFlags
	)
	cmd := &cobra.Command{
		Use:   "edit [flags] FILE",
		Short: "Edit an encrypted file in $EDITOR and encrypt it again",
		Long: `Edit decrypts FILE into a private temporary file (mode 0600, in a 0700
directory on /dev/shm when there is one), opens it in $EDITOR (default vi,
run without KEYWARD_TOKEN and VAULT_TOKEN in its environment),
and encrypts the result with FILE's data key: values you did not change keep
their ciphertext, so the git diff shows only your changes. The temporary
file is removed when the editor exits. A FILE that does not exist yet is
created, encrypted for --age/--transit or its creation rule.`,
		Example: `  keyward edit deploy/prod/secrets.enc.yaml
  EDITOR="code --wait" keyward edit app.enc.env`,
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The plaintext passes through keyward's memory: keep it out of
			// core files and from other processes of the same uid.
			if err := inject.ProtectProcess(); err != nil {
				return err
			}
			file := args[0]
			o, err := ff.options(e)
			if err != nil {
				return err
			}
			prev, err := os.ReadFile(file)
			isNew := errors.Is(err, fs.ErrNotExist)
			if err != nil && !isNew {
				return err
			}
			var plain []byte
			if !isNew {
				if plain, err = filecrypt.Decrypt(cmd.Context(), file, prev, o); err != nil {
					return err
				}
			}
			edited, err := editPlaintext(e, file, plain)
			if err != nil {
				return err
			}
			if !isNew && bytes.Equal(edited, plain) {
				fmt.Fprintf(e.stderr, "keyward: %s unchanged\n", file)
				return nil
			}
			var out []byte
			if isNew {
				s, serr := kf.settings(file)
				if serr != nil {
					return serr
				}
				out, err = filecrypt.Encrypt(cmd.Context(), file, edited, s, o)
			} else {
				out, err = filecrypt.Reencrypt(cmd.Context(), file, edited, prev, o)
			}
			if err != nil {
				return withHint(err, "your edit was not saved; run keyward edit again")
			}
			return replaceFile(file, out)
		},
	}
	ff.conn.add(cmd)
	ff.add(cmd)
	kf.add(cmd)
	return cmd
}

// editDirPrefix names edit directories: keyward-edit-<pid>-<random>.
const editDirPrefix = "keyward-edit-"

// editPlaintext writes plain to a 0600 file in a private directory, runs
// the editor on it and returns what it holds afterwards. The directory is
// removed before returning. SIGINT reaches the editor from the terminal
// and is otherwise ignored; SIGTERM and SIGHUP are passed to the editor
// and end the edit, so the directory is removed then too. Directories of
// an earlier keyward edit that was killed (kill -9) are removed first.
func editPlaintext(e *env, file string, plain []byte) ([]byte, error) {
	root := os.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		root = "/dev/shm"
	}
	cleanStaleEdits(e, root)
	dir, err := os.MkdirTemp(root, fmt.Sprintf("%s%d-", editDirPrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, filepath.Base(file))
	if err := os.WriteFile(tmp, plain, 0o600); err != nil {
		return nil, err
	}
	editor := e.getenv("EDITOR")
	if editor == "" {
		editor = "vi"
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	// exec: the editor is our child itself, so a forwarded signal reaches it.
	c := exec.Command("sh", "-c", "exec "+editor+` "$1"`, "keyward-edit", tmp)
	c.Stdin, c.Stdout, c.Stderr = e.stdin, e.stdout, e.stderr
	c.Env = environWithoutToken() // the editor and its plugins need no token
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("editor %s: %w", editor, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var stopped os.Signal
	for {
		select {
		case err := <-done:
			if stopped != nil {
				return nil, fmt.Errorf("edit stopped by %v (nothing saved)", stopped)
			}
			if err != nil {
				return nil, fmt.Errorf("editor %s: %w (nothing saved)", editor, err)
			}
			return os.ReadFile(tmp)
		case s := <-sigs:
			if s != syscall.SIGINT {
				stopped = s
				_ = c.Process.Signal(s)
			}
		}
	}
}

// cleanStaleEdits removes edit directories in root that belong to this
// user and to a keyward process that no longer runs.
func cleanStaleEdits(e *env, root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, ent := range entries {
		rest, ok := strings.CutPrefix(ent.Name(), editDirPrefix)
		if !ok || !ent.IsDir() {
			continue
		}
		p, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(p)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if processAlive(pid) {
			continue // still running
		}
		dir := filepath.Join(root, ent.Name())
		fi, err := os.Lstat(dir)
		if err != nil {
			continue
		}
		if !ownedByMe(fi) {
			continue
		}
		if err := os.RemoveAll(dir); err == nil {
			fmt.Fprintf(e.stderr, "keyward: removed %s, left by a keyward edit that was killed\n", dir)
		}
	}
}
