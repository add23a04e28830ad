package server

import (
	"net"
	"net/http"
	"testing"
	"testing/synctest"
)

// chanListener is a net.Listener fed by the test, so every wait in the listener under
// test is on a channel and synctest can see it.
type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *chanListener) Close() error   { close(l.done); return nil }
func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }

// TestAcceptTakesAConnectionThatGoesIdleLater: a client that arrives at the cap while
// every connection is still busy gets the place of the first one to go idle. The old
// listener looked for an idle connection once and then waited for a close that never
// came: TestIdleKeepAlivesMakeRoom lost that race on a loaded machine, when the second
// connection had not been marked idle yet as the third arrived.
func TestAcceptTakesAConnectionThatGoesIdleLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := &chanListener{conns: make(chan net.Conn, 2), done: make(chan struct{})}
		l := limitListen(ln, 1)
		defer l.Close()
		busyServer, busyClient := net.Pipe()
		defer busyClient.Close()
		ln.conns <- busyServer
		busy, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		l.connState(busy, http.StateActive)

		newServer, newClient := net.Pipe()
		defer newClient.Close()
		ln.conns <- newServer
		got := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				t.Error(err)
			}
			got <- c
		}()
		synctest.Wait() // the new client waits at the cap: nothing is idle
		select {
		case <-got:
			t.Fatal("accepted past the cap")
		default:
		}

		l.connState(busy, http.StateIdle) // the busy connection finishes its request
		synctest.Wait()                   // the waiting Accept closes it to make room
		if _, err := busyClient.Read(make([]byte, 1)); err == nil {
			t.Fatal("the idle connection was not closed to make room")
		}
		select {
		case <-got:
			t.Fatal("accepted before the closed connection gave its place back")
		default:
		}
		l.connState(busy, http.StateClosed) // the server sees the close and reports it
		c := <-got
		if c == nil {
			t.Fatal("no connection")
		}
		_ = c.Close()
	})
}
