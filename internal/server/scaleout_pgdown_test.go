package server_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jmanhype/runestone/internal/store"
)

// tcpCut is a TCP proxy to Postgres that the test can cut (close every connection and
// refuse new ones) and restore on the same address: a database outage in miniature.
type tcpCut struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newTCPCut(t *testing.T, target string) *tcpCut {
	p := &tcpCut{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.cut(); p.wg.Wait() })
	return p
}

func (p *tcpCut) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(u, c); _ = u.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, u); _ = c.Close() }()
		}
	}()
}

func (p *tcpCut) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *tcpCut) restore(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

// With Postgres unreachable a replica keeps serving known keys and keeps log rows in
// memory; they reach the database once it is back.
func TestScaleOutPostgresOutage(t *testing.T) {
	c := newCluster(t, "", nil)
	direct := c.store()
	_, secret, err := direct.CreateKey(context.Background(), store.NewKey{Name: "pg"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPCut(t, u.Host)
	u.Host = proxy.addr
	c.dsn = u.String()
	var log syncBuf
	r := c.replica(&log)
	if code, body := scaleChat(r.URL, secret, "mock", nil); code != 200 {
		t.Fatalf("before outage: %d %s", code, body)
	}
	proxy.cut()
	for range 10 {
		if code, body := scaleChat(r.URL, secret, "mock", nil); code != 200 {
			t.Fatalf("during the Postgres outage: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := log.count("cannot read keys from the database"); n != 1 {
		t.Fatalf("%d key-outage log lines, want 1", n)
	}
	proxy.restore(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := direct.ListRequests(context.Background(), store.RequestFilter{KeyID: ""})
		if err == nil && len(rows) >= 11 && log.count("reading keys from the database again") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d log rows in Postgres after recovery, want 11 (err %v); key-recovery lines %d",
				len(rows), err, log.count("reading keys from the database again"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
