package bodyio

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// ReadAll must return exactly the bytes sent whatever the declared length says
// (net/http enforces Content-Length; tests and wrappers may not), and pass a
// reader's error through (a cut body is ErrUnexpectedEOF, not a short body).
func TestReadAll(t *testing.T) {
	body := strings.Repeat("x", 5000)
	for _, length := range []int64{-1, 0, 1, 100, 4999, 5000, 5001, 9000, 2 << 20} {
		got, err := ReadAll(iotest.HalfReader(strings.NewReader(body)), length)
		if err != nil || string(got) != body {
			t.Errorf("length %d: %d bytes, %v; want %d bytes", length, len(got), err, len(body))
		}
	}
	cut := io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := ReadAll(cut, 10); err != io.ErrUnexpectedEOF {
		t.Errorf("cut body: err %v, want ErrUnexpectedEOF", err)
	}
	if got, err := ReadAll(bytes.NewReader(nil), 10); err != nil || len(got) != 0 {
		t.Errorf("empty body: %q, %v", got, err)
	}
}
