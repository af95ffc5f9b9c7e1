package transit

import (
	"testing"

	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/logical/routetest"
)

// The new routes answer only their operations (export, backup and
// wrapping_key are reads, so a policy's read capability governs them; the
// rest are updates), only encrypt has an existence check, and each
// route's help names its fields.
func TestRoutes(t *testing.T) {
	s := &logicaltest.InmemStorage{}
	b := newBackend(testNow)
	if _, err := write(t, b, s, "keys/k", nil); err != nil {
		t.Fatal(err)
	}
	routetest.ExistenceChecks(t, b, s, routetest.Existence{
		Exists:  []string{"encrypt/k"},
		Absent:  []string{"encrypt/new"},
		NoCheck: []string{"keys/k/trim", "keys/k/import", "keys/k/import_version", "restore", "restore/k"},
	})
	routetest.Refusals(t, b, s, routetest.Refusal{
		WrongOperation: []string{
			"update export/encryption-key/k", "delete export/encryption-key/k/1", "update backup/k", "read restore",
			"read restore/k", "update wrapping_key", "read keys/k/trim", "read keys/k/import", "delete keys/k/import_version",
		},
		UnknownPath: []string{"read export/encryption-key", "read export/encryption-key/k/1/x", "update keys/k/import/x", "read backup"},
	})
	routetest.Help(t, b, "transit/", map[string][]string{
		"keys/k":                    {"key_size (int)", "derived (bool)", "convergent_encryption (bool)", "auto_rotate_period"},
		"keys/k/trim":               {"min_available_version (int)"},
		"keys/k/import":             {"ciphertext (string)", "hash_function (string)", "allow_rotation (bool)"},
		"keys/k/import_version":     {"ciphertext (string)"},
		"restore/k":                 {"backup (string)", "force (bool)"},
		"sign/k":                    {"signature_algorithm (string)", "salt_length (string)"},
		"export/encryption-key/k/1": {"exportable"},
		"backup/k":                  {"allow_plaintext_backup"},
	})
}
