package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/mailrig/mailrig/mailtest/internal/fault"
)

// maxSASLLineLen bounds a SASL continuation line. RFC 5034 §4 exempts them
// from the 255-octet command limit; they must still fit in the read buffer.
const maxSASLLineLen = readBufferSize - 2

const (
	readBufferSize  = 4096
	writeBufferSize = 16 << 10
)

// errCut is the write error after an Intercept's DropAfter budget ran out.
var errCut = errors.New("pop3: connection cut by intercept")

// message is a maildrop message with its deletion mark.
type message struct {
	MessageInfo
	deleted bool
}

// session is one client connection; it runs on its own goroutine.
type session struct {
	srv    *Server
	raw    net.Conn // as accepted; closing it ends the session
	conn   net.Conn // current transport: raw, or a *tls.Conn
	out    *cutWriter
	r      *bufio.Reader
	w      *bufio.Writer
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger

	id        string
	tr        Trace
	tls       bool
	state     State
	timestamp string // APOP timestamp from the greeting, brackets included

	user     string // name from USER awaiting PASS
	username string // logged-in user
	drop     Maildrop
	msgs     []message

	retrieved []uint32 // RETRs buffered but not yet flushed

	bad     int   // rejected commands so far
	done    bool  // end the session after the current command
	err     error // first write error; the session ends with it
	scratch []byte
}

// newSessionID names a session like the smtp-… and imap-… sessions of the
// other front-ends.
func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return "pop3-" + hex.EncodeToString(b[:])
}

func newSession(srv *Server, c net.Conn) *session {
	id := newSessionID()
	ctx, cancel := context.WithCancel(srv.ctx)
	s := &session{
		srv:    srv,
		raw:    c,
		conn:   c,
		ctx:    ctx,
		cancel: cancel,
		id:     id,
		log:    srv.log.With("session", id, "remote", c.RemoteAddr().String()),
	}
	if srv.opts.Trace != nil {
		_, implicitTLS := c.(*tls.Conn)
		s.tr = srv.opts.Trace(id, c.RemoteAddr().String(), implicitTLS)
	}
	s.out = &cutWriter{s: s, budget: -1}
	s.r = bufio.NewReaderSize(c, readBufferSize)
	s.w = bufio.NewWriterSize(s.out, writeBufferSize)
	s.timestamp = fmt.Sprintf("<%d.%d@%s>", os.Getpid(), time.Now().UnixNano(), srv.opts.Hostname)
	return s
}

// serve runs the session until QUIT, a fatal error, a timeout or Close.
func (s *session) serve() {
	defer s.cancel()
	defer func() {
		// The Backend contract: Close exactly once per successful login, even
		// when the client vanished or the server is closing.
		if s.drop != nil {
			s.drop.Close()
			s.drop = nil
		}
	}()
	defer func() {
		// A bug in a handler or Backend must not take the test binary down.
		if v := recover(); v != nil {
			s.log.Error("pop3: panic in session", "panic", v)
		}
	}()
	s.log.Debug("pop3: session start")
	defer s.log.Debug("pop3: session end")

	if tc, ok := s.raw.(*tls.Conn); ok {
		if err := s.handshake(tc); err != nil {
			s.log.Debug("pop3: implicit TLS handshake failed", "err", err)
			return
		}
	}
	if act := s.intercept("CONNECT", nil); act != nil && (act.Drop || act.Reply != "") {
		if act.Drop {
			return
		}
		if !s.replyWith(act.Reply) {
			// A refused greeting means the server is not available (RFC 1939 §4
			// has no other way to say so); hang up like a real server would.
			s.flush()
			return
		}
	} else {
		s.ok("%s POP3 server ready %s", s.srv.opts.Implementation, s.timestamp)
	}

	for !s.done && s.err == nil {
		line, tooLong, err := s.readCommandLine(maxLineLen)
		if err != nil {
			s.readFailed(err)
			break
		}
		if tooLong {
			s.trace(true, "<line too long>")
			s.user = ""
			s.reject("", "command line too long")
			continue
		}
		s.handleLine(line)
	}
	s.flush()
}

// handshake completes a TLS handshake within the read timeout.
func (s *session) handshake(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.opts.ReadTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("pop3: TLS handshake: %w", err)
	}
	s.conn = tc
	s.tls = true
	s.r.Reset(tc)
	return nil
}

