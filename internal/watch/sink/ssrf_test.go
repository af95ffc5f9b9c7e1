package sink_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/watch/sink"
)

// TestDialRefusesMetadataAddresses: a host name that resolves to a
// link-local, unspecified or multicast address is refused when it is
// dialled, not only when the URL spells the address.
func TestDialRefusesMetadataAddresses(t *testing.T) {
	for _, addr := range []string{"169.254.169.254:80", "[::ffff:169.254.169.254]:80", "[fe80::1%eth0]:25",
		"0.0.0.0:8200", "[::]:25", "[fd00:ec2::254]:80", "239.1.1.1:514"} {
		err := sink.DialRefused("tcp4", addr, nil)
		if err == nil || !strings.Contains(err.Error(), "link-local") {
			t.Errorf("dial %s = %v, want it refused", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:514", "[::1]:25", "10.0.0.5:587", "192.168.1.1:443", "203.0.113.7:443"} {
		if err := sink.DialRefused("tcp", addr, nil); err != nil {
			t.Errorf("dial %s = %v, want it allowed", addr, err)
		}
	}
}
