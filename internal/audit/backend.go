package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/keyward/keyward/internal/logical"
)

// backend serves the sys/ endpoints of the broker from its routes (paths
// relative to sys/; the routes flagged Sudo need it).
type backend struct {
	*logical.Router
	b *Broker
}

func newBackend(b *Broker) *backend {
	be := &backend{b: b}
	be.Router = logical.NewRouter(backendHelp, be.routes()...)
	return be
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

const backendHelp = `The audit endpoints of sys/ enable, list and disable audit devices (file,
socket, syslog), compute the HMAC an audit log holds for a value, and give
each device's checkpoint signing key.`

// ops is shorthand for a route's operation table.
type ops = map[logical.Operation]logical.Handler

var deviceNameDoc = logical.Field{Name: "path", InPath: true, Description: "The device's name: letters, digits, _ - and ."}

var enableDocs = logical.Fields{
	deviceNameDoc,
	{Name: "type", Description: "file, socket or syslog."},
	{Name: "description", Description: "A human-friendly description."},
	{Name: "options", Type: logical.TypeKVPairs, Description: "The device's options (file: file_path, mode; socket: address, socket_type; syslog: facility, tag; all: hmac_accessor, log_raw is refused)."},
	{Name: "local", Type: logical.TypeBool, Description: "Accepted for compatibility; every device is local to this server."},
	{Name: "name", Description: "Accepted when it repeats the path's name (node-vault sends it)."},
}

var hashDocs = logical.Fields{
	deviceNameDoc,
	{Name: "input", Description: "The value to hash as the device's log would hold it."},
}

func (be *backend) routes() []logical.Route {
	b := be.b
	return []logical.Route{
		{Pattern: "audit", Sudo: true, Ops: ops{logical.ReadOperation: b.listDevicesReq, logical.ListOperation: b.listDevicesReq},
			Synopsis: "List the enabled audit devices."},
		{Pattern: "audit-hash/{path}", Ops: ops{logical.UpdateOperation: b.hash},
			Synopsis: "Hash a value with a device's HMAC key, to find it in the log.", Fields: hashDocs},
		{Pattern: "audit/{path}/public-key", Sudo: true, Ops: ops{logical.ReadOperation: b.publicKey},
			Synopsis:    "Read the Ed25519 key that verifies a device's checkpoints.",
			Description: "Kept after the device is disabled, so its old logs stay verifiable.",
			Fields:      logical.Fields{deviceNameDoc}},
		{Pattern: "audit/{path}", Sudo: true, Ops: ops{logical.UpdateOperation: b.enableReq, logical.DeleteOperation: b.disableReq},
			Synopsis: "Enable or disable an audit device.", Fields: enableDocs},
	}
}

func (b *Broker) listDevicesReq(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	return b.listDevices(), nil
}

func (b *Broker) enableReq(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return nil, b.enable(ctx, p["path"], req.Data)
}

func (b *Broker) disableReq(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	return nil, b.disable(ctx, p["path"])
}

func (b *Broker) listDevices() *logical.Response {
	b.mu.Lock()
	defer b.mu.Unlock()
	data := make(map[string]any, len(b.table))
	for name, e := range b.table {
		data[name+"/"] = map[string]any{
			"path":        e.Path,
			"type":        e.Type,
			"description": e.Description,
			"options":     maps.Clone(e.Options),
			"local":       e.Local,
		}
	}
	return &logical.Response{Data: data}
}

func (b *Broker) device(name string) *device {
	for _, d := range b.list() {
		if d.name == name {
			return d
		}
	}
	return nil
}

func (b *Broker) hash(_ context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	name := p["path"]
	if err := hashDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	in, ok, err := logical.Str(req.Data, "input")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, logical.BadRequest("input is required")
	}
	d := b.device(name)
	if d == nil {
		return nil, logical.BadRequest("no audit device named %q", name)
	}
	return &logical.Response{Data: map[string]any{"hash": d.h.Hash(in)}}, nil
}

