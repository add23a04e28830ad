package server

import (
	"net"
	"net/http"
	"sync"
)

// limitListener accepts at most n open connections at once. Together with the header
// and idle timeouts this keeps a flood of connections from exhausting the process's
// file descriptors (which the database and upstream dials need too). At the cap, a new
// connection (accepted, so a client is really waiting) gets the place of the keep-alive
// connection that has sat idle between requests the longest: clients' pools keep many
// of those, and a client with a request to make must not wait behind them. Only while
// none is idle does it wait, and it takes the first one that goes idle.
type limitListener struct {
	net.Listener
	sem   chan struct{}
	idled chan struct{} // a connection went idle (capacity 1): a waiting Accept looks again
	done  chan struct{}
	once  sync.Once

	mu   sync.Mutex
	idle map[net.Conn]uint64 // connections idle between requests → when they went idle
	tick uint64
}

func limitListen(ln net.Listener, n int) *limitListener {
	if n <= 0 {
		return nil
	}
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), idled: make(chan struct{}, 1),
		done: make(chan struct{}), idle: make(map[net.Conn]uint64)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case l.sem <- struct{}{}:
			return c, nil
		default:
		}
		// At the cap. Evicting only now, with a client waiting, keeps keep-alives
		// open while nobody needs their place; and a connection finishing its
		// request just as this one arrived is taken as soon as it goes idle.
		l.evictIdle()
		select {
		case l.sem <- struct{}{}:
			return c, nil
		case <-l.idled:
		case <-l.done:
			_ = c.Close()
			return nil, net.ErrClosed
		}
	}
}

// evictIdle closes the connection that has been idle longest, if any.
func (l *limitListener) evictIdle() {
	l.mu.Lock()
	var oldest net.Conn
	var at uint64
	for c, t := range l.idle {
		if oldest == nil || t < at {
			oldest, at = c, t
		}
	}
	delete(l.idle, oldest)
	l.mu.Unlock()
	if oldest != nil {
		_ = oldest.Close()
	}
}

// connState is the http.Server's ConnState hook: it tracks which connections sit
// idle, and gives a connection's place back when the server reports it closed (or
// hijacked, when the server lets go of it). The server reports every connection's
// end, so the connections it serves are its own, not wrappers: a wrapper's methods
// sat on every read and write of every stream.
func (l *limitListener) connState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	if s == http.StateIdle {
		l.tick++
		l.idle[c] = l.tick
	} else {
		delete(l.idle, c)
	}
	l.mu.Unlock()
	switch s {
	case http.StateIdle:
		select {
		case l.idled <- struct{}{}:
		default:
		}
	case http.StateClosed, http.StateHijacked:
		<-l.sem
	}
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.done) })
	return err
}
