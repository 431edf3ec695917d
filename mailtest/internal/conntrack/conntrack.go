// Package conntrack wraps a net.Listener so that its owner can close every
// connection it accepted and wait until each one is closed. The protocol
// libraries we build on (go-smtp, go-imap) do not wait for their connection
// goroutines on Close; a connection's Close is the last thing those
// goroutines do, so waiting for every Close bounds their lifetime.
//
// The wrapper sits under TLS: callers put tls.NewListener on top of it, so
// libraries that detect TLS with a *tls.Conn type check keep working.
package conntrack

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Listener is a net.Listener that tracks the connections it accepts.
type Listener struct {
	net.Listener

	mu     sync.Mutex
	conns  map[*Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	active atomic.Int64

	// Limit, if set, is called for each new connection with the number of
	// connections open including it; if it returns false the connection is
	// handed to Reject instead of being returned by Accept.
	Limit func(c net.Conn, open int64) bool
	// Reject gets connections refused by Limit; it must close them. It runs
	// on its own goroutine, which Wait also waits for.
	Reject func(net.Conn)
}

// Wrap returns a tracking listener around ln.
func Wrap(ln net.Listener) *Listener {
	return &Listener{Listener: ln, conns: make(map[*Conn]struct{})}
}

// Accept waits for and returns the next connection, tracked.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c := &Conn{Conn: nc, l: l}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			nc.Close()
			return nil, net.ErrClosed
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		open := l.active.Add(1)
		if l.Limit != nil && l.Reject != nil && !l.Limit(c, open) {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.Reject(c)
				c.Close()
			}()
			continue
		}
		return c, nil
	}
}

// Open returns the number of connections accepted and not yet closed.
func (l *Listener) Open() int64 { return l.active.Load() }

// CloseAll closes the listener and every tracked connection.
func (l *Listener) CloseAll() error {
	l.mu.Lock()
	l.closed = true
	conns := make([]*Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	err := l.Listener.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	for _, c := range conns {
		c.Conn.Close() // the owner's goroutine still calls c.Close, which Wait counts
	}
	return err
}

// Wait blocks until every accepted connection has been closed by its owner.
func (l *Listener) Wait() { l.wg.Wait() }

// Conn is a tracked connection.
type Conn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

// Close closes the connection and marks it done for Wait.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.active.Add(-1)
		c.l.wg.Done()
	})
	return err
}

// Refuse writes one line (CRLF added) to a connection the server turns
// away, after a TLS handshake if tlsConfig is set (an implicit-TLS
// listener), and closes it. An empty line closes without a word.
func Refuse(c net.Conn, tlsConfig *tls.Config, line string) {
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	if tlsConfig != nil {
		tc := tls.Server(c, tlsConfig)
		tc.SetDeadline(deadline)
		if err := tc.Handshake(); err != nil {
			return
		}
		c = tc
	}
	if line == "" {
		return
	}
	c.SetWriteDeadline(deadline)
	io.WriteString(c, line+"\r\n")
}

// OneConn returns a listener that hands out c once and then fails with
// net.ErrClosed. The front-ends give each connection a protocol-library
// server of its own (so each has its own debug writer); that server's
// Serve returns as soon as it has started the connection's goroutine.
func OneConn(c net.Conn) net.Listener { return &oneConn{c: c, addr: c.LocalAddr()} }

type oneConn struct {
	c    net.Conn
	addr net.Addr
}

func (l *oneConn) Accept() (net.Conn, error) {
	c := l.c
	if c == nil {
		return nil, net.ErrClosed
	}
	l.c = nil
	return c, nil
}

func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.addr }
