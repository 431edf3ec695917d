package imapfront

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailrig/mailrig/mailtest/internal/conntrack"
)

// wrap puts a connection into a trackedConn, under any TLS layer so that
// go-imap still sees a *tls.Conn.
func (s *Server) wrap(c net.Conn) net.Conn {
	if d := s.opts.ReadTimeout; d > 0 {
		// Bounds an IMAPS handshake, which go-imap starts without one.
		_ = c.SetReadDeadline(time.Now().Add(d))
	}
	return &trackedConn{Conn: c, srv: s, id: s.ids.Add(1)}
}

// trackedConn is what go-imap reads and writes (under any TLS): it batches
// writes (see cork), shortens go-imap's read deadlines, and tells the
// connection tracking when go-imap's connection goroutine ends. Its last
// two steps are closing the session and then the connection; a Close
// before the session closed comes from elsewhere (the server's Close, a
// session dropping the line) and does not count.
type trackedConn struct {
	net.Conn      // a *conntrack.Conn when served
	srv           *Server
	sessionClosed atomic.Bool
	once          sync.Once
	id            uint64 // Command.ConnID of its session
	end           func() // Options.Trace's, called when the connection ends

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
		c.once.Do(func() {
			if c.end != nil {
				c.end()
			}
			if tc := conntrack.Of(c.Conn); tc != nil {
				tc.End()
			}
		})
	}
	return err
}

// NetConn returns the connection it wraps.
func (c *trackedConn) NetConn() net.Conn { return c.Conn }

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
