package cassette

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultMaxFileBytes is the largest cassette file read when no other cap is set
// (replay.max_file_bytes, cassettes check --max-file-bytes): a file is read whole
// into memory, and a folder arrives in a pull request from anyone.
const DefaultMaxFileBytes = 64 << 20

// folder reads the cassettes of one directory as untrusted input: only regular files,
// each at most max bytes, and a symlink only when it resolves to a regular file inside
// the folder (a zero.json pointing at /dev/zero or ~/.ssh/id_ed25519 is refused).
type folder struct {
	dir  string
	real string // dir with every symlink resolved
	max  int64
}

func openFolder(dir string, max int64) (*folder, error) {
	if max <= 0 {
		max = DefaultMaxFileBytes
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	if real, err = filepath.Abs(real); err != nil {
		return nil, err
	}
	return &folder{dir: dir, real: real, max: max}, nil
}

// files returns the *.json entries of the folder, sorted: regular files and
// symlinks (read checks where those lead). Sub-folders are not cassettes.
func (f *folder) files() ([]string, error) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(f.dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// read loads one cassette of the folder, refusing anything but a regular file of at
// most f.max bytes inside the folder.
func (f *folder) read(path string) (*Record, error) {
	name := filepath.Base(path)
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return nil, fmt.Errorf("%s: a symlink that leads nowhere: %w", name, err)
		}
		if target, err = filepath.Abs(target); err != nil {
			return nil, err
		}
		if rel, err := filepath.Rel(f.real, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("%s: a symlink that leaves the cassette folder (to %s): refused, a cassette folder is untrusted input", name, target)
		}
		if fi, err = os.Stat(target); err != nil {
			return nil, err
		}
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s): refused", name, fi.Mode().Type())
	}
	if fi.Size() > f.max {
		return nil, f.tooBig(name, fi.Size())
	}
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	// Checked again on the open file, and read through a limit: the file may change
	// between the Lstat and the read.
	if st, err := fd.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file: refused", name)
	}
	data, err := io.ReadAll(io.LimitReader(fd, f.max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > f.max {
		return nil, f.tooBig(name, int64(len(data)))
	}
	return decode(name, data)
}

func (f *folder) tooBig(name string, size int64) error {
	return fmt.Errorf("%s: %d bytes, over the %d-byte cap on one cassette file (replay.max_file_bytes, or cassettes check --max-file-bytes)", name, size, f.max)
}

// splitFrames cuts b after every blank line ("\n\n" or "\r\n\r\n"); a tail with no
// blank line after it is the last piece.
func splitFrames(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\n\n"))
		j := bytes.Index(b, []byte("\r\n\r\n"))
		end := -1
		switch {
		case i >= 0 && (j < 0 || i <= j+2):
			end = i + 2
		case j >= 0:
			end = j + 4
		}
		if end < 0 {
			return append(out, b)
		}
		out = append(out, b[:end])
		b = b[end:]
	}
	return out
}

// normalizeEvents splits an event whose raw frame holds several SSE events (files
// recorded before one entry per event) into one event each: the bytes replayed are
// the same, and check, diff and hand edits see every event.
func (r *Record) normalizeEvents() {
	var out []Event
	split := false
	for _, e := range r.Response.Events {
		frames := splitFrames([]byte(e.Raw))
		if len(frames) < 2 {
			out = append(out, e)
			continue
		}
		split = true
		for _, fr := range frames {
			ev, ok := parseFrame(fr)
			if !ok {
				ev = Event{Raw: string(fr)}
			}
			ev.OffsetMS = e.OffsetMS
			out = append(out, ev)
		}
	}
	if split {
		r.Response.Events = out
	}
}

// unsafeParts lists what a cassette holds that replay will not send: response
// headers outside keptResponseHeaders, a content type no API answers with, control
// characters in a header value, request headers that never match. Check reports
// them; replay leaves them out.
func (r *Record) unsafeParts() []string {
	var out []string
	names := make([]string, 0, len(r.Response.Headers))
	for k := range r.Response.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := r.Response.Headers[k]
		switch {
		case !slicesContains(keptResponseHeaders, strings.ToLower(k)):
			out = append(out, fmt.Sprintf("response header %q is not replayed (only %s are)", k, strings.Join(keptResponseHeaders, ", ")))
		case strings.ContainsFunc(v, func(c rune) bool { return c < ' ' && c != '\t' || c == 0x7f }):
			out = append(out, fmt.Sprintf("response header %q has control characters", k))
		case strings.EqualFold(k, "content-type") && !allowedContentType(v):
			out = append(out, fmt.Sprintf("response content-type %q is not replayed (only %s)", v, strings.Join(replayContentTypes, ", ")))
		}
	}
	for k := range r.Request.Headers {
		lk := strings.ToLower(k)
		if lk != k || !strings.HasPrefix(lk, "x-mock-") && !slicesContains(answerHeaders, lk) {
			out = append(out, fmt.Sprintf("request header %q is never matched (only lower-case %s and x-mock-*)", k, strings.Join(answerHeaders, ", ")))
		}
	}
	sort.Strings(out[min(len(out), len(names)):])
	return out
}

func allowedContentType(v string) bool {
	mt, _, err := mime.ParseMediaType(v)
	return err == nil && slicesContains(replayContentTypes, mt)
}

// safeHeaders is the part of a cassette's response headers replay sends.
func safeHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		lk := strings.ToLower(k)
		if !slicesContains(keptResponseHeaders, lk) || strings.ContainsFunc(v, func(c rune) bool { return c < ' ' && c != '\t' || c == 0x7f }) {
			continue
		}
		if lk == "content-type" && !allowedContentType(v) {
			continue
		}
		out[lk] = v
	}
	return out
}
