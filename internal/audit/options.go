package audit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options is the server-side policy for devices. The zero value is the safe
// default: no raw logging, no risky addresses, and no audit files at all
// (file devices may then only write to stdout).
type Options struct {
	// AllowLogRaw permits devices with log_raw=true (values unhashed).
	AllowLogRaw bool
	// AllowUnsafe permits file modes readable by group or others and
	// sockets to link-local, metadata or unspecified addresses. It never
	// lets a file leave Dir (see dir.go).
	AllowUnsafe bool
	// Dir is the only directory audit files may be written in (its
	// subdirectories included). Check says which directories are refused.
	Dir string
	// CreateDir creates Dir (0700; its parent must exist) the first time a
	// file device needs it, so an unused default leaves no trace.
	CreateDir bool
	// Protected are paths no audit file may be and Dir may neither be nor
	// hold: the storage directory, the configuration file, TLS files.
	Protected []string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// deviceConfig is a device's validated settings.
type deviceConfig struct {
	typ                string
	filePath           string // file: absolute path as configured, or "stdout"
	fileDir, fileRel   string // file: the resolved audit directory, and the path inside it
	mode               os.FileMode
	network, address   string // socket, syslog
	writeTimeout       time.Duration
	facility, tag      string
	logRaw             bool
	hmacAccessor       bool
	elideListResponses bool
	checkpointInterval int
	fsync              bool
	// allowUnsafe is Options.AllowUnsafe, carried to the socket sink so
	// its dial-time address check agrees with the one made here.
	allowUnsafe bool
}

// optionNames lists the options each device type accepts.
var optionNames = map[string][]string{
	"file":   {"file_path", "path", "mode"},
	"socket": {"address", "socket_type", "write_timeout"},
	"syslog": {"facility", "tag", "address", "socket_type"},
}

var commonOptions = []string{"log_raw", "hmac_accessor", "elide_list_responses", "checkpoint_interval", "fsync", "format"}

// parseConfig validates a device's type and options against o. Errors name
// the option, never a value that could be secret (paths and addresses are
// not secret and are named).
func (o Options) parseConfig(typ string, opts map[string]string) (deviceConfig, error) {
	c := deviceConfig{typ: typ, hmacAccessor: true, checkpointInterval: 1000, mode: 0o600, writeTimeout: 2 * time.Second,
		allowUnsafe: o.AllowUnsafe}
	names, ok := optionNames[typ]
	if !ok {
		return c, fmt.Errorf("audit device type %q is not supported (file, socket or syslog)", typ)
	}
	var errs []error
	for k := range opts {
		if !slices.Contains(names, k) && !slices.Contains(commonOptions, k) {
			errs = append(errs, fmt.Errorf("option %q is not supported by %s devices", k, typ))
		}
	}
	boolOpt := func(name string, dst *bool) {
		if v, ok := opts[name]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("option %s must be a boolean", name))
				return
			}
			*dst = b
		}
	}
	boolOpt("log_raw", &c.logRaw)
	boolOpt("hmac_accessor", &c.hmacAccessor)
	boolOpt("elide_list_responses", &c.elideListResponses)
	boolOpt("fsync", &c.fsync)
	if c.logRaw && !o.AllowLogRaw {
		errs = append(errs, errors.New("option log_raw=true is refused: the server configuration does not allow raw audit logging"))
	}
	if v, ok := opts["format"]; ok && v != "json" {
		errs = append(errs, errors.New("option format must be json"))
	}
	if v, ok := opts["checkpoint_interval"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			errs = append(errs, errors.New("option checkpoint_interval must be an integer from 1 to 1000000"))
		}
		c.checkpointInterval = n
	}
	switch typ {
	case "file":
		errs = append(errs, o.fileOptions(&c, opts)...)
	case "socket":
		c.network = orStr(opts["socket_type"], "tcp")
		c.address = opts["address"]
		if v, ok := opts["write_timeout"]; ok {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > time.Minute {
				errs = append(errs, errors.New("option write_timeout must be a duration from 1ns to 1m"))
			}
			c.writeTimeout = d
		}
		if c.address == "" {
			errs = append(errs, errors.New("option address is required for socket devices"))
		} else if err := o.checkAddress(c.network, c.address); err != nil {
			errs = append(errs, err)
		}
	case "syslog":
		c.facility = orStr(opts["facility"], "AUTH")
		c.tag = orStr(opts["tag"], "keyward")
		if _, err := syslogFacility(c.facility); err != nil {
			errs = append(errs, err)
		}
		if c.address = opts["address"]; c.address != "" {
			c.network = orStr(opts["socket_type"], "udp")
			if err := o.checkAddress(c.network, c.address); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return c, errors.Join(errs...)
}

func orStr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (o Options) fileOptions(c *deviceConfig, opts map[string]string) []error {
	var errs []error
	p := opts["file_path"]
	if p == "" {
		p = opts["path"]
	}
	if v, ok := opts["mode"]; ok {
		m, err := strconv.ParseUint(v, 8, 32)
		if err != nil || m > 0o777 {
			errs = append(errs, errors.New("option mode must be an octal file mode such as 0600"))
		} else {
			c.mode = os.FileMode(m)
			if c.mode&0o077 != 0 && !o.AllowUnsafe {
				errs = append(errs, fmt.Errorf("option mode %04o is refused: audit files must not be readable by group or others", m))
			}
			if c.mode&0o600 != 0o600 {
				errs = append(errs, fmt.Errorf("option mode %04o is refused: the server must be able to read and write the file", m))
			}
		}
	}
	switch {
	case p == "":
		errs = append(errs, errors.New("option file_path is required for file devices"))
	case p == "stdout":
		c.filePath = p
	case !filepath.IsAbs(p):
		errs = append(errs, fmt.Errorf("option file_path %q must be an absolute path", p))
	case slices.Contains(strings.Split(filepath.ToSlash(p), "/"), ".."):
		errs = append(errs, fmt.Errorf("option file_path %q must not contain \"..\"", p))
	case strings.ContainsAny(p, "\x00\n\r"):
		errs = append(errs, errors.New("option file_path holds control characters"))
	default:
		c.filePath = filepath.Clean(p)
		dir, rel, err := o.place(c.filePath)
		if err != nil {
			errs = append(errs, fmt.Errorf("option file_path %q is refused: %w", p, err))
		}
		c.fileDir, c.fileRel = dir, rel
	}
	return errs
}

// metadataHosts are cloud metadata endpoints reachable without a link-local
// address.
var metadataHosts = []string{"metadata.google.internal", "metadata", "instance-data"}

var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("fd00:ec2::254"),   // AWS IPv6
}

