package cassette

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// spoolMem is how many bytes of frames a take keeps in memory before it moves them to
// a hidden spool file in the cassette folder.
const spoolMem = 256 << 10

// spool holds a stream's frames, each as an 8-byte offset, a 4-byte length and the
// frame's bytes: in memory while small, then in a file.
type spool struct {
	mem []byte
	f   *os.File
	w   *bufio.Writer
	n   int
}

func (s *spool) add(dir string, off int64, frame []byte) error {
	var hdr [12]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(off))
	binary.LittleEndian.PutUint32(hdr[8:], uint32(len(frame)))
	if s.f == nil && len(s.mem)+len(hdr)+len(frame) <= spoolMem {
		s.mem = append(append(s.mem, hdr[:]...), frame...)
		s.n++
		return nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(dir, ".cassette-*.spool")
		if err != nil {
			return err
		}
		s.f, s.w = f, bufio.NewWriterSize(f, 64<<10)
		if _, err := s.w.Write(s.mem); err != nil {
			return err
		}
		s.mem = nil
	}
	if _, err := s.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := s.w.Write(frame)
	s.n++
	return err
}

// frames calls fn with every frame in order; frame is reused between calls.
func (s *spool) frames(fn func(off int64, frame []byte) error) error {
	var r io.Reader = bytes.NewReader(s.mem)
	if s.f != nil {
		if err := s.w.Flush(); err != nil {
			return err
		}
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		r = bufio.NewReaderSize(s.f, 64<<10)
	}
	var hdr [12]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		n := int(binary.LittleEndian.Uint32(hdr[8:]))
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		if err := fn(int64(binary.LittleEndian.Uint64(hdr[:8])), buf); err != nil {
			return err
		}
	}
}

// events calls fn with every SSE event of the spool (comment frames left out).
func (s *spool) events(fn func(i int, ev Event) error) error {
	i := 0
	return s.frames(func(off int64, frame []byte) error {
		ev, ok := parseFrame(frame)
		if !ok {
			return nil
		}
		ev.OffsetMS = off
		err := fn(i, ev)
		i++
		return err
	})
}

func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
		s.f, s.w = nil, nil
	}
	s.mem, s.n = nil, 0
}

// recordTail is how Record.Marshal ends when the response's events (its last field)
// are left out: the response object and the record close.
const recordTail = "\n  }\n}\n"

// writeFile writes rec, scrubbed, to path through a temp file and a rename. The events
// of sp (when not nil) are written one at a time, after a first pass that finds the
// secrets split across events; the bytes are those rec.Marshal would give.
func (r *Recorder) writeFile(rec *Record, path string, sp *spool) error {
	tmp, err := createTemp(filepath.Dir(path), r.o.UseUmask)
	if err != nil {
		return fmt.Errorf("write cassette: %w", err)
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write cassette: %w", err)
	}
	w := bufio.NewWriterSize(tmp, 64<<10)
	if sp == nil || sp.n == 0 {
		r.scrub.record(rec)
		data, err := rec.Marshal()
		if err != nil {
			return fail(err)
		}
		_, _ = w.Write(data)
	} else if err := r.writeStream(w, rec, sp); err != nil {
		return fail(err)
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write cassette: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write cassette: %w", err)
	}
	return nil
}

func (r *Recorder) writeStream(w *bufio.Writer, rec *Record, sp *spool) error {
	edits, err := r.scrub.splitSecrets(sp)
	if err != nil {
		return err
	}
	rec.Response.Events = nil
	r.scrub.record(rec)
	head, err := rec.Marshal()
	if err != nil {
		return err
	}
	if !bytes.HasSuffix(head, []byte(recordTail)) {
		return errors.New("unexpected record layout")
	}
	w.Write(head[:len(head)-len(recordTail)])
	w.WriteString(",\n    \"events\": [")
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("      ", "  ")
	err = sp.events(func(i int, ev Event) error {
		applyEdits(&ev, edits[i])
		r.scrub.event(&ev)
		b.Reset()
		if err := enc.Encode(ev); err != nil {
			return err
		}
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString("\n      ")
		_, err := w.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
		return err
	})
	if err != nil {
		return err
	}
	_, err = w.WriteString("\n    ]" + recordTail)
	return err
}

// createTemp makes the temp file a cassette is written to: 0600, or with the umask
// (0666 before it) when asked.
func createTemp(dir string, umask bool) (*os.File, error) {
	if !umask {
		return os.CreateTemp(dir, ".cassette-*.tmp")
	}
	for range 100 {
		name := filepath.Join(dir, ".cassette-"+strconv.FormatUint(rand.Uint64(), 36)+".tmp")
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
	return nil, errors.New("no free temp file name")
}
