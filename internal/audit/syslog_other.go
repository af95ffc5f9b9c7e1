//go:build windows || plan9

package audit

import "errors"

func syslogFacility(string) (int, error) {
	return 0, errors.New("syslog audit devices are not available on this platform")
}

func newSyslogSink(deviceConfig) sink { return nil }
