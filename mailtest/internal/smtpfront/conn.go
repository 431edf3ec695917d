package smtpfront

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// workaround(go-smtp v0.25.1): go-smtp has no way to leave PIPELINING,
// 8BITMIME, CHUNKING or SIZE out of EHLO, answers DATA/BDAT outside a
// transaction with 502 where RFC 5321 §4.3.2 says 503, and reads and writes
// a *tls.Conn directly, so no wrapper under it sees the plaintext of a TLS
// connection; remove when go-smtp can hide extensions and answers 503.
//
// So go-smtp never sees TLS: each connection it serves is a frontConn,
// which sits above TLS and does three small things without parsing a
// command.
//
//   - It edits go-smtp's replies, matched by their exact text, one line per
//     Write (go-smtp flushes every reply line on its own): hidden
//     extensions' EHLO lines are left out, STARTTLS is listed in go-smtp's
//     place, and the 502s for commands out of sequence (DATA/BDAT without
//     sender and recipient, RCPT before MAIL, MAIL or AUTH before EHLO)
//     become 503 5.5.1.
//   - It does TLS itself. The STARTTLS that go-smtp (without a TLSConfig)
//     answers "502 5.5.1 TLS not supported" is answered 220 instead; then
//     this go-smtp connection ends (Read returns EOF) and the client's
//     connection is handed, under TLS, to a second go-smtp server whose
//     greeting is dropped. That new go-smtp connection starts over exactly
//     as go-smtp's own STARTTLS does (new session, EHLO needed, AUTH
//     forgotten), and bytes a client pipelined after STARTTLS are dropped.
//     The two go-smtp servers differ in one setting: the TLS one allows
//     AUTH even with Options.RequireTLSForAuth.
//   - It records the conversation for Trace.Debug as the client had it,
//     and whether the client's input has ended (see inputEnded).
//   - It writes a multi-line reply in one write where go-smtp makes one
//     per line.
type frontConn struct {
	net.Conn // the client's connection, or TLS over it

	s        *Server
	raw      net.Conn // the client's connection as accepted (under TLS)
	id       string
	remote   string
	trace    Trace
	startTLS *tls.Config // set while STARTTLS is on offer
	tls      bool

	// Used only by go-smtp's goroutine of the connection.
	handshake    bool // a TLS handshake is due before the first read or write
	skipGreeting bool // this go-smtp connection follows a STARTTLS

	// wmu makes a reply and its record one step, so that Close, which
	// may come from another goroutine, ends the trace after the record.
	wmu         sync.Mutex
	traceClosed bool   // guarded by wmu
	pending     []byte // lines of a multi-line reply not yet written; guarded by wmu

	upgrade   atomic.Bool // STARTTLS was answered 220
	ended     atomic.Bool // reading failed or reached EOF
	closeOnce sync.Once
}

// frontListener hands go-smtp a frontConn for each connection accepted.
type frontListener struct {
	net.Listener
	s        *Server
	tls      bool
	startTLS *tls.Config
}

func (l frontListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	fc := &frontConn{Conn: c, s: l.s, raw: c, id: newSessionID(), remote: addrString(c.RemoteAddr()), tls: l.tls, handshake: l.tls}
	if !l.tls {
		fc.startTLS = l.startTLS
	}
	if l.s.opts.Trace != nil {
		fc.trace = l.s.opts.Trace(fc.id, fc.remote, l.tls)
	}
	return fc, nil
}

// go-smtp's reply lines that frontConn changes.
var (
	replyMissingRcpt  = []byte("502 5.5.1 Missing RCPT TO command.\r\n")
	replyMissingMail  = []byte("502 5.5.1 Missing MAIL FROM command.\r\n")
	replyNoHello      = []byte("502 5.5.1 Please introduce yourself first.\r\n")
	replyHelloFirst   = []byte("503 5.5.1 Please introduce yourself first.\r\n")
	replyBadSequence  = []byte("503 5.5.1 Bad sequence of commands\r\n")
	replyNoTLS        = []byte("502 5.5.1 TLS not supported\r\n")
	replyAlreadyTLS   = []byte("502 5.5.1 Already running in TLS\r\n")
	replyStartTLS     = []byte("220 2.0.0 Ready to start TLS\r\n")
	ehloChunking      = []byte("250-CHUNKING\r\n")
	ehloStartTLS      = []byte("250-STARTTLS\r\n")
	ehloChunkingThenS = []byte("250-CHUNKING\r\n250-STARTTLS\r\n")
)

// maxPending bounds the lines of a multi-line reply held for one write.
const maxPending = 4096

// continues reports whether the last line of b is a reply line that more
// lines follow ("250-…").
func continues(b []byte) bool {
	last := b[bytes.LastIndexByte(b[:len(b)-1], '\n')+1:]
	return len(last) >= 4 && last[3] == '-'
}

