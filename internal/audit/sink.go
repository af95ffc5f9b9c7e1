package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// sink is where a device's lines go. write delivers one whole line and
// returns once the operating system has accepted it (write(2) returned);
// after an error the next write reconnects or reopens. Calls are serialised
// by the device, except sync, which the flusher may call concurrently.
type sink interface {
	write(line []byte) error
	reopen() error
	sync() error
	close() error
}

// fileSink appends to a file, or to standard output.
type fileSink struct {
	path    string
	mode    os.FileMode
	stdout  io.Writer
	partial bool // a failed write left a partial line that could not be removed

	fmu sync.Mutex // guards f against the flusher; writers also hold the device lock
	f   *os.File
}

func newFileSink(c deviceConfig) *fileSink {
	s := &fileSink{path: c.filePath, mode: c.mode}
	if c.filePath == "stdout" {
		s.stdout = os.Stdout
	}
	return s
}

func (s *fileSink) open() error {
	if s.stdout != nil {
		return nil
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, s.mode)
	if err != nil {
		return fmt.Errorf("open audit file %s: %w", s.path, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("audit file %s is not a regular file", s.path)
	}
	if fi.Mode().Perm() != s.mode {
		if err := f.Chmod(s.mode); err != nil {
			f.Close()
			return fmt.Errorf("chmod audit file %s: %w", s.path, err)
		}
	}
	s.fmu.Lock()
	s.f = f
	s.fmu.Unlock()
	return nil
}

func (s *fileSink) write(line []byte) error {
	if s.stdout != nil {
		_, err := s.stdout.Write(line)
		return err
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if s.partial {
		line = append([]byte{'\n'}, line...)
	}
	n, err := s.f.Write(line)
	if err == nil {
		s.partial = false
		return nil
	}
	if n > 0 {
		// Remove the partial line so the chain stays parseable.
		fi, serr := s.f.Stat()
		if serr != nil || s.f.Truncate(fi.Size()-int64(n)) != nil {
			s.partial = true
		}
	}
	s.closeFile()
	return fmt.Errorf("write audit file %s: %w", s.path, err)
}

func (s *fileSink) closeFile() error {
	s.fmu.Lock()
	f := s.f
	s.f = nil
	s.fmu.Unlock()
	if f == nil {
		return nil
	}
	serr := f.Sync()
	if err := f.Close(); err != nil {
		return err
	}
	if serr != nil && !errors.Is(serr, os.ErrClosed) {
		return serr
	}
	return nil
}

func (s *fileSink) reopen() error {
	if err := s.closeFile(); err != nil {
		return fmt.Errorf("close audit file %s: %w", s.path, err)
	}
	return s.open()
}

// empty reports whether the file is absent or empty.
func (s *fileSink) empty() bool {
	if s.stdout != nil {
		return true
	}
	fi, err := os.Stat(s.path)
	return err != nil || fi.Size() == 0
}

func (s *fileSink) sync() error {
	s.fmu.Lock()
	f := s.f
	s.fmu.Unlock()
	if f == nil {
		return nil
	}
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

func (s *fileSink) close() error { return s.closeFile() }

// lastLine returns the last complete line of the file at path (without its
// newline), or nil if there is none.
func lastLine(path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil
	}
	size := fi.Size()
	for chunk := int64(64 << 10); ; chunk *= 4 {
		off := max(size-chunk, 0)
		buf := make([]byte, size-off)
		if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return nil
		}
		if buf[len(buf)-1] != '\n' {
			return nil // a partial last line: not a chain position
		}
		buf = buf[:len(buf)-1]
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			return buf[i+1:]
		}
		if off == 0 || chunk > maxLine {
			if off == 0 {
				return buf
			}
			return nil
		}
	}
}

// netSink writes lines to a TCP, UDP or unix socket with a write deadline.
type netSink struct {
	network, address string
	timeout          time.Duration
	allowUnsafe      bool
	conn             net.Conn
}

func (s *netSink) dial() error {
	d := net.Dialer{Timeout: s.timeout}
	if !s.allowUnsafe {
		// Check the address actually dialled, not only the one configured
		// (a name may resolve elsewhere later).
		d.ControlContext = func(_ context.Context, _, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return nil // unix sockets
			}
			return unsafeAddr(ap.Addr())
		}
	}
	conn, err := d.Dial(s.network, s.address)
	if err != nil {
		return fmt.Errorf("connect audit socket %s: %w", s.address, err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// A small send buffer bounds what a stalled peer can swallow
		// before writes time out.
		_ = tc.SetWriteBuffer(64 << 10)
	}
	s.conn = conn
	return nil
}

func (s *netSink) write(line []byte) error {
	if s.conn == nil {
		if err := s.dial(); err != nil {
			return err
		}
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		s.close()
		return fmt.Errorf("audit socket %s: %w", s.address, err)
	}
	if _, err := s.conn.Write(line); err != nil {
		s.close()
		return fmt.Errorf("write audit socket %s: %w", s.address, err)
	}
	return nil
}

func (s *netSink) reopen() error { return s.close() }
func (s *netSink) sync() error   { return nil }
func (s *netSink) close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// refusedSink stands for a stored device the server policy now refuses:
// every write fails, so the device can be listed and disabled but never
// records.
type refusedSink struct{ err error }

func (s refusedSink) write([]byte) error { return s.err }
func (s refusedSink) reopen() error      { return nil }
func (s refusedSink) sync() error        { return nil }
func (s refusedSink) close() error       { return nil }