// readCommandLine flushes pending replies unless another complete command
// is already buffered (so pipelined replies go out in one write), waits up
// to IdleTimeout for the next command to start and ReadTimeout for it to
// finish. Lines longer than limit are drained and reported as tooLong.
func (s *session) readCommandLine(limit int) (line string, tooLong bool, err error) {
	if !s.hasBufferedLine() {
		s.flush()
		if s.err != nil {
			return "", false, s.err
		}
	}
	if s.r.Buffered() == 0 {
		if err := s.conn.SetReadDeadline(time.Now().Add(s.srv.opts.IdleTimeout)); err != nil {
			return "", false, err
		}
		if _, err := s.r.Peek(1); err != nil {
			return "", false, &timeoutError{idle: true, err: err}
		}
	}
	if err := s.conn.SetReadDeadline(time.Now().Add(s.srv.opts.ReadTimeout)); err != nil {
		return "", false, err
	}
	return s.readLine(limit)
}

// timeoutError marks a read error that happened while idle between commands.
type timeoutError struct {
	idle bool
	err  error
}

func (e *timeoutError) Error() string { return e.err.Error() }
func (e *timeoutError) Unwrap() error { return e.err }

func (s *session) hasBufferedLine() bool {
	n := s.r.Buffered()
	if n == 0 {
		return false
	}
	b, _ := s.r.Peek(n) // never blocks: n bytes are buffered
	return bytes.IndexByte(b, '\n') >= 0
}

// readLine reads one line, CRLF or bare LF terminated, without its ending.
// A line over limit octets is consumed in buffer-sized pieces so a client
// cannot make the server hold more than the read buffer.
func (s *session) readLine(limit int) (string, bool, error) {
	tooLong := false
	for {
		b, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			tooLong = true
			continue
		}
		if err != nil {
			return "", false, err
		}
		if tooLong {
			return "", true, nil
		}
		b = b[:len(b)-1]
		if len(b) > 0 && b[len(b)-1] == '\r' {
			b = b[:len(b)-1]
		}
		if len(b) > limit {
			return "", true, nil
		}
		return string(b), false, nil
	}
}

// readFailed ends the session after a read error, telling the client why
// when it is still listening (timeouts).
func (s *session) readFailed(err error) {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("pop3: read failed", "err", err)
		}
		return
	}
	var te *timeoutError
	if errors.As(err, &te) && te.idle {
		s.fail(CodeSysTemp, "autologout: idle for too long")
	} else {
		s.fail(CodeSysTemp, "timeout reading command")
	}
	s.log.Debug("pop3: timeout", "err", err)
}

// handleLine parses and runs one command line.
func (s *session) handleLine(line string) {
	s.trace(true, maskCommand(line))
	cmd, err := parseCommand(line)
	if err != nil {
		s.user = ""
		s.reject("", "invalid command: "+err.Error())
		return
	}

	// RFC 1939 §7: PASS must immediately follow USER.
	if cmd.Name != "PASS" {
		s.user = ""
	}
	if act := s.intercept(cmd.Name, cmd.Args); act != nil {
		switch {
		case act.Drop:
			s.flush() // earlier pipelined replies were owed
			s.done = true
			return
		case act.DropAfter > 0:
			s.flush() // earlier pipelined replies don't count against the budget
			s.out.budget = act.DropAfter
			s.dispatch(cmd)
			s.flush()
			s.done = true
			return
		case act.Reply != "":
			s.replyWith(act.Reply)
			return
		}
	}
	s.dispatch(cmd)
}

// intercept asks Options.Intercept about a command and waits out the
// action's delay; Close cuts the delay short and turns it into a drop.
func (s *session) intercept(name string, args []string) *fault.Action {
	if s.srv.opts.Intercept == nil {
		return nil
	}
	info := SessionInfo{ID: s.id, RemoteAddr: s.raw.RemoteAddr(), TLS: s.tls, State: s.state, Username: s.username}
	act := s.srv.opts.Intercept(info, name, args)
	if act == nil {
		return nil
	}
	if !s.srv.conns.Sleep(act.Delay) {
		return &fault.Action{Drop: true}
	}
	return act
}

func (s *session) connInfo() ConnInfo {
	return ConnInfo{RemoteAddr: s.raw.RemoteAddr(), TLS: s.tls, SessionID: s.id}
}

