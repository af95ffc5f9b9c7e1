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
	cond    sync.Cond // on mu: a batch was written
	sink    sink
	ch      chain // the chain's tip, including lines queued in cur
	sinceCP int
	cur     *batch // lines sealed but not yet handed to the sink
	writing bool   // a writer holds a batch outside mu
	spare   []byte // the last written batch's buffer, for reuse
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
	d.cond.L = &d.mu
	switch cfg.typ {
	case "file":
		d.sink = newFileSink(cfg, name, d.key.Public().(ed25519.PublicKey))
	case "socket":
		d.sink = &netSink{network: cfg.network, address: cfg.address, timeout: cfg.writeTimeout, allowUnsafe: cfg.allowUnsafe}
	case "syslog":
		d.sink = newSyslogSink(cfg)
	}
	if cfg.typ == "file" && !cfg.fsync && cfg.filePath != "stdout" {
		d.flusher.Add(1)
		go d.flush()
	}
	return d
}

// start opens the device. A file continues the chain where its last line
// left it; a new file, and a socket or syslog connection continuing an
// earlier chain, start with a signed open checkpoint, so each verifies on
// its own.
func (d *device) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.head(true)
}

// head opens the destination, and writes the open checkpoint if needed;
// d.mu is held. resume continues the chain from an existing file's last
// line.
func (d *device) head(resume bool) error {
	d.drain()
	if d.closed {
		return errClosed // closed while draining
	}
	return d.open(resume)
}

// open is head without the drain; d.mu is held and the device drained.
func (d *device) open(resume bool) error {
	fs, isFile := d.sink.(*fileSink)
	if !isFile || fs.stdout != nil {
		if d.ch.seq == 0 {
			return nil
		}
		return d.writeCheckpoint("open")
	}
	fresh, last, err := fs.open()
	if err != nil {
		return err
	}
	if !fresh {
		var v struct {
			Seq *uint64 `json:"seq"`
		}
		if resume && last != nil && json.Unmarshal(last, &v) == nil && v.Seq != nil {
			d.ch = chain{seq: *v.Seq, prev: lineHash(last)}
		}
		return nil
	}
	return d.writeCheckpoint("open")
}

// batch is a group of sealed lines written with one write(2): concurrent
// writers queue their line in the open batch, and whichever finds no
// write in progress writes the whole batch while the others wait for its
// result (group commit). Lines are sealed in chain order under d.mu, so the
// batch holds them in seq order.
type batch struct {
	buf     []byte
	start   chain // the chain before the batch's first line
	sinceCP int   // d.sinceCP before the batch
	done    bool
	err     error
}

// write appends one entry body (a JSON object) as the next line of the
// chain. It returns once the line was accepted by the operating system
// (and synced, with fsync=true), or with the error that prevented it.
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
	if fs, ok := d.sink.(*fileSink); ok && !fs.isOpen() {
		// Closed by a failed write: reopen under the same rules as at
		// start, with the open checkpoint a new file needs.
		if err := d.head(false); err != nil {
			d.fail(now, err)
			return err
		}
	}
	b := d.cur
	if b == nil {
		b = &batch{buf: d.spare, start: d.ch, sinceCP: d.sinceCP}
		d.spare = nil
		d.cur = b
	}
	b.buf, d.ch = d.ch.appendSealed(b.buf, body)
	d.sinceCP++
	if d.sinceCP >= d.cfg.checkpointInterval {
		b.buf, d.ch = d.ch.appendCheckpoint(b.buf, d.now(), "interval", "", d.key)
		d.sinceCP = 0
	}
	for !b.done {
		if d.writing {
			d.cond.Wait()
			continue
		}
		d.writeBatch()
	}
	return b.err
}

// writeBatch hands the open batch to the sink; d.mu is held, and released
// during the write.
func (d *device) writeBatch() {
	b := d.cur
	d.cur = nil
	d.writing = true
	d.mu.Unlock()
	werr := d.sink.write(b.buf)
	var serr error
	if werr == nil && d.cfg.fsync {
		serr = d.sink.sync()
	}
	d.mu.Lock()
	d.writing = false
	now := d.now()
	switch {
	case werr != nil:
		// Nothing of the batch counts: the chain resumes after the last
		// line written, and the lines queued since (chained on this
		// batch) fail too.
		d.fail(now, werr)
		d.ch, d.sinceCP = b.start, b.sinceCP
		if next := d.cur; next != nil {
			d.cur = nil
			next.done, next.err = true, werr
		}
		b.err = werr
	case serr != nil:
		// The lines are in the file (the chain stays advanced), but their
		// durability is unknown: refuse the requests.
		d.fail(now, serr)
		b.err = fmt.Errorf("sync: %w", serr)
	default:
		if d.failed {
			d.failed = false
			d.backoff = 0
			d.logger.Info("audit device recovered")
		}
		if !d.cfg.fsync {
			select {
			case d.dirty <- struct{}{}:
			default:
			}
		}
	}
	b.done = true
	if cap(b.buf) <= 256<<10 {
		d.spare = b.buf[:0]
	}
	b.buf = nil
	d.cond.Broadcast()
}

// drain waits until every queued line was written and no write is in
// progress, so the sink can be used directly; d.mu is held.
func (d *device) drain() {
	for d.writing || d.cur != nil {
		if !d.writing {
			d.writeBatch()
			continue
		}
		d.cond.Wait()
	}
}

// writeCheckpoint appends a signed checkpoint (an open checkpoint names the
// device); d.mu is held and the device drained.
func (d *device) writeCheckpoint(reason string) error {
	device := ""
	if reason == "open" {
		device = d.name
	}
	line, next := d.ch.appendCheckpoint(nil, d.now(), reason, device, d.key)
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
	d.drain()
	if err := d.sink.reopen(); err != nil {
		return err
	}
	if err := d.head(false); err != nil {
		d.fail(d.now(), err)
		return err
	}
	return nil
}

// close writes a final signed checkpoint and closes the destination. It
// returns the chain position to persist.
func (d *device) close() (chainState, error) {
	close(d.stop)
	d.flusher.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.drain()
	var errs []error
	if d.ch.seq > 0 {
		var err error
		if fs, ok := d.sink.(*fileSink); ok && !fs.isOpen() {
			err = d.open(false) // closed by a failed write
		}
		if err == nil {
			err = d.writeCheckpoint("close")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("final checkpoint: %w", err))
		}
	}
	if err := d.sink.close(); err != nil {
		errs = append(errs, err)
	}
	return chainState{Seq: d.ch.seq, Prev: d.ch.prev}, errors.Join(errs...)
}
