package imapfront

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
)

// trackedListener wraps accepted connections in trackedConn. It sits under
// any TLS layer so that go-imap still sees a *tls.Conn.
type trackedListener struct {
	net.Listener
	srv *Server
}

func (l *trackedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc, ok := l.srv.track(c)
		if !ok {
			_ = c.Close()
			continue // Close is under way; go-imap's Serve is about to stop
		}
		return tc, nil
	}
}

// trackedConn tells the server when go-imap's connection goroutine ends.
// Its last two steps are closing the session and then the connection; a
// Close before the session closed comes from elsewhere (go-imap's
// Server.Close, a session dropping the line) and does not count.
type trackedConn struct {
	net.Conn
	srv           *Server
	sessionClosed atomic.Bool
	once          sync.Once
	id            uint64 // Command.ConnID of its session
	end           func() // Options.Trace's, called when untracked

	// While corked (see cork), wbuf collects what go-imap writes; wmu
	// guards it, since IDLE writes from a second goroutine.
	wmu  sync.Mutex
	wbuf []byte
}

// corkSize is the most a corked connection holds before writing.
const corkSize = 64 << 10

var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, corkSize); return &b }}

// cork makes the connection collect writes until uncork, sending them in
// chunks of about corkSize. go-imap flushes after every response, so a
// FETCH of many messages otherwise costs a write system call (and a wake-up
// of the reader) per message. Only the session's goroutine corks, and it
// uncorks before the command's tagged reply.
func (c *trackedConn) cork() {
	c.wmu.Lock()
	if c.wbuf == nil {
		c.wbuf = (*corkBufs.Get().(*[]byte))[:0]
	}
	c.wmu.Unlock()
}

// uncork sends what the connection holds and ends cork.
func (c *trackedConn) uncork() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wbuf == nil {
		return nil
	}
	var err error
	if len(c.wbuf) > 0 {
		_, err = c.Conn.Write(c.wbuf)
	}
	b := c.wbuf[:0]
	corkBufs.Put(&b)
	c.wbuf = nil
	return err
}

// Write sends p, or while corked adds it to the buffer; when p does not
// fit, the buffer and p go out together in one writev, p uncopied.
func (c *trackedConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wbuf == nil {
		return c.Conn.Write(p)
	}
	if len(p) <= cap(c.wbuf)-len(c.wbuf) {
		c.wbuf = append(c.wbuf, p...)
		return len(p), nil
	}
	held := int64(len(c.wbuf))
	bufs := net.Buffers{c.wbuf, p}
	n, err := bufs.WriteTo(c.Conn)
	c.wbuf = c.wbuf[:0]
	return int(max(n-held, 0)), err
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	if c.sessionClosed.Load() {
		c.once.Do(func() { c.srv.untrack(c) })
	}
	return err
}

// trackedOf finds the trackedConn under a connection go-imap holds.
func trackedOf(c net.Conn) *trackedConn {
	switch cc := c.(type) {
	case *trackedConn:
		return cc
	case *frontConn:
		return cc.tc
	case *tls.Conn:
		tc, _ := cc.NetConn().(*trackedConn)
		return tc
	}
	return nil
}

// serveListener is what Serve hands to go-imap: it makes sure that every
// connection is tracked, wrapping plain ones itself.
type serveListener struct {
	net.Listener
	srv *Server
}

func (l *serveListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		switch cc := c.(type) {
		case *trackedConn:
			return c, nil
		case *tls.Conn:
			if _, ok := cc.NetConn().(*trackedConn); ok {
				return c, nil
			}
			// A TLS connection cannot be wrapped without hiding its type
			// from go-imap, and an untracked one would make Close return
			// while it still runs.
			l.srv.log.Error("imapfront: TLS listener is not tracked; use tls.NewListener(srv.TrackListener(ln), cfg)",
				"remote", c.RemoteAddr().String())
			_ = c.Close()
			continue
		default:
			tc, ok := l.srv.track(c)
			if !ok {
				_ = c.Close()
				continue
			}
			return tc, nil
		}
	}
}
