package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// ErrNoDevice is returned by LogRequest and LogResponse when devices are
// enabled but none recorded the entry: the request must be refused.
var ErrNoDevice = logical.Errorf(http.StatusInternalServerError, "audit: no device could record the request")

// Storage keys inside the broker's view.
const (
	tableKey    = "devices"
	keysPrefix  = "keys/"
	statePrefix = "state/"
)

// DeviceEntry is a device as stored and listed (Vault's sys/audit shape).
type DeviceEntry struct {
	Path        string            `json:"path"`
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Options     map[string]string `json:"options"`
	Local       bool              `json:"local"`
}

// deviceKeys are a device's secrets, stored only through the barrier.
type deviceKeys struct {
	HMAC []byte `json:"hmac"`
	Seed []byte `json:"ed25519_seed"`
}

// Broker fans entries out to the enabled devices. It is the audit service
// of sys/: a logical.Backend serving sys/audit, sys/audit/NAME,
// sys/audit/NAME/public-key and sys/audit-hash/NAME from its routes, and
// the core's audit broker (LogRequest, LogResponse). All methods are safe
// for concurrent use.
type Broker struct {
	*logical.Router

	view   logical.Storage
	logger *slog.Logger
	opts   Options
	now    func() time.Time

	mu      sync.Mutex // serialises table changes
	table   map[string]DeviceEntry
	devices atomic.Pointer[[]*device] // sorted by name; replaced on change

	closeOnce sync.Once
	done      chan struct{}
}

// New restores the device table from view and opens every device. A
// device that cannot be opened stays enabled and failing (requests are
// refused if no other device works) and is retried on each write.
func New(ctx context.Context, view logical.Storage, logger *slog.Logger, opts Options) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{view: view, logger: logger.With("component", "audit"), opts: opts, now: opts.Now, done: make(chan struct{})}
	if b.now == nil {
		b.now = time.Now
	}
	raw, err := view.Get(ctx, tableKey)
	if err != nil {
		return nil, fmt.Errorf("audit: load device table: %w", err)
	}
	b.table = map[string]DeviceEntry{}
	if raw != nil {
		if err := json.Unmarshal(raw, &b.table); err != nil {
			return nil, fmt.Errorf("audit: decode device table: %w", err)
		}
	}
	var devs []*device
	for name, e := range b.table {
		// The policy may have tightened since the device was enabled:
		// a device it now refuses is not opened, and is reported.
		cfg, err := opts.parseConfig(e.Type, e.Options)
		refused := err
		if refused != nil {
			b.logger.Error("audit device refused by server policy; it stays enabled but records nothing until disabled", "device", name, "err", refused)
		}
		d, err := b.openDevice(ctx, name, cfg)
		if err != nil {
			return nil, err
		}
		if refused != nil {
			d.sink = refusedSink{fmt.Errorf("device refused by server policy: %w", refused)}
			d.mu.Lock()
			d.failed = true // reported above: back off without a second error line
			d.fail(b.now(), refused)
			d.mu.Unlock()
		} else if err := d.start(); err != nil {
			b.logger.Error("audit device could not be opened; requests need another device until it recovers", "device", name, "err", err)
			d.mu.Lock()
			d.fail(b.now(), err)
			d.mu.Unlock()
		}
		devs = append(devs, d)
	}
	sortDevices(devs)
	b.devices.Store(&devs)
	b.Router = newBackend(b).Router
	return b, nil
}

func sortDevices(devs []*device) {
	sort.Slice(devs, func(i, j int) bool { return devs[i].name < devs[j].name })
}

// openDevice loads (or creates) a device's keys and chain state.
func (b *Broker) openDevice(ctx context.Context, name string, cfg deviceConfig) (*device, error) {
	keys, err := b.keys(ctx, name)
	if err != nil {
		return nil, err
	}
	var st chainState
	raw, err := b.view.Get(ctx, statePrefix+name)
	if err != nil {
		return nil, fmt.Errorf("audit: load chain state of %s: %w", name, err)
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil, fmt.Errorf("audit: decode chain state of %s: %w", name, err)
		}
	}
	return newDevice(name, cfg, keys, st, b.now, b.logger), nil
}

