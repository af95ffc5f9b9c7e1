package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// pkiOp returns the operation of a pki-issue-NAME workload, which issues a
// certificate (the server generates the key) from the role NAME of the pki
// mount at pki/, with a fresh name under example.com each time. The mount,
// its issuer and the role are set up beforehand (bench/pki.sh does it), so
// the same workload runs against Keyward and OpenBao. ok is false for other
// workloads.
func (g *gen) pkiOp(workload string) (op func(r *rand.Rand, do doer) error, ok bool) {
	role, ok := strings.CutPrefix(workload, "pki-issue-")
	if !ok || role == "" {
		return nil, false
	}
	path := "pki/issue/" + role
	return func(r *rand.Rand, do doer) error {
		body := fmt.Appendf(nil, `{"common_name":"h%s.example.com","ttl":"1h"}`, strconv.FormatUint(r.Uint64(), 36))
		return do("POST", path, body)
	}, true
}