// ok sends a positive status line.
func (s *session) ok(format string, args ...any) {
	s.status(true, "", fmt.Sprintf(format, args...))
}

// fail sends "-ERR" for a problem that is not the client's fault (backend
// failures, timeouts); it does not count towards MaxBadCommands.
func (s *session) fail(code, text string) {
	s.status(false, code, text)
}

// reject sends "-ERR" for a command the client got wrong and counts it;
// the MaxBadCommands-th rejection ends the session instead.
func (s *session) reject(code, text string) {
	s.bad++
	if s.bad >= s.srv.opts.MaxBadCommands {
		s.status(false, "", "too many bad commands")
		s.done = true
		return
	}
	s.status(false, code, text)
}

// replyWith sends a fault's reply and reports whether it was +OK; one
// that does not parse (Options.Intercept is not mailtest's) becomes -ERR.
func (s *session) replyWith(reply string) bool {
	ok, code, text, err := ParseReply(reply)
	if err != nil {
		s.log.Error("pop3: bad fault reply; answering -ERR", "err", err)
		ok, code, text = false, "", ""
	}
	s.status(ok, code, text)
	return ok
}

func (s *session) status(ok bool, code, text string) {
	b := s.scratch[:0]
	if ok {
		b = append(b, "+OK"...)
	} else {
		b = append(b, "-ERR"...)
	}
	if code != "" {
		b = append(b, " ["...)
		b = append(b, code...)
		b = append(b, ']')
	}
	if text != "" {
		b = append(b, ' ')
		b = append(b, text...)
	}
	s.scratch = b
	s.traceBytes(b)
	s.write(b)
	s.write(crlf)
}

// line writes one line of a multi-line response (never message data).
func (s *session) line(text string) {
	s.trace(false, text)
	s.writeString(text)
	s.write(crlf)
}

var (
	crlf       = []byte("\r\n")
	terminator = []byte(".\r\n")
)

func (s *session) write(b []byte) {
	if s.err != nil {
		return
	}
	if _, err := s.w.Write(b); err != nil {
		s.setErr(err)
	}
}

func (s *session) writeString(str string) {
	if s.err != nil {
		return
	}
	if _, err := s.w.WriteString(str); err != nil {
		s.setErr(err)
	}
}

func (s *session) flush() {
	if s.err != nil {
		return
	}
	if err := s.w.Flush(); err != nil {
		s.setErr(err)
		return
	}
	for _, key := range s.retrieved {
		s.drop.Retrieved(key)
	}
	s.retrieved = s.retrieved[:0]
}

func (s *session) setErr(err error) {
	s.err = err
	if errors.Is(err, errCut) {
		s.log.Debug("pop3: connection cut by intercept")
		// Cut means cut: the client must see the connection die right here,
		// not after a graceful TLS close_notify.
		s.raw.Close()
		return
	}
	if !errors.Is(err, net.ErrClosed) {
		s.log.Debug("pop3: write failed", "err", err)
	}
}

func (s *session) trace(fromClient bool, line string) {
	if s.tr.Line != nil {
		s.tr.Line(fromClient, line)
	}
}

func (s *session) traceBytes(b []byte) {
	// Skip building a string nobody reads.
	if s.tr.Line != nil {
		s.tr.Line(false, string(b))
	}
}

// cutWriter sits between the bufio.Writer and the connection: it refreshes
// the write deadline before each write and enforces an Intercept's
// DropAfter budget.
type cutWriter struct {
	s      *session
	budget int64 // octets still allowed; negative means unlimited
}

func (c *cutWriter) Write(p []byte) (int, error) {
	conn := c.s.conn
	if err := conn.SetWriteDeadline(time.Now().Add(c.s.srv.opts.WriteTimeout)); err != nil {
		return 0, err
	}
	if c.budget < 0 {
		return conn.Write(p)
	}
	if int64(len(p)) <= c.budget {
		n, err := conn.Write(p)
		c.budget -= int64(n)
		return n, err
	}
	n, err := conn.Write(p[:c.budget])
	c.budget -= int64(n)
	if err == nil {
		err = errCut
	}
	return n, err
}

// sanitizeForTrace makes an unparseable line safe to hand to a transcript:
// control bytes and invalid UTF-8 are escaped.
func sanitizeForTrace(line string) string {
	q := strconv.QuoteToASCII(line)
	return q[1 : len(q)-1]
}