func (b *Broker) publicKey(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	name := p["path"]
	if !nameRE.MatchString(name) {
		return nil, logical.BadRequest("invalid audit device name %q", name)
	}
	b.mu.Lock()
	_, enabled := b.table[name]
	b.mu.Unlock()
	raw, err := b.view.Get(ctx, keysPrefix+name)
	if err != nil {
		return nil, fmt.Errorf("audit: load keys of %s: %w", name, err)
	}
	if raw == nil {
		return nil, logical.Errorf(http.StatusNotFound, "no audit device named %q", name)
	}
	var k deviceKeys
	if err := json.Unmarshal(raw, &k); err != nil || len(k.Seed) != 32 {
		return nil, fmt.Errorf("audit: keys of %s are damaged", name)
	}
	pub := ed25519.NewKeyFromSeed(k.Seed).Public().(ed25519.PublicKey)
	return &logical.Response{Data: map[string]any{
		"public_key": base64.StdEncoding.EncodeToString(pub),
		"algorithm":  "ed25519",
		"enabled":    enabled,
	}}, nil
}

func (b *Broker) enable(ctx context.Context, name string, data map[string]any) error {
	if !nameRE.MatchString(name) {
		return logical.BadRequest("invalid audit device name %q: use letters, digits, '_', '-' and '.'", name)
	}
	if err := enableDocs.Unknown(data); err != nil {
		return err
	}
	// node-vault's enableAudit() sends the device's name in the body too;
	// it may only repeat the path's.
	if n, ok, err := logical.Str(data, "name"); err != nil {
		return err
	} else if ok && n != name {
		return logical.BadRequest("name %q does not match the path's device name %q", n, name)
	}
	typ, _, err := logical.Str(data, "type")
	if err != nil {
		return err
	}
	desc, _, err := logical.Str(data, "description")
	if err != nil {
		return err
	}
	opts, _, err := logical.StringMap(data, "options")
	if err != nil {
		return err
	}
	local, _, err := logical.Bool(data, "local")
	if err != nil {
		return err
	}
	if typ == "" {
		return logical.BadRequest("type is required")
	}
	cfg, err := b.opts.parseConfig(typ, opts)
	if err != nil {
		return logical.BadRequest("%v", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.table[name]; ok {
		return logical.BadRequest("an audit device is already enabled at %q", name)
	}
	for _, d := range b.list() {
		if cfg.typ == "file" && cfg.filePath != "stdout" && d.cfg.typ == "file" && d.cfg.fileRel != "" &&
			filepath.Join(d.cfg.fileDir, d.cfg.fileRel) == filepath.Join(cfg.fileDir, cfg.fileRel) {
			return logical.BadRequest("audit device %q already writes to %s", d.name, cfg.filePath)
		}
	}
	d, err := b.openDevice(ctx, name, cfg)
	if err != nil {
		return err
	}
	if err := d.start(); err != nil {
		d.close()
		return logical.BadRequest("audit device %q could not be opened: %v", name, err)
	}
	if opts == nil {
		opts = map[string]string{}
	}
	entry := DeviceEntry{Path: name + "/", Type: typ, Description: desc, Options: opts, Local: local}
	table := maps.Clone(b.table)
	table[name] = entry
	if err := b.storeTable(ctx, table); err != nil {
		d.close()
		return err
	}
	b.table = table
	devs := append(slices.Clone(b.list()), d)
	sortDevices(devs)
	b.devices.Store(&devs)
	b.logger.Info("audit device enabled", "device", name, "type", typ)
	return nil
}

func (b *Broker) disable(ctx context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.table[name]; !ok {
		return nil // Vault: disabling an absent device succeeds
	}
	table := maps.Clone(b.table)
	delete(table, name)
	if err := b.storeTable(ctx, table); err != nil {
		return err
	}
	b.table = table
	var keep []*device
	var gone *device
	for _, d := range b.list() {
		if d.name == name {
			gone = d
		} else {
			keep = append(keep, d)
		}
	}
	b.devices.Store(&keep)
	if gone != nil {
		if err := b.closeDevice(gone); err != nil {
			b.logger.Warn("audit device closed with an error", "device", name, "err", err)
		}
	}
	b.logger.Info("audit device disabled", "device", name)
	return nil
}

func (b *Broker) storeTable(ctx context.Context, table map[string]DeviceEntry) error {
	raw, err := json.Marshal(table)
	if err != nil {
		return err
	}
	if err := b.view.Put(ctx, tableKey, raw); err != nil {
		return fmt.Errorf("audit: store device table: %w", err)
	}
	return nil
}