// checkAddress refuses socket targets that reach cloud metadata or
// link-local services (T40), unless the server allows unsafe targets.
func (o Options) checkAddress(network, address string) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	case "unix", "unixgram":
		if !filepath.IsAbs(address) {
			return fmt.Errorf("option address %q must be an absolute socket path", address)
		}
		return nil
	default:
		return fmt.Errorf("option socket_type %q must be tcp, udp or unix", network)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil || port == "" {
		return fmt.Errorf("option address %q must be host:port", address)
	}
	if o.AllowUnsafe {
		return nil
	}
	if slices.Contains(metadataHosts, strings.ToLower(strings.TrimSuffix(host, "."))) {
		return fmt.Errorf("option address %q is refused: it names a cloud metadata service", address)
	}
	addrs := []netip.Addr{}
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, a)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return fmt.Errorf("option address %q: host does not resolve", address)
		}
		addrs = ips
	}
	for _, a := range addrs {
		if err := unsafeAddr(a); err != nil {
			return fmt.Errorf("option address %q is refused: %w", address, err)
		}
	}
	return nil
}

// unsafeAddr reports why a is not an acceptable audit target.
func unsafeAddr(a netip.Addr) error {
	a = a.Unmap()
	switch {
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return errors.New("link-local addresses (cloud metadata) are not allowed")
	case a.IsUnspecified():
		return errors.New("unspecified addresses are not allowed")
	case a.IsMulticast():
		return errors.New("multicast addresses are not allowed")
	case slices.Contains(metadataAddrs, a):
		return errors.New("cloud metadata addresses are not allowed")
	}
	return nil
}
