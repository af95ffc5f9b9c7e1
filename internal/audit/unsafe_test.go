package audit_test

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/logical"
)

// A socket address refused by default (0.0.0.0 dials the local host) is
// refused without AllowUnsafe, and with it the device really delivers:
// the dial-time check follows the same option as the enable-time one.
func TestAllowUnsafeReachesTheSocket(t *testing.T) {
	tests := []struct {
		name        string
		allowUnsafe bool
		wantEnabled bool
	}{
		{name: "default refuses", allowUnsafe: false, wantEnabled: false},
		{name: "allow_unsafe_paths delivers", allowUnsafe: true, wantEnabled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			lines := make(chan string, 16)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				sc := bufio.NewScanner(c)
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			b := newBroker(t, audit.Options{AllowUnsafe: tt.allowUnsafe})
			_, err = b.sys(t, logical.UpdateOperation, "audit/sock", map[string]any{
				"type": "socket", "options": map[string]any{"address": "0.0.0.0:" + port},
			})
			if enabled := err == nil; enabled != tt.wantEnabled {
				t.Fatalf("enable socket at 0.0.0.0:%s with AllowUnsafe=%v: err = %v, want enabled %v", port, tt.allowUnsafe, err, tt.wantEnabled)
			}
			if !tt.wantEnabled {
				if status, _, _ := logical.StatusOf(err); status != 400 {
					t.Errorf("refusal status = %d (%v), want 400", status, err)
				}
				return
			}
			b.traffic(t, 1)
			for _, want := range []string{`"type":"request"`, `"type":"response"`} {
				if got := <-lines; !strings.Contains(got, want) {
					t.Errorf("socket line = %s, want it to contain %s", got, want)
				}
			}
		})
	}
}
