package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/config"
)

func TestWatchBlock(t *testing.T) {
	cfg, err := config.Parse(`
listener "tcp" { address = "127.0.0.1:8200" }
watch {
  ring_size = 100
  subscriber_buffer = 8
  max_identities = 50
  time_zone = "UTC"
  flush_interval = "30s"
}`)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Watch
	if w.RingSize != 100 || w.SubscriberBuffer != 8 || w.MaxIdentities != 50 || w.FlushInterval != 30*time.Second ||
		w.Location() != time.UTC || w.Disable {
		t.Errorf("watch = %+v", w)
	}
	for src, want := range map[string]string{
		`watch { ring_size = -1 }`:       "ring_size must be a whole number",
		`watch { colour = "red" }`:       `unknown setting "colour"`,
		`watch { time_zone = "Mars/X" }`: "not a known time zone",
		`watch { disable = "yes" }`:      "disable",
	} {
		cfg, err := config.Parse(`listener "tcp" { address = "127.0.0.1:8200" }` + "\n" + src)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", src, err, want)
		}
	}
}

func TestWatchSinkNetworks(t *testing.T) {
	cfg, err := config.Parse(`
storage "inmem" {}
watch {
  sink_networks = ["10.1.0.0/16", "127.0.0.1", "fd00::/8"]
}
`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range cfg.Watch.SinkNetworks {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.1.0.0/16 127.0.0.1/32 fd00::/8" {
		t.Errorf("sink_networks = %v", got)
	}
	_, err = config.Parse("storage \"inmem\" {}\nwatch {\n  sink_networks = [\"10.0.0.0/33\", \"mail.example\"]\n}\n")
	if err == nil || !strings.Contains(err.Error(), `"10.0.0.0/33"`) || !strings.Contains(err.Error(), `"mail.example"`) {
		t.Errorf("bad sink_networks = %v, want both named", err)
	}
}
