package audit

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Backoff after a failed write: the device is not retried (requests fail
// fast on it) until it expires, then each write tries to reopen.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
	// flushEvery is the longest a written line waits for its group fsync.
	flushEvery = 20 * time.Millisecond
)

// errBackingOff is returned while a failed device waits to retry.
var errBackingOff = errors.New("device failed recently; retrying shortly")

// errClosed is returned by a device written after it was disabled.
var errClosed = errors.New("device is closed")

// device is one enabled audit device. write is safe for concurrent use.
type device struct {
	name   string
	cfg    deviceConfig
	h      *hasher
	eo     entryOptions
	key    ed25519.PrivateKey
	now    func() time.Time
	logger *slog.Logger

	mu      sync.Mutex
	sink    sink
	ch      chain
	sinceCP int
	failed  bool
	closed  bool
	retryAt time.Time
	backoff time.Duration

	dirty   chan struct{}
	stop    chan struct{}
	flusher sync.WaitGroup
}

func newDevice(name string, cfg deviceConfig, keys *deviceKeys, st chainState, now func() time.Time, logger *slog.Logger) *device {
	d := &device{
		name:   name,
		cfg:    cfg,
		h:      newHasher(keys.HMAC, cfg.logRaw),
		eo:     entryOptions{hmacAccessor: cfg.hmacAccessor, elideListResponses: cfg.elideListResponses},
		key:    ed25519.NewKeyFromSeed(keys.Seed),
		now:    now,
		logger: logger.With("device", name),
		ch:     chain{seq: st.Seq, prev: st.Prev},
		dirty:  make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	switch cfg.typ {
	case "file":
		fs := newFileSink(cfg)
		d.sink = fs
		// A file that already holds a chain continues it.
		if last := lastLine(cfg.filePath); last != nil {
			var v struct {
				Seq *uint64 `json:"seq"`
			}
			if json.Unmarshal(last, &v) == nil && v.Seq != nil {
				d.ch = chain{seq: *v.Seq, prev: lineHash(last)}
			}
		}
	case "socket":
		d.sink = &netSink{network: cfg.network, address: cfg.address, timeout: cfg.writeTimeout}
	case "syslog":
		d.sink = newSyslogSink(cfg)
	}
	if cfg.typ == "file" && !cfg.fsync && cfg.filePath != "stdout" {
		d.flusher.Add(1)
		go d.flush()
	}
	return d
}

// start opens the device and, when it continues an earlier chain on an
// empty destination, writes a signed "open" checkpoint so the new file
// verifies on its own.
func (d *device) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.head()
}

// head writes the open checkpoint if needed; d.mu is held.
func (d *device) head() error {
	fs, isFile := d.sink.(*fileSink)
	if isFile && fs.stdout == nil {
		if err := fs.open(); err != nil {
			return err
		}
	}
	if d.ch.seq == 0 || (isFile && !fs.empty()) {
		return nil
	}
	return d.writeCheckpoint("open")
}

// write appends one entry body (a JSON object) as the next line of the
// chain. It returns once the line was accepted by the operating system.
func (d *device) write(body []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if d.closed {
		return errClosed
	}
	if d.failed && now.Before(d.retryAt) {
		return errBackingOff
	}
	line, next := d.ch.seal(body)
	if err := d.sink.write(line); err != nil {
		d.fail(now, err)
		return err
	}
	if d.failed {
		d.failed = false
		d.backoff = 0
		d.logger.Info("audit device recovered")
	}
	d.ch = next
	d.sinceCP++
	if d.sinceCP >= d.cfg.checkpointInterval {
		if err := d.writeCheckpoint("interval"); err != nil {
			d.logger.Warn("audit checkpoint failed", "err", err)
		}
	}
	if d.cfg.fsync {
		if err := d.sink.sync(); err != nil {
			d.fail(now, err)
			return fmt.Errorf("sync: %w", err)
		}
	} else {
		select {
		case d.dirty <- struct{}{}:
		default:
		}
	}
	return nil
}

// writeCheckpoint appends a signed checkpoint; d.mu is held.
func (d *device) writeCheckpoint(reason string) error {
	line, next := d.ch.checkpoint(d.now(), reason, d.key)
	if err := d.sink.write(line); err != nil {
		return err
	}
	d.ch = next
	d.sinceCP = 0
	return nil
}

func (d *device) fail(now time.Time, err error) {
	if !d.failed {
		d.logger.Error("audit device failed", "err", err)
	}
	d.failed = true
	d.backoff = min(max(2*d.backoff, minBackoff), maxBackoff)
	if later := d.now(); later.After(now) {
		now = later // a write may have blocked until its timeout
	}
	d.retryAt = now.Add(d.backoff)
}

// flush fsyncs written lines in groups until the device closes.
func (d *device) flush() {
	defer d.flusher.Done()
	t := time.NewTimer(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-d.dirty:
		}
		if err := d.sink.sync(); err != nil {
			d.logger.Warn("audit fsync failed", "err", err)
		}
		t.Reset(flushEvery)
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
	}
}

// reopen closes and reopens the destination (after logrotate moved it).
func (d *device) reopen() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	if err := d.sink.reopen(); err != nil {
		return err
	}
	return d.head()
}

// state is the chain position to persist.
func (d *device) state() chainState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return chainState{Seq: d.ch.seq, Prev: d.ch.prev}
}

// close writes a final signed checkpoint and closes the destination. It
// returns the chain position to persist.
func (d *device) close() (chainState, error) {
	close(d.stop)
	d.flusher.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	var errs []error
	if d.ch.seq > 0 {
		if err := d.writeCheckpoint("close"); err != nil {
			errs = append(errs, fmt.Errorf("final checkpoint: %w", err))
		}
	}
	if err := d.sink.close(); err != nil {
		errs = append(errs, err)
	}
	return chainState{Seq: d.ch.seq, Prev: d.ch.prev}, errors.Join(errs...)
}
