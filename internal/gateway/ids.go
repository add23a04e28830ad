package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"
)

// idSource mints request ids: a random per-process prefix and a counter, unique
// without a syscall per request.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() idSource {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return idSource{prefix: "req_" + hex.EncodeToString(b[:])}
}

func (s *idSource) next() string {
	var buf [48]byte
	b := append(buf[:0], s.prefix...)
	b = strconv.AppendUint(b, s.n.Add(1)+1<<20, 36)
	return string(b)
}

// requestID returns the client's x-request-id when it is sane, else a new one.
func (s *idSource) requestID(r *http.Request) string {
	if v := r.Header.Get("X-Request-Id"); v != "" && len(v) <= 128 && printable(v) {
		return v
	}
	return s.next()
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
