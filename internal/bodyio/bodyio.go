// Package bodyio reads HTTP bodies whole in as few allocations as their declared
// length allows. Both directions of the gateway read whole bodies on the hot path
// (the client's request, a provider's non-stream answer); io.ReadAll and
// bytes.Buffer start small and grow, copying the body two to four times.
package bodyio

import (
	"bytes"
	"io"
)

// exactUpTo is the largest declared length trusted for one up-front allocation;
// past it (or with no length) the buffer grows as bytes arrive, so a lying header
// cannot make us allocate more than is sent.
const exactUpTo = 1 << 20

// ReadAll reads r to its end. With a declared length (Content-Length, or -1 when
// unknown) it reads into one buffer of exactly that size plus a byte to see the
// end; otherwise it grows as needed. The bytes returned are what r gave, whatever
// length said.
func ReadAll(r io.Reader, length int64) ([]byte, error) {
	if length <= 0 || length > exactUpTo {
		buf := bytes.NewBuffer(make([]byte, 0, 4096))
		_, err := buf.ReadFrom(r)
		return buf.Bytes(), err
	}
	b := make([]byte, length+1)
	for n := 0; n < len(b); {
		m, err := r.Read(b[n:])
		n += m
		if err == io.EOF {
			return b[:n], nil
		}
		if err != nil {
			return nil, err
		}
	}
	// length+1 bytes arrived: more than declared (only possible without net/http's
	// framing, as in tests); read the rest the slow way.
	buf := bytes.NewBuffer(b)
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}