// keys returns the device's keys, creating them on first use. Keys are
// kept when a device is disabled, so a device re-enabled under the same
// name continues its chain and its old public key stays available.
func (b *Broker) keys(ctx context.Context, name string) (*deviceKeys, error) {
	raw, err := b.view.Get(ctx, keysPrefix+name)
	if err != nil {
		return nil, fmt.Errorf("audit: load keys of %s: %w", name, err)
	}
	if raw != nil {
		var k deviceKeys
		if err := json.Unmarshal(raw, &k); err != nil || len(k.HMAC) != 32 || len(k.Seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("audit: keys of %s are damaged", name)
		}
		return &k, nil
	}
	k := &deviceKeys{HMAC: make([]byte, 32), Seed: make([]byte, ed25519.SeedSize)}
	rand.Read(k.HMAC)
	rand.Read(k.Seed)
	raw, err = json.Marshal(k)
	if err != nil {
		return nil, err
	}
	if err := b.view.Put(ctx, keysPrefix+name, raw); err != nil {
		return nil, fmt.Errorf("audit: store keys of %s: %w", name, err)
	}
	return k, nil
}

func (b *Broker) list() []*device { return *b.devices.Load() }

// LogRequest records the request entry on every device. It fails when
// devices are enabled and none of them recorded it.
func (b *Broker) LogRequest(ctx context.Context, req *logical.Request, authErr error) error {
	devs := b.list()
	if len(devs) == 0 {
		return nil
	}
	return b.fanOut(devs, func(d *device, buf, ts []byte) []byte {
		return d.appendRequestEntry(buf, ts, req, authErr)
	})
}

// LogResponse records the response entry (or the error) on every device.
func (b *Broker) LogResponse(ctx context.Context, req *logical.Request, resp *logical.Response, respErr error) error {
	devs := b.list()
	if len(devs) == 0 {
		return nil
	}
	return b.fanOut(devs, func(d *device, buf, ts []byte) []byte {
		return d.appendResponseEntry(buf, ts, req, resp, respErr)
	})
}

// fanOut encodes the entry for each device (each has its own HMAC key and
// options) and writes it there.
func (b *Broker) fanOut(devs []*device, build func(d *device, buf, ts []byte) []byte) error {
	var tsBuf [48]byte
	ts := appendTime(tsBuf[:0], b.now())
	buf := getBuf()
	defer putBuf(buf)
	ok := 0
	for _, d := range devs {
		*buf = build(d, (*buf)[:0], ts)
		if err := d.write(*buf); err != nil {
			if !errors.Is(err, errBackingOff) {
				b.logger.Warn("audit device could not record an entry", "device", d.name, "err", err)
			}
			continue
		}
		ok++
	}
	if ok == 0 {
		return ErrNoDevice
	}
	return nil
}

// Reopen reopens every device's destination: files are reopened at their
// path (after logrotate renamed them), sockets reconnect. It is what SIGHUP
// triggers.
func (b *Broker) Reopen() error {
	var errs []error
	for _, d := range b.list() {
		if err := d.reopen(); err != nil {
			errs = append(errs, fmt.Errorf("audit: reopen %s: %w", d.name, err))
		}
	}
	return errors.Join(errs...)
}

// Done is closed when the broker closes.
func (b *Broker) Done() <-chan struct{} { return b.done }

// Close writes a final signed checkpoint to every device, persists each
// chain position and closes the devices.
func (b *Broker) Close() error {
	var errs []error
	b.closeOnce.Do(func() {
		close(b.done)
		b.mu.Lock()
		defer b.mu.Unlock()
		empty := []*device{}
		devs := *b.devices.Swap(&empty)
		for _, d := range devs {
			if err := b.closeDevice(d); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

func (b *Broker) closeDevice(d *device) error {
	st, err := d.close()
	if err != nil {
		err = fmt.Errorf("audit: close %s: %w", d.name, err)
	}
	raw, _ := json.Marshal(st)
	// A sealed barrier cannot store: the next start recovers the position
	// from the file itself.
	if perr := b.view.Put(context.Background(), statePrefix+d.name, raw); perr != nil {
		b.logger.Warn("audit chain position not stored", "device", d.name, "err", perr)
	}
	return err
}

// Backend returns b, which serves its sys/ paths itself.
func (b *Broker) Backend() logical.Backend { return b }
