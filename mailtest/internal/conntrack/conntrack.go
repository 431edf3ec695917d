// Package conntrack is the scaffold the three front-ends (SMTP, IMAP,
// POP3) share: it tracks a server's listeners and connections, retries
// temporary Accept errors with a back-off, turns away connections beyond a
// limit, runs the accept loop, and gives the server a Close that returns
// only when every connection it accepted has ended. The protocol
// libraries we build on (go-smtp, go-imap) do not wait for their
// connection goroutines on Close; a connection's Close is the last thing
// those goroutines do, so waiting for it bounds their lifetime.
//
// The wrappers sit under TLS: a front-end puts tls.NewListener on top of
// what Listen returns, so libraries that detect TLS with a *tls.Conn type
// check keep working.
package conntrack

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailrig/mailrig/mailtest/internal/slogx"
)

// Options configures a Tracker.
type Options struct {
	// Logger gets a warning for each Accept retry; nil discards.
	Logger *slog.Logger
	// ExplicitEnd makes a connection end when its owner calls Conn.End,
	// not at its first Close: for libraries that close a connection early
	// (a session dropping the line) while its goroutine still runs.
	ExplicitEnd bool
}

// Tracker tracks the listeners and connections of one server. The zero
// value is not usable; create one with New.
type Tracker struct {
	opts Options
	log  *slog.Logger
	done chan struct{} // closed by Close

	mu        sync.Mutex
	closed    bool
	listeners map[*Listener]struct{}
	conns     map[*Conn]struct{}
	// wg counts connections not yet ended, refusals and handlers running,
	// and Accept calls under way.
	wg sync.WaitGroup
}

// New returns a tracker configured by opts.
func New(opts Options) *Tracker {
	return &Tracker{
		opts:      opts,
		log:       slogx.OrDiscard(opts.Logger),
		done:      make(chan struct{}),
		listeners: make(map[*Listener]struct{}),
		conns:     make(map[*Conn]struct{}),
	}
}

// ListenConfig says how a listener's connections are admitted and
// wrapped.
type ListenConfig struct {
	// TLS, if set, makes the listener implicit TLS: a tls.NewListener sits
	// on top of the tracking, and refusals come after a handshake.
	TLS *tls.Config
	// MaxConns limits the listener's open connections; beyond it a
	// connection is answered Refusal (one line, CRLF added) and closed.
	// 0 means no limit.
	MaxConns int
	Refusal  string
	// Refused, if set, is told of each connection turned away beyond
	// MaxConns, with the line it gets, before it gets it (for transcripts).
	Refused func(c net.Conn, line string)
	// Admit, if set, is asked about the connections within MaxConns.
	Admit Admit
	// Wrap, if set, wraps each connection handed out, under TLS.
	Wrap func(net.Conn) net.Conn
}

// Admit decides about a connection as it is accepted. It returns nil to
// hand the connection out, or a function that turns it away: that
// function runs instead, on a goroutine of its own that Close waits for,
// and the connection is closed after it (see Refuse).
type Admit func(c net.Conn) (refuse func())

// Listen returns a listener whose Accept hands out ln's connections,
// tracked, as cfg says. It reports false, and closes ln, if the tracker is
// already closed.
func (t *Tracker) Listen(ln net.Listener, cfg ListenConfig) (net.Listener, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = ln.Close()
		return nil, false
	}
	l := &Listener{ln: ln, t: t, cfg: cfg}
	t.listeners[l] = struct{}{}
	if cfg.TLS != nil {
		return tls.NewListener(l, cfg.TLS), true
	}
	return l, true
}

// Serve listens on ln as cfg says (see Listen) and hands each connection
// to handle, on a goroutine of its own that Close waits for, until Accept
// fails. It returns nil after Close, like net/http's (also when called
// after Close), and otherwise the Accept error.
func (t *Tracker) Serve(ln net.Listener, cfg ListenConfig, handle func(net.Conn)) error {
	l, ok := t.Listen(ln, cfg)
	if !ok {
		return nil
	}
	return t.ServeListener(l, handle)
}

// ServeListener is Serve on a listener that Listen returned.
func (t *Tracker) ServeListener(ln net.Listener, handle func(net.Conn)) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if t.Closed() {
				return nil
			}
			return err
		}
		// c is tracked and has not ended, so the count is above zero and
		// Add may run beside Close's Wait.
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			handle(c)
		}()
	}
}

// Closed reports whether Close was called.
func (t *Tracker) Closed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Done is closed when Close is called.
func (t *Tracker) Done() <-chan struct{} { return t.done }

// Sleep waits d, or less if Close is called; it reports whether the whole
// delay passed.
func (t *Tracker) Sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.done:
		return false
	}
}

