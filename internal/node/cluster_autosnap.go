package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Automated snapshots (Vault Enterprise's sys/storage/raft/snapshot-auto
// API, local storage only): each named configuration takes a raft
// snapshot every interval into a directory, keeping the newest retain
// files. Only the active node takes them; the schedule resumes on the new
// active node after a failover, from the time of the last snapshot on
// disk, so a failover neither skips nor doubles one.

const autoSnapPath = "core/cluster/snapshot-auto/"

var autoSnapName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// autoSnapConfig is one configuration, in Vault's field names.
type autoSnapConfig struct {
	Interval      duration `json:"interval"`
	Retain        int      `json:"retain"`
	StorageType   string   `json:"storage_type"`
	PathPrefix    string   `json:"path_prefix"`
	FilePrefix    string   `json:"file_prefix"`
	LocalMaxSpace int64    `json:"local_max_space"`
}

// autoSnapStatus is what status/NAME reports.
type autoSnapStatus struct {
	ConsecutiveErrors int       `json:"consecutive_errors"`
	LastStart         time.Time `json:"last_snapshot_start"`
	LastEnd           time.Time `json:"last_snapshot_end"`
	LastError         string    `json:"last_snapshot_error"`
	LastURL           string    `json:"last_snapshot_url"`
	NextStart         time.Time `json:"next_snapshot_start"`
}

// autoSnapshots runs the configurations on the active node.
type autoSnapshots struct {
	mu     sync.Mutex
	status map[string]*autoSnapStatus
}

func newAutoSnapshots() *autoSnapshots {
	return &autoSnapshots{status: map[string]*autoSnapStatus{}}
}

func (s *clusterBackend) autoSnapRoutes() []logical.Route {
	return []logical.Route{
		{Pattern: "storage/raft/snapshot-auto/config", Sudo: true, Ops: ops{logical.ListOperation: s.autoSnapList, logical.ReadOperation: s.autoSnapList},
			Synopsis: "List the automated snapshot configurations."},
		{Pattern: "storage/raft/snapshot-auto/config/{name}", Sudo: true,
			Ops:      ops{logical.ReadOperation: s.autoSnapRead, logical.UpdateOperation: s.autoSnapWrite, logical.CreateOperation: s.autoSnapWrite, logical.DeleteOperation: s.autoSnapDelete},
			Synopsis: "Configure snapshots taken on a schedule into a local directory.",
			Fields: logical.Fields{
				{Name: "name", InPath: true, Description: "The configuration's name."},
				{Name: "interval", Description: "Time between snapshots (at least 1m, as Vault; tests may use less)."},
				{Name: "retain", Type: logical.TypeInt, Description: "How many snapshots to keep (1)."},
				{Name: "storage_type", Description: "Where to write: only \"local\"."},
				{Name: "path_prefix", Description: "The absolute directory the snapshots go to."},
				{Name: "file_prefix", Description: "The start of each file name (keyward-snapshot)."},
				{Name: "local_max_space", Type: logical.TypeInt, Description: "Refuse a snapshot that would make the kept files exceed this many bytes (0: no limit)."},
			}},
		{Pattern: "storage/raft/snapshot-auto/status/{name}", Sudo: true, Ops: ops{logical.ReadOperation: s.autoSnapStatusReq},
			Synopsis: "Report an automated snapshot configuration's last and next run."},
	}
}

// minAutoInterval is the shortest interval accepted.
var minAutoInterval = time.Minute

func (s *clusterBackend) autoSnapWrite(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	name := p["name"]
	if !autoSnapName.MatchString(name) {
		return nil, logical.BadRequest("name must be 1 to 64 letters, digits, '_' or '-'")
	}
	if err := logical.UnknownFields(req.Data, "interval", "retain", "storage_type", "path_prefix", "file_prefix", "local_max_space"); err != nil {
		return nil, err
	}
	cfg := autoSnapConfig{Retain: 1, StorageType: "local", FilePrefix: "keyward-snapshot"}
	if old, err := s.loadAutoSnap(ctx, name); err != nil {
		return nil, err
	} else if old != nil {
		cfg = *old
	}
	if v, ok, err := logical.Duration(req.Data, "interval"); err != nil {
		return nil, logical.BadRequest("interval: %v", err)
	} else if ok {
		cfg.Interval = duration(v)
	}
	if v, ok, err := logical.Int(req.Data, "retain"); err != nil {
		return nil, logical.BadRequest("retain: %v", err)
	} else if ok {
		cfg.Retain = v
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"storage_type", &cfg.StorageType}, {"path_prefix", &cfg.PathPrefix}, {"file_prefix", &cfg.FilePrefix}} {
		if v, ok, err := logical.Str(req.Data, f.name); err != nil {
			return nil, logical.BadRequest("%s: %v", f.name, err)
		} else if ok {
			*f.dst = v
		}
	}
	if v, ok, err := logical.Int(req.Data, "local_max_space"); err != nil {
		return nil, logical.BadRequest("local_max_space: %v", err)
	} else if ok {
		cfg.LocalMaxSpace = int64(v)
	}
	var errs []string
	if time.Duration(cfg.Interval) < minAutoInterval {
		errs = append(errs, fmt.Sprintf("interval must be at least %s", minAutoInterval))
	}
	if cfg.Retain < 1 {
		errs = append(errs, "retain must be at least 1")
	}
	if cfg.StorageType != "local" {
		errs = append(errs, `storage_type must be "local" (cloud storage is not supported)`)
	}
	if !filepath.IsAbs(cfg.PathPrefix) || filepath.Clean(cfg.PathPrefix) == "/" {
		errs = append(errs, "path_prefix must be an absolute directory other than /")
	}
	if cfg.FilePrefix == "" || strings.ContainsAny(cfg.FilePrefix, `/\`) || strings.HasPrefix(cfg.FilePrefix, ".") {
		errs = append(errs, "file_prefix must be a plain file name start")
	}
	if cfg.LocalMaxSpace < 0 {
		errs = append(errs, "local_max_space must not be negative")
	}
	if len(errs) > 0 {
		return nil, logical.BadRequest("%s", strings.Join(errs, "; "))
	}
	raw, _ := json.Marshal(cfg)
	if err := s.c.core.Barrier().Put(ctx, autoSnapPath+name, raw); err != nil {
		return nil, err
	}
	return nil, nil
}

func (s *clusterBackend) loadAutoSnap(ctx context.Context, name string) (*autoSnapConfig, error) {
	raw, err := s.c.core.Barrier().Get(ctx, autoSnapPath+name)
	if err != nil || raw == nil {
		return nil, err
	}
	var cfg autoSnapConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("read snapshot-auto config %s: %w", name, err)
	}
	return &cfg, nil
}

func (s *clusterBackend) autoSnapRead(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	cfg, err := s.loadAutoSnap(ctx, p["name"])
	if err != nil || cfg == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"interval": int64(time.Duration(cfg.Interval).Seconds()), "retain": cfg.Retain, "storage_type": cfg.StorageType,
		"path_prefix": cfg.PathPrefix, "file_prefix": cfg.FilePrefix, "local_max_space": cfg.LocalMaxSpace,
	}}, nil
}

func (s *clusterBackend) autoSnapDelete(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	return nil, s.c.core.Barrier().Delete(ctx, autoSnapPath+p["name"])
}

func (s *clusterBackend) autoSnapList(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	names, err := s.c.core.Barrier().List(ctx, autoSnapPath)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, nil
	}
	return &logical.Response{Data: map[string]any{"keys": names}}, nil
}

func (s *clusterBackend) autoSnapStatusReq(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	cfg, err := s.loadAutoSnap(ctx, p["name"])
	if err != nil || cfg == nil {
		return nil, err
	}
	s.auto.mu.Lock()
	st := s.auto.status[p["name"]]
	var out autoSnapStatus
	if st != nil {
		out = *st
	}
	s.auto.mu.Unlock()
	fmtTime := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return &logical.Response{Data: map[string]any{
		"consecutive_errors": out.ConsecutiveErrors, "last_snapshot_start": fmtTime(out.LastStart), "last_snapshot_end": fmtTime(out.LastEnd),
		"last_snapshot_error": out.LastError, "last_snapshot_url": out.LastURL, "next_snapshot_start": fmtTime(out.NextStart),
	}}, nil
}

// runAutoSnapshots checks the configurations every second while the node
// is active.
func (s *clusterBackend) runAutoSnapshots(done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-done:
				cancel()
			case <-ctx.Done():
			}
		}()
		s.autoSnapTick(ctx)
		cancel()
	}
}

func (s *clusterBackend) autoSnapTick(ctx context.Context) {
	names, err := s.c.core.Barrier().List(ctx, autoSnapPath)
	if err != nil {
		return
	}
	now := time.Now()
	for _, name := range names {
		cfg, err := s.loadAutoSnap(ctx, name)
		if err != nil || cfg == nil {
			continue
		}
		s.auto.mu.Lock()
		st := s.auto.status[name]
		if st == nil {
			st = &autoSnapStatus{}
			// Resume the schedule from the newest snapshot on disk.
			last := newestSnapshot(cfg)
			st.NextStart = now
			if !last.IsZero() {
				st.NextStart = last.Add(time.Duration(cfg.Interval))
			}
			s.auto.status[name] = st
		}
		due := !now.Before(st.NextStart)
		s.auto.mu.Unlock()
		if !due {
			continue
		}
		start := time.Now()
		path, err := s.takeAutoSnapshot(ctx, cfg, start)
		s.auto.mu.Lock()
		st.LastStart, st.LastEnd = start, time.Now()
		st.NextStart = start.Add(time.Duration(cfg.Interval))
		if err != nil {
			st.ConsecutiveErrors++
			st.LastError = err.Error()
			s.c.logger.Error("automated snapshot failed", "config", name, "err", err)
		} else {
			st.ConsecutiveErrors, st.LastError, st.LastURL = 0, "", "file://"+path
			s.c.logger.Info("automated snapshot written", "config", name, "path", path)
		}
		s.auto.mu.Unlock()
	}
	// Forget the status of deleted configurations.
	s.auto.mu.Lock()
	for name := range s.auto.status {
		found := false
		for _, n := range names {
			found = found || n == name
		}
		if !found {
			delete(s.auto.status, name)
		}
	}
	s.auto.mu.Unlock()
}

// snapshotFiles returns cfg's snapshot files, oldest first.
func snapshotFiles(cfg *autoSnapConfig) []string {
	entries, err := os.ReadDir(cfg.PathPrefix)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, cfg.FilePrefix+"-") && strings.HasSuffix(n, ".snap") {
			out = append(out, n)
		}
	}
	sort.Strings(out) // the names hold a fixed-width UTC time
	return out
}

// newestSnapshot returns the modification time of cfg's newest file.
func newestSnapshot(cfg *autoSnapConfig) time.Time {
	files := snapshotFiles(cfg)
	if len(files) == 0 {
		return time.Time{}
	}
	fi, err := os.Stat(filepath.Join(cfg.PathPrefix, files[len(files)-1]))
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// takeAutoSnapshot writes one snapshot (temp file, fsync, rename, 0600)
// and removes the oldest files beyond cfg.Retain.
func (s *clusterBackend) takeAutoSnapshot(ctx context.Context, cfg *autoSnapConfig, at time.Time) (string, error) {
	if err := os.MkdirAll(cfg.PathPrefix, 0o700); err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s-%s.snap", cfg.FilePrefix, at.UTC().Format("20060102T150405.000000000Z"))
	final := filepath.Join(cfg.PathPrefix, name)
	tmp, err := os.CreateTemp(cfg.PathPrefix, ".tmp-"+cfg.FilePrefix+"-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := s.c.core.WriteRaftSnapshot(ctx, tmp); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	fi, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	files := snapshotFiles(cfg)
	if cfg.LocalMaxSpace > 0 {
		total := fi.Size()
		keep := files
		if len(keep) > cfg.Retain-1 {
			keep = keep[len(keep)-(cfg.Retain-1):]
		}
		for _, f := range keep {
			if st, err := os.Stat(filepath.Join(cfg.PathPrefix, f)); err == nil {
				total += st.Size()
			}
		}
		if total > cfg.LocalMaxSpace {
			return "", fmt.Errorf("the kept snapshots would take %d bytes, over local_max_space %d", total, cfg.LocalMaxSpace)
		}
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", err
	}
	if d, err := os.Open(cfg.PathPrefix); err == nil {
		d.Sync()
		d.Close()
	}
	files = snapshotFiles(cfg)
	var errs []error
	for len(files) > cfg.Retain {
		if err := os.Remove(filepath.Join(cfg.PathPrefix, files[0])); err != nil {
			errs = append(errs, err)
		}
		files = files[1:]
	}
	return final, errors.Join(errs...)
}
