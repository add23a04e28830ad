// Package testutil holds test helpers shared across packages: reading the recorded
// provider exchanges under testdata/ and fake upstreams that replay them. Only tests
// import it.
package testutil

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Exchange is one recorded request and its response.
type Exchange struct {
	RequestBody []byte
	Status      int
	Header      http.Header
	Body        []byte
}

// Testdata returns the path of a file under the repository's testdata folder.
func Testdata(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "testdata")
	return filepath.Join(append([]string{root}, parts...)...)
}

// ReadFile reads a testdata file or fails the test.
func ReadFile(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(Testdata(parts...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ReadHTTPRR parses an httprr trace ("httprr trace v1", then "N M" and N request
// bytes and M response bytes per exchange).
func ReadHTTPRR(t testing.TB, parts ...string) []Exchange {
	t.Helper()
	data := ReadFile(t, parts...)
	header, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok || string(header) != "httprr trace v1" {
		t.Fatalf("%s: not an httprr trace", filepath.Join(parts...))
	}
	var out []Exchange
	for len(rest) > 0 {
		line, after, _ := bytes.Cut(rest, []byte("\n"))
		fields := strings.Fields(string(line))
		if len(fields) != 2 {
			t.Fatalf("bad httprr header %q", line)
		}
		n, _ := strconv.Atoi(fields[0])
		m, _ := strconv.Atoi(fields[1])
		reqRaw, respRaw := after[:n], after[n:n+m]
		rest = after[n+m:]
		ex, err := parseExchange(reqRaw, respRaw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ex)
	}
	return out
}

func parseExchange(reqRaw, respRaw []byte) (Exchange, error) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(reqRaw)))
	if err != nil {
		return Exchange{}, fmt.Errorf("read request: %w", err)
	}
	reqBody, _ := io.ReadAll(req.Body)
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(respRaw)), req)
	if err != nil {
		return Exchange{}, fmt.Errorf("read response: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Exchange{}, fmt.Errorf("read response body: %w", err)
	}
	return Exchange{RequestBody: reqBody, Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}