// Open returns the number of connections accepted and not yet ended.
func (t *Tracker) Open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// Close closes every listener and every connection, and returns once
// every connection has ended, every handler and refusal has returned, and
// every Accept under way has returned. It returns the first error from closing
// a listener. Calling it again waits the same way.
func (t *Tracker) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	close(t.done)
	listeners := make([]*Listener, 0, len(t.listeners))
	for l := range t.listeners {
		listeners = append(listeners, l)
	}
	conns := make([]*Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()

	var err error
	for _, l := range listeners {
		if cerr := l.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
			err = cerr
		}
	}
	for _, c := range conns {
		_ = c.Conn.Close() // the owner still calls c.Close (or End), which ends it
	}
	t.wg.Wait()
	return err
}

// track registers a new connection, or reports false once Close was called.
func (t *Tracker) track(nc net.Conn, l *Listener) (*Conn, int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, 0, false
	}
	c := &Conn{Conn: nc, t: t, l: l}
	t.conns[c] = struct{}{}
	t.wg.Add(1)
	return c, int(l.open.Add(1)), true
}

// Listener is a net.Listener whose connections are tracked. Create it with
// Tracker.Listen.
type Listener struct {
	ln   net.Listener
	t    *Tracker
	cfg  ListenConfig
	open atomic.Int64
}

// Accept waits for and returns the next connection, tracked. It retries
// temporary errors (out of file descriptors, an aborted handshake) with a
// back-off, and fails with net.ErrClosed after Close.
func (l *Listener) Accept() (net.Conn, error) {
	if !l.t.enter() {
		return nil, net.ErrClosed
	}
	defer l.t.wg.Done()
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if l.t.Closed() {
				return nil, net.ErrClosed
			}
			if temporary(err) {
				// Out of descriptors is common when a test suite opens many
				// connections at once: wait for some to close rather than give up.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.t.log.Warn("accept failed; retrying", "err", err, "delay", delay)
				if !l.t.Sleep(delay) {
					return nil, net.ErrClosed
				}
				continue
			}
			return nil, err
		}
		delay = 0
		c, open, ok := l.t.track(nc, l)
		if !ok {
			_ = nc.Close()
			return nil, net.ErrClosed
		}
		if refuse := l.admit(c, open); refuse != nil {
			l.t.wg.Add(1) // c is counted, see ServeListener
			go func() {
				defer l.t.wg.Done()
				refuse()
				_ = c.Close()
				c.End()
			}()
			continue
		}
		if l.cfg.Wrap != nil {
			return l.cfg.Wrap(c), nil
		}
		return c, nil
	}
}

// admit applies the limit and then Admit; see ListenConfig.
func (l *Listener) admit(c *Conn, open int) (refuse func()) {
	cfg := &l.cfg
	if cfg.MaxConns > 0 && open > cfg.MaxConns {
		return func() {
			if cfg.Refused != nil {
				cfg.Refused(c, cfg.Refusal)
			}
			Refuse(c, cfg.TLS, cfg.Refusal)
		}
	}
	if cfg.Admit != nil {
		return cfg.Admit(c)
	}
	return nil
}

// enter counts an Accept under way for Close, or reports false once Close
// was called.
func (t *Tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

// Close closes the listener; its connections stay open.
func (l *Listener) Close() error { return l.ln.Close() }

// Addr returns the listener's address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

func temporary(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || (errors.As(err, &ne) && ne.Timeout())
}

// Conn is a tracked connection.
type Conn struct {
	net.Conn
	t     *Tracker
	l     *Listener
	ended sync.Once
}

// Close closes the connection and, unless Options.ExplicitEnd is set, ends
// it.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	if !c.t.opts.ExplicitEnd {
		c.End()
	}
	return err
}

// End marks the connection as ended, for Close and Open; calls after the
// first do nothing. With Options.ExplicitEnd the connection's owner calls
// it after its last use of the connection, which it must have closed.
func (c *Conn) End() {
	c.ended.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
		c.l.open.Add(-1)
		c.t.wg.Done()
	})
}

// NetConn returns the connection it wraps.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Of finds the tracked connection under c, looking through *tls.Conn and
// other wrappers with a NetConn method; nil if there is none.
func Of(c net.Conn) *Conn {
	for c != nil {
		switch cc := c.(type) {
		case *Conn:
			return cc
		case interface{ NetConn() net.Conn }:
			c = cc.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// Refuse writes one line (CRLF added) to a connection the server turns
// away, after a TLS handshake if tlsConfig is set (an implicit-TLS
// listener), and closes it. An empty line closes without a word.
func Refuse(c net.Conn, tlsConfig *tls.Config, line string) {
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	if tlsConfig != nil {
		tc := tls.Server(c, tlsConfig)
		_ = tc.SetDeadline(deadline)
		if err := tc.Handshake(); err != nil {
			return
		}
		c = tc
	}
	if line == "" {
		return
	}
	_ = c.SetWriteDeadline(deadline)
	_, _ = io.WriteString(c, line+"\r\n")
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