// edit returns what the client gets for go-smtp's line p: p itself, a
// replacement, or nothing.
func (fc *frontConn) edit(p []byte) []byte {
	if len(p) < 4 {
		return p
	}
	switch string(p[:4]) {
	case "250-":
		// go-smtp's EHLO lines, in its order: PIPELINING, 8BITMIME,
		// ENHANCEDSTATUSCODES, CHUNKING, [STARTTLS], AUTH, SMTPUTF8, SIZE,
		// and last LIMITS (MaxRecipients is never 0), so a hidden line is
		// never the last one.
		kw := p[4:]
		if i := bytes.IndexAny(kw, " \r"); i >= 0 {
			kw = kw[:i]
		}
		if fc.s.hiddenKeyword(kw) {
			if bytes.Equal(p, ehloChunking) && fc.startTLS != nil {
				return ehloStartTLS
			}
			return nil
		}
		if fc.startTLS != nil && bytes.Equal(p, ehloChunking) {
			return ehloChunkingThenS
		}
	case "502 ":
		switch {
		case bytes.Equal(p, replyMissingRcpt), bytes.Equal(p, replyMissingMail):
			return replyBadSequence
		case bytes.Equal(p, replyNoHello):
			return replyHelloFirst
		case bytes.Equal(p, replyNoTLS) && fc.tls:
			return replyAlreadyTLS
		case bytes.Equal(p, replyNoTLS) && fc.startTLS != nil:
			fc.upgrade.Store(true)
			return replyStartTLS
		}
	}
	return p
}

func (fc *frontConn) Write(p []byte) (int, error) {
	if err := fc.doHandshake(); err != nil {
		return 0, err
	}
	if fc.skipGreeting {
		fc.skipGreeting = false
		return len(p), nil
	}
	out := fc.edit(p)
	if len(out) == 0 {
		return len(p), nil
	}
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	if continues(out) && len(fc.pending)+len(out) <= maxPending {
		// go-smtp writes the rest of the reply right away: send it whole,
		// in one write instead of one per line (EHLO has ten).
		fc.pending = append(fc.pending, out...)
		return len(p), nil
	}
	if len(fc.pending) > 0 {
		out = append(fc.pending, out...)
		fc.pending = fc.pending[:0]
	}
	if _, err := fc.Conn.Write(out); err != nil {
		return 0, err
	}
	if fc.trace.Debug != nil && !fc.traceClosed {
		_, _ = fc.trace.Debug.Write(out)
	}
	return len(p), nil
}

func (fc *frontConn) Read(p []byte) (int, error) {
	if fc.upgrade.Load() {
		// End this go-smtp connection; Close starts TLS (see frontConn).
		return 0, io.EOF
	}
	if err := fc.doHandshake(); err != nil {
		fc.ended.Store(true)
		return 0, err
	}
	n, err := fc.Conn.Read(p)
	if n > 0 && fc.trace.Debug != nil {
		_, _ = fc.trace.Debug.Write(p[:n])
	}
	if err != nil {
		fc.ended.Store(true)
	}
	return n, err
}

// doHandshake carries out a due TLS handshake within ReadTimeout, as
// go-smtp does for the *tls.Conn it is given.
func (fc *frontConn) doHandshake() error {
	if !fc.handshake {
		return nil
	}
	fc.handshake = false
	tc := fc.Conn.(*tls.Conn)
	_ = tc.SetDeadline(time.Now().Add(fc.s.opts.ReadTimeout))
	err := tc.Handshake()
	_ = tc.SetDeadline(time.Time{})
	return err
}

// Close ends the client's connection, unless it ends this go-smtp
// connection for STARTTLS: then the client's connection goes on under TLS
// with the TLS go-smtp server.
func (fc *frontConn) Close() error {
	var err error
	fc.closeOnce.Do(func() {
		if fc.upgrade.Load() && !fc.s.isClosed() {
			next := &frontConn{Conn: tls.Server(fc.raw, fc.startTLS), s: fc.s, raw: fc.raw, id: fc.id,
				remote: fc.remote, trace: fc.trace, tls: true, handshake: true, skipGreeting: true}
			if fc.s.handoff.push(next) {
				return
			}
		}
		err = fc.Conn.Close() // first, as it ends a write in progress
		fc.wmu.Lock()
		fc.traceClosed = true
		fc.wmu.Unlock()
		if fc.trace.End != nil {
			fc.trace.End()
		}
	})
	return err
}

// inputEnded reports whether reading from c, go-smtp's connection, has
// failed or reached EOF.
func inputEnded(c net.Conn) bool {
	fc, ok := c.(*frontConn)
	return ok && fc.ended.Load()
}

// handoff is the listener of the TLS go-smtp server through which
// connections come after STARTTLS.
type handoff struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newHandoff() *handoff {
	return &handoff{conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the server's Accept; false if the listener is closed.
func (h *handoff) push(c net.Conn) bool {
	select {
	case <-h.done:
		return false
	default:
	}
	select {
	case h.conns <- c:
		return true
	case <-h.done:
		return false
	}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *handoff) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "starttls" }
func (handoffAddr) String() string  { return "starttls" }
