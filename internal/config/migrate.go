package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"

	"github.com/keyward/keyward/internal/storage"
)

// Migration is the file `keyward operator migrate -config` reads, in
// Vault's shape: a storage_source and a storage_destination block, each
// written as a server's storage block is, plus cluster_addr (required when
// the destination is raft: the address the node will serve its cluster
// port on, recorded in the new cluster's configuration) and start (copy
// only keys at or after it, to resume an interrupted copy).
type Migration struct {
	Source      Storage
	Destination Storage
	ClusterAddr string
	Start       string
}

// LoadMigration reads, parses and validates the migration file at path.
func LoadMigration(path string) (*Migration, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("migrate config: %w", err)
	}
	m, err := ParseMigration(string(raw))
	if err != nil {
		return nil, fmt.Errorf("migrate config %s: %w", path, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("migrate config %s: %w", path, err)
	}
	return m, nil
}

// ParseMigration parses migration file text, reporting every problem at
// once.
func ParseMigration(text string) (m *Migration, err error) {
	defer func() { // as in Parse: the HCL library panics on some input
		if r := recover(); r != nil {
			m, err = nil, errors.New("parse: malformed configuration")
		}
	}()
	file, err := hcl.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	list, ok := file.Node.(*ast.ObjectList)
	if !ok {
		return nil, errors.New("parse: top level must be an object")
	}
	m = &Migration{}
	var errs []error
	seen := map[string]int{}
	for _, item := range list.Items {
		if len(item.Keys) == 0 {
			continue
		}
		key := item.Keys[0].Token.Value().(string)
		line := item.Pos().Line
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...)))
		}
		if prev, ok := seen[key]; ok {
			bad("%s is already set on line %d", key, prev)
			continue
		}
		seen[key] = line
		switch key {
		case "storage_source", "storage_destination":
			if len(item.Keys) < 2 {
				bad(`%s needs a type: %s "bolt" { ... }`, key, key)
				continue
			}
			s := Storage{Type: item.Keys[1].Token.Value().(string)}
			if storageSettings[s.Type] != nil {
				// Otherwise the settings are some other program's:
				// Validate names the type only.
				var ok bool
				if s, ok = parseStorage(item, bad); !ok {
					continue
				}
			}
			if key == "storage_source" {
				m.Source = s
			} else {
				m.Destination = s
			}
		case "cluster_addr", "start":
			var v any
			if err := hcl.DecodeObject(&v, item.Val); err != nil {
				bad("%s: %v", key, err)
				continue
			}
			s, ok := v.(string)
			if !ok {
				bad("%s: expected a string", key)
				continue
			}
			if key == "start" {
				m.Start = s
			} else {
				m.ClusterAddr = s
			}
		default:
			bad("unknown setting %q (a migration file takes storage_source, storage_destination, cluster_addr and start)", key)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// Validate reports every problem in m at once.
func (m *Migration) Validate() error {
	var errs []error
	if m.Source.Type == "" {
		errs = append(errs, errors.New(`storage_source block is required, e.g. storage_source "bolt" { path = "/var/lib/keyward" }`))
	} else {
		errs = append(errs, m.Source.validateMigrate("storage_source")...)
	}
	if m.Destination.Type == "" {
		errs = append(errs, errors.New(`storage_destination block is required, e.g. storage_destination "postgresql" { connection_url = "..." }`))
	} else {
		errs = append(errs, m.Destination.validateMigrate("storage_destination")...)
	}
	if m.Destination.Type == "raft" {
		if m.ClusterAddr == "" {
			errs = append(errs, errors.New(`cluster_addr is required with a raft destination: the https://host:port the node will serve its cluster port on, recorded in the new cluster's configuration`))
		} else if _, err := m.ClusterHostPort(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(m.Start) > storage.MaxKeyLength {
		errs = append(errs, fmt.Errorf("start: longer than %d bytes", storage.MaxKeyLength))
	}
	return errors.Join(errs...)
}

// ClusterHostPort returns the host:port of ClusterAddr (see
// clusterHostPort).
func (m *Migration) ClusterHostPort() (string, error) { return clusterHostPort(m.ClusterAddr) }

// clusterHostPort returns the host:port of a cluster_addr, which is a URL
// such as https://10.0.0.5:8201 (as Vault's) or a bare host:port.
func clusterHostPort(addr string) (string, error) {
	hostport := addr
	if u, err := url.Parse(addr); err == nil && u.Host != "" {
		if u.Scheme != "https" && u.Scheme != "tcp" {
			return "", fmt.Errorf("cluster_addr %q: scheme must be https", addr)
		}
		hostport = u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port == "" || port == "0" {
		return "", fmt.Errorf("cluster_addr %q must be https://host:port", addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return "", fmt.Errorf("cluster_addr %q: an unspecified address (0.0.0.0) cannot be dialled by peers", addr)
	}
	return hostport, nil
}

// validateMigrate checks a storage block of a migration file; role names
// the block in messages.
func (s Storage) validateMigrate(role string) []error {
	var errs []error
	switch s.Type {
	case "bolt", "file", "raft":
		if s.Path == "" {
			errs = append(errs, fmt.Errorf("%s %q: path is required", role, s.Type))
		}
		if s.Type != "raft" {
			break
		}
		if s.NodeID == "" {
			errs = append(errs, fmt.Errorf(`%s "raft": node_id is required`, role))
		}
		if s.PerformanceMultiplier < 0 || s.PerformanceMultiplier > 10 {
			errs = append(errs, fmt.Errorf(`%s "raft": performance_multiplier must be between 0 and 10`, role))
		}
		if s.MaxEntrySize < 0 {
			errs = append(errs, fmt.Errorf(`%s "raft": max_entry_size must not be negative`, role))
		}
	case "postgresql":
		for _, err := range s.validatePostgres() {
			errs = append(errs, fmt.Errorf("%s: %w", role, err))
		}
	case "inmem":
		errs = append(errs, fmt.Errorf(`%s "inmem": in-memory storage lives only inside one process, so there is nothing to migrate to or from`, role))
	default:
		errs = append(errs, fmt.Errorf("%s: type %q is not supported (bolt, postgresql, raft)", role, s.Type))
	}
	return errs
}
