//go:build !windows && !plan9

package audit

import (
	"fmt"
	"log/syslog"
	"strings"
)

var facilities = map[string]syslog.Priority{
	"KERN": syslog.LOG_KERN, "USER": syslog.LOG_USER, "MAIL": syslog.LOG_MAIL, "DAEMON": syslog.LOG_DAEMON,
	"AUTH": syslog.LOG_AUTH, "SYSLOG": syslog.LOG_SYSLOG, "LPR": syslog.LOG_LPR, "NEWS": syslog.LOG_NEWS,
	"UUCP": syslog.LOG_UUCP, "CRON": syslog.LOG_CRON, "AUTHPRIV": syslog.LOG_AUTHPRIV, "FTP": syslog.LOG_FTP,
	"LOCAL0": syslog.LOG_LOCAL0, "LOCAL1": syslog.LOG_LOCAL1, "LOCAL2": syslog.LOG_LOCAL2, "LOCAL3": syslog.LOG_LOCAL3,
	"LOCAL4": syslog.LOG_LOCAL4, "LOCAL5": syslog.LOG_LOCAL5, "LOCAL6": syslog.LOG_LOCAL6, "LOCAL7": syslog.LOG_LOCAL7,
}

func syslogFacility(name string) (syslog.Priority, error) {
	p, ok := facilities[strings.ToUpper(name)]
	if !ok {
		return 0, fmt.Errorf("option facility %q is not a syslog facility", name)
	}
	return p, nil
}

// syslogSink sends each line as one syslog message (local syslog, or a
// remote one when an address is configured).
type syslogSink struct {
	c deviceConfig
	w *syslog.Writer
}

func newSyslogSink(c deviceConfig) sink { return &syslogSink{c: c} }

func (s *syslogSink) write(line []byte) error {
	if s.w == nil {
		f, _ := syslogFacility(s.c.facility)
		w, err := syslog.Dial(s.c.network, s.c.address, f|syslog.LOG_INFO, s.c.tag)
		if err != nil {
			return fmt.Errorf("connect syslog: %w", err)
		}
		s.w = w
	}
	if err := s.w.Info(string(line[:len(line)-1])); err != nil {
		s.close()
		return fmt.Errorf("write syslog: %w", err)
	}
	return nil
}

func (s *syslogSink) reopen() error { return s.close() }
func (s *syslogSink) sync() error   { return nil }
func (s *syslogSink) close() error {
	if s.w == nil {
		return nil
	}
	err := s.w.Close()
	s.w = nil
	return err
}
