// Command sbom writes the CycloneDX JSON bill of materials of a Go binary:
//
//	go run ./scripts/sbom [-o FILE] BINARY
//
// The timestamp is SOURCE_DATE_EPOCH when set (`make release` sets it from
// the commit), so a rebuilt release gets the same bytes.
package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/sbom"
)

func main() {
	out := flag.String("o", "", "write the SBOM to this file (default stdout)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: sbom [-o FILE] BINARY")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out); err != nil {
		fmt.Fprintf(os.Stderr, "sbom: %v\n", err)
		os.Exit(1)
	}
}

func run(bin, out string) error {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return err
	}
	f, err := os.Open(bin)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return err
	}
	at := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		at = time.Unix(sec, 0)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	b := sbom.Generate(bi, sum, at)
	w := os.Stdout
	if out != "" {
		if w, err = os.Create(out); err != nil {
			return err
		}
		defer w.Close()
	}
	return b.Write(w)
}
