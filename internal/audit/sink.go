package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// fileSink appends to a file, or to standard output. It opens the file
// only as dir.go allows.
type fileSink struct {
	path     string // as configured, for messages
	dir, rel string // the resolved audit directory and the path inside it
	mode     os.FileMode
	device   string
	pub      ed25519.PublicKey
	stdout   io.Writer
	partial  bool // the file ends in a partial line (a failed write, or a crash)

	fmu sync.Mutex // guards f against the flusher; writers also hold the device lock
	f   *os.File
}

func newFileSink(c deviceConfig, device string, pub ed25519.PublicKey) *fileSink {
	s := &fileSink{path: c.filePath, dir: c.fileDir, rel: c.fileRel, mode: c.mode, device: device, pub: pub}
	if c.filePath == "stdout" {
		s.stdout = os.Stdout
	}
	return s
}

// isOpen reports whether the file is open (always true for stdout).
func (s *fileSink) isOpen() bool {
	if s.stdout != nil {
		return true
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.f != nil
}

// open opens the log: it creates it exclusively, or accepts an existing
// file only under the rules of dir.go. fresh means the file is empty and
// needs its open checkpoint; last is the last complete line of an existing
// log (nil if none).
func (s *fileSink) open() (fresh bool, last []byte, err error) {
	if s.stdout != nil {
		return false, nil, nil
	}
	if s.dir == "" || s.rel == "" {
		return false, nil, fmt.Errorf("audit file %s has no place in the audit directory", s.path)
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return false, nil, fmt.Errorf("open audit directory %s: %w", s.dir, err)
	}
	defer root.Close()
	f, err := root.OpenFile(s.rel, openFlags|os.O_CREATE|os.O_EXCL, s.mode)
	switch {
	case err == nil:
		// Created here: give it exactly the device's mode, past the umask.
		if err := f.Chmod(s.mode); err != nil {
			f.Close()
			return false, nil, fmt.Errorf("chmod audit file %s: %w", s.path, err)
		}
		s.partial = false
		s.setFile(f)
		return true, nil, nil
	case !errors.Is(err, fs.ErrExist):
		return false, nil, fmt.Errorf("create audit file %s: %w", s.path, err)
	}
	if fi, err := root.Lstat(s.rel); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return false, nil, fmt.Errorf("audit file %s is refused: it is a symbolic link", s.path)
	}
	f, err = root.OpenFile(s.rel, openFlags, 0)
	if err != nil {
		return false, nil, fmt.Errorf("open audit file %s: %w", s.path, err)
	}
	if err := openedNoLink(root, s.rel, f); err != nil {
		f.Close()
		return false, nil, fmt.Errorf("audit file %s is refused: %w", s.path, err)
	}
	size, err := s.accept(f)
	s.partial = false
	if err == nil && size > 0 {
		last, s.partial, err = isLogOf(f, size, s.device, s.pub)
	}
	if err != nil {
		f.Close()
		return false, nil, fmt.Errorf("audit file %s is refused: %w", s.path, err)
	}
	s.setFile(f)
	return size == 0, last, nil
}

// accept checks an existing file the server did not just create, and
// returns its size.
func (s *fileSink) accept(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, errors.New("it is not a regular file")
	}
	if err := acceptOwner(f, fi, s.mode); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// maxHeader bounds the first line read to recognise a log.
const maxHeader = 64 << 10

// isLogOf reports whether the file (size bytes) is a log of the device
// whose checkpoints pub verifies: its first line is a signed open
// checkpoint (naming this device, when it names one), or, for a log
// written before files had that header, its last line is a signed
// checkpoint. It returns the last complete line, and whether a partial
// line follows it. Nothing of the file's content is put in the error.
func isLogOf(f *os.File, size int64, device string, pub ed25519.PublicKey) (last []byte, partial bool, err error) {
	head := make([]byte, min(size, maxHeader))
	if _, err := f.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	last, partial = lastLine(f, size)
	if i := bytes.IndexByte(head, '\n'); i >= 0 && isCheckpointOf(head[:i], "open", device, pub) {
		return last, partial, nil
	}
	if last != nil && isCheckpointOf(last, "", "", pub) {
		return last, partial, nil
	}
	return nil, false, fmt.Errorf("it is not a log of audit device %q (it does not start with the device's signed open checkpoint); the server writes only to files it created: move it away or choose another file_path", device)
}

// isCheckpointOf reports whether line is a checkpoint signed by pub, with
// the given reason and device when they are not "".
func isCheckpointOf(line []byte, reason, device string, pub ed25519.PublicKey) bool {
	var v struct {
		Type       string      `json:"type"`
		Checkpoint *Checkpoint `json:"checkpoint"`
	}
	if json.Unmarshal(line, &v) != nil || v.Type != "checkpoint" || v.Checkpoint == nil {
		return false
	}
	if reason != "" && v.Checkpoint.Reason != reason {
		return false
	}
	if device != "" && v.Checkpoint.Device != "" && v.Checkpoint.Device != device {
		return false
	}
	return checkSignature(line, pub) == nil
}

func (s *fileSink) setFile(f *os.File) {
	s.fmu.Lock()
	s.f = f
	s.fmu.Unlock()
}

func (s *fileSink) write(line []byte) error {
	if s.stdout != nil {
		_, err := s.stdout.Write(line)
		return err
	}
	if s.f == nil {
		// The device reopens through head, which writes the open
		// checkpoint a new file needs.
		return fmt.Errorf("audit file %s is not open", s.path)
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

// reopen closes the file; the device's head opens it again.
func (s *fileSink) reopen() error {
	if err := s.closeFile(); err != nil {
		return fmt.Errorf("close audit file %s: %w", s.path, err)
	}
	return nil
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

// lastLine returns the last complete line of the first size bytes of r
// (without its newline), or nil if there is none, and whether a partial
// line follows it.
func lastLine(r io.ReaderAt, size int64) (last []byte, partial bool) {
	if size == 0 {
		return nil, false
	}
	for chunk := int64(64 << 10); ; chunk *= 4 {
		off := max(size-chunk, 0)
		buf := make([]byte, size-off)
		if _, err := r.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, false
		}
		if buf[len(buf)-1] != '\n' {
			partial = true
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 {
				if off == 0 || chunk > maxLine {
					return nil, true
				}
				continue
			}
			buf = buf[:i+1]
		}
		buf = buf[:len(buf)-1]
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			return buf[i+1:], partial
		}
		if off == 0 {
			return buf, partial
		}
		if chunk > maxLine {
			return nil, partial
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
