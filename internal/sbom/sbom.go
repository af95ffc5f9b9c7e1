// Package sbom writes a CycloneDX 1.5 JSON software bill of materials for
// a Go binary from the module graph recorded in it (what `go version -m`
// prints): the main module, every dependency module with its version and
// its go.sum hash, and the toolchain.
package sbom

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"
)

// BOM is the subset of CycloneDX 1.5 written here.
type BOM struct {
	BOMFormat    string      `json:"bomFormat"`
	SpecVersion  string      `json:"specVersion"`
	SerialNumber string      `json:"serialNumber"`
	Version      int         `json:"version"`
	Metadata     Metadata    `json:"metadata"`
	Components   []Component `json:"components"`
}

// Metadata describes the binary itself.
type Metadata struct {
	Timestamp string     `json:"timestamp"`
	Component Component  `json:"component"`
	Tools     []Property `json:"properties,omitempty"`
}

// Component is one module.
type Component struct {
	Type       string     `json:"type"`
	BOMRef     string     `json:"bom-ref"`
	Name       string     `json:"name"`
	Version    string     `json:"version,omitempty"`
	PURL       string     `json:"purl,omitempty"`
	Hashes     []Hash     `json:"hashes,omitempty"`
	Properties []Property `json:"properties,omitempty"`
}

// Hash is a CycloneDX hash: the algorithm and hex content.
type Hash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

// Property is a name/value pair.
type Property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Generate builds the BOM of the binary whose build information is bi and
// whose bytes hash to binSHA256. The time comes from the caller
// (SOURCE_DATE_EPOCH in a release), and the serial number from the
// binary's hash, so the same binary always gets the same BOM.
func Generate(bi *debug.BuildInfo, binSHA256 [32]byte, at time.Time) *BOM {
	h := binSHA256[:]
	var u [16]byte // a name-based (version 5 style) UUID from the hash
	copy(u[:], h)
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	serial := fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	main := module(&bi.Main, "application")
	main.Hashes = append(main.Hashes, Hash{Alg: "SHA-256", Content: hex.EncodeToString(h)})
	props := []Property{{"go.version", bi.GoVersion}}
	for _, s := range bi.Settings {
		props = append(props, Property{"go.build." + s.Key, s.Value})
	}
	main.Properties = append(main.Properties, props...)
	b := &BOM{BOMFormat: "CycloneDX", SpecVersion: "1.5", SerialNumber: serial, Version: 1,
		Metadata: Metadata{Timestamp: at.UTC().Format(time.RFC3339), Component: main}, Components: []Component{}}
	for _, d := range bi.Deps {
		b.Components = append(b.Components, module(d, "library"))
	}
	return b
}

func module(m *debug.Module, kind string) Component {
	used := m
	if m.Replace != nil {
		used = m.Replace
	}
	c := Component{Type: kind, Name: m.Path, Version: used.Version, BOMRef: m.Path + "@" + used.Version}
	if used.Version != "" && used.Version != "(devel)" {
		c.PURL = "pkg:golang/" + strings.ToLower(used.Path) + "@" + used.Version
	}
	if m.Replace != nil {
		c.Properties = append(c.Properties, Property{"go.module.replace", m.Replace.Path + "@" + m.Replace.Version})
	}
	if sum := used.Sum; strings.HasPrefix(sum, "h1:") {
		if raw, err := base64.StdEncoding.DecodeString(sum[3:]); err == nil && len(raw) == sha256.Size {
			c.Hashes = append(c.Hashes, Hash{Alg: "SHA-256", Content: hex.EncodeToString(raw)})
		}
		c.Properties = append(c.Properties, Property{"go.sum", sum})
	}
	return c
}

// Write encodes b as indented JSON.
func (b *BOM) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}
