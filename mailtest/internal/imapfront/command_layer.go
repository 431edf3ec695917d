package imapfront

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
)

// go-imap's fixed read timeouts, which the command layer applies itself
// (see frontConn.SetReadDeadline).
const (
	cmdReadTimeout     = 30 * time.Second
	idleReadTimeout    = 35 * time.Minute
	literalReadTimeout = 5 * time.Minute
	respWriteTimeout   = 30 * time.Second
)

// Limits of the commands the layer answers itself. A literal in them is
// held in memory, like go-imap's buffered literals, so it has go-imap's
// limit; a command line longer than maxLine ends the connection, as
// go-imap's 50 KiB command limit does.
const (
	maxOwnLiteral = 4096
	maxOwnCommand = 64 << 10
	maxLine       = 64 << 10
)

// step is what the layer expects next from the client.
type step int

const (
	stepCommand     step = iota // the start of a command
	stepLine                    // the rest of go-imap's command line, after a literal
	stepLiteral                 // literal octets for go-imap
	stepSyncLiteral             // a synchronising literal go-imap may accept with "+"
	stepAfter                   // go-imap has its whole command: a "+" asks for a line
)

// respKind classifies the lines go-imap begins to write.
type respKind int

const (
	respNone respKind = iota
	respCont
	respTagged
)

// frontConn is the connection go-imap's imapserver.Conn reads and writes:
// the command layer. Reading, it takes commands from the client and hands
// go-imap those it knows, byte for byte; the others (doc.go) it answers
// itself in go-imap's goroutine, while go-imap waits in Read, so its
// responses never land inside one of go-imap's.
type frontConn struct {
	srv         *Server
	tc          *trackedConn
	wire        net.Conn      // the client: tc, or TLS over it
	br          *bufio.Reader // reads wire through debugReader
	debug       io.Writer     // Options.Trace's; nil records nothing
	implicitTLS bool
	tlsOn       bool
	sess        *session // set by newSession before the greeting

	pending []byte // what go-imap gets next
	readErr error  // the first read error, returned from then on
	litBuf  []byte // holds a chunk of a literal for go-imap
	step    step
	literal int64  // octets left in the literal being passed on
	cmd     string // the command go-imap is handling
	idTag   string // its tag

	wmu       sync.Mutex // go-imap writes from two goroutines during IDLE
	lineStart bool       // go-imap's next write begins a line
	lastResp  respKind   // the last line go-imap began since the last delivery
	greeted   bool
	capsReply bool // rewrite the capability code of the tagged OK (LOGIN)
}

func newFrontConn(s *Server, c net.Conn, debug io.Writer) *frontConn {
	fc := &frontConn{srv: s, tc: trackedOf(c), wire: c, debug: debug, lineStart: true}
	_, fc.implicitTLS = c.(*tls.Conn)
	fc.tlsOn = fc.implicitTLS
	fc.br = bufio.NewReaderSize(debugReader{fc}, 16<<10)
	return fc
}

// debugReader reads the wire and records what came in.
type debugReader struct{ fc *frontConn }

func (r debugReader) Read(p []byte) (int, error) {
	n, err := r.fc.wire.Read(p)
	if n > 0 && r.fc.debug != nil {
		_, _ = r.fc.debug.Write(p[:n])
	}
	return n, err
}

// Read gives go-imap the next bytes of the commands it handles, answering
// the layer's own commands in between.
func (fc *frontConn) Read(p []byte) (int, error) {
	for len(fc.pending) == 0 {
		if fc.readErr != nil {
			return 0, fc.readErr
		}
		if err := fc.next(); err != nil {
			// Sticky, as on a net.Conn past its deadline: go-imap reads
			// again after an error before it gives up.
			fc.readErr = err
			return 0, err
		}
	}
	n := copy(p, fc.pending)
	fc.pending = fc.pending[n:]
	return n, nil
}

// deliver makes b go-imap's next input.
func (fc *frontConn) deliver(b []byte) {
	fc.wmu.Lock()
	fc.lastResp = respNone
	fc.wmu.Unlock()
	fc.pending = b
}

// sawResp returns the kind of the last line go-imap began since the last
// delivery.
func (fc *frontConn) sawResp() respKind {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	return fc.lastResp
}

func (fc *frontConn) next() error {
	switch fc.step {
	case stepLiteral:
		fc.readDeadline(literalReadTimeout, fc.srv.opts.ReadTimeout)
		// next runs only once pending is empty, so one buffer serves
		// every chunk of the literal.
		if fc.litBuf == nil {
			fc.litBuf = make([]byte, 32<<10)
		}
		buf := fc.litBuf[:min(fc.literal, int64(len(fc.litBuf)))]
		got, err := io.ReadAtLeast(fc.br, buf, 1)
		if got > 0 {
			fc.literal -= int64(got)
			if fc.literal == 0 {
				fc.step = stepLine
			}
			fc.deliver(buf[:got])
		}
		return err
	case stepLine:
		line, err := fc.readLine(cmdReadTimeout)
		if err != nil {
			return err
		}
		fc.passLine(line)
		return nil
	case stepSyncLiteral:
		if fc.sawResp() == respCont {
			fc.step = stepLiteral
		} else {
			fc.step = stepCommand // refused: the client sends no literal
		}
		return nil
	case stepAfter:
		if fc.sawResp() != respCont {
			fc.step = stepCommand
			return nil
		}
		// IDLE's DONE or an AUTHENTICATE response: a line for go-imap.
		wait, limit := cmdReadTimeout, fc.srv.opts.ReadTimeout
		if fc.cmd == "IDLE" {
			wait, limit = fc.idleTimeout(), 0
		}
		line, err := fc.readLineLimit(wait, limit)
		if err != nil {
			return err
		}
		fc.deliver(line)
		return nil
	}
	return fc.command()
}

// command reads the first line of a command and answers it or hands it on.
func (fc *frontConn) command() error {
	// Before login the wait is go-imap's 30 s, shortened by ReadTimeout;
	// after it, the idle timeout.
	wait, limit := cmdReadTimeout, fc.srv.opts.ReadTimeout
	if fc.sess != nil {
		if fc.sess.user != nil {
			wait, limit = fc.idleTimeout(), 0
		}
	}
	fc.readDeadline(wait, limit)
	if _, err := fc.br.Peek(1); err != nil {
		return err
	}
	line, err := fc.readLine(cmdReadTimeout)
	if err != nil {
		return err
	}
	tag, name, ok := splitCommand(line)
	if ok {
		if h := fc.handler(name); h != nil {
			return fc.serveOwn(tag, name, line, h)
		}
	}
	fc.cmd, fc.idTag = name, tag
	fc.capsReply = name == "LOGIN" || name == "AUTHENTICATE"
	fc.passLine(line)
	return nil
}

// passLine hands go-imap one line of its command and notes what follows.
func (fc *frontConn) passLine(line []byte) {
	fc.step = stepAfter
	if n, nonSync, ok := literalAtEnd(line); ok {
		fc.literal = n
		switch {
		case n == 0:
			fc.step = stepLine
		case nonSync:
			fc.step = stepLiteral
		default:
			fc.step = stepSyncLiteral
		}
	}
	fc.deliver(line)
}

// readLine reads up to and including LF. A line beyond maxLine ends the
// connection with BYE.
func (fc *frontConn) readLine(wait time.Duration) ([]byte, error) {
	return fc.readLineLimit(wait, fc.srv.opts.ReadTimeout)
}

// readLineLimit is readLine with the deadline's limit given.
func (fc *frontConn) readLineLimit(wait, limit time.Duration) ([]byte, error) {
	fc.readDeadline(wait, limit)
	var line []byte
	for {
		chunk, err := fc.br.ReadSlice('\n')
		line = append(line, chunk...)
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
		if len(line) > maxLine {
			_ = fc.writeResp([]byte("* BYE Command line too long\r\n"))
			_ = fc.wire.Close()
			return nil, fmt.Errorf("imapfront: command line longer than %d octets: %w", maxLine, net.ErrClosed)
		}
	}
}

// idleTimeout is the wait for the next command after login or for the
// DONE of IDLE: go-imap's 35 minutes unless Options.IdleTimeout says.
func (fc *frontConn) idleTimeout() time.Duration {
	if d := fc.srv.opts.IdleTimeout; d > 0 {
		return d
	}
	return idleReadTimeout
}

// readDeadline sets the wire's read deadline to d from now, or shorter if
// limit (Options.ReadTimeout) is.
func (fc *frontConn) readDeadline(d, limit time.Duration) {
	if limit > 0 && limit < d {
		d = limit
	}
	_ = fc.wire.SetReadDeadline(time.Now().Add(d))
}

// splitCommand finds the tag and the upper-case command name, with "UID "
// in front for UID commands. ok is false when the line has neither; go-imap
// then says what is wrong with it.
func splitCommand(line []byte) (tag, name string, ok bool) {
	s := string(bytes.TrimRight(line, "\r\n"))
	tag, rest, ok := strings.Cut(s, " ")
	if !ok || tag == "" || !validTag(tag) {
		return "", "", false
	}
	name, rest, _ = strings.Cut(rest, " ")
	name = strings.ToUpper(name)
	if name == "UID" {
		sub, _, _ := strings.Cut(rest, " ")
		name = "UID " + strings.ToUpper(sub)
	}
	return tag, name, name != ""
}

func validTag(tag string) bool {
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if c == '+' || !isAtomChar(c) {
			return false
		}
	}
	return true
}

// isAtomChar is ATOM-CHAR of RFC 9051.
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return c > 0x1f && c < 0x7f
}

// literalAtEnd reports a literal announced at the end of line: "{n}",
// "{n+}" (LITERAL+/LITERAL-) or "~{n}" (literal8), then CRLF.
func literalAtEnd(line []byte) (n int64, nonSync, ok bool) {
	s := bytes.TrimSuffix(line, []byte("\n"))
	s = bytes.TrimSuffix(s, []byte("\r"))
	if len(s) < 3 || s[len(s)-1] != '}' {
		return 0, false, false
	}
	open := bytes.LastIndexByte(s, '{')
	if open < 0 {
		return 0, false, false
	}
	digits := s[open+1 : len(s)-1]
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		nonSync = true
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false, false
	}
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false, false
		}
	}
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return v, nonSync, true
}

// Write sends what go-imap writes, noting continuation requests and the
// tagged reply of the command it handles, and putting the layer's
// capability list into the greeting and the tagged OK of LOGIN and
// AUTHENTICATE.
func (fc *frontConn) Write(p []byte) (int, error) {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	out := p
	if fc.lineStart {
		switch {
		case !fc.greeted:
			fc.greeted = true
			out = fc.withCaps(p, "* OK ")
		case p[0] == '+':
			fc.lastResp = respCont
		case fc.idTag != "" && bytes.HasPrefix(p, []byte(fc.idTag+" ")):
			fc.lastResp = respTagged
			if fc.sess != nil {
				// Before the client hears the command is done, so that a
				// test reading Server.Sessions sees its effect.
				fc.sess.notePublic()
			}
			if fc.capsReply {
				fc.capsReply = false
				out = fc.withCaps(p, fc.idTag+" OK ")
			}
		}
	}
	fc.lineStart = p[len(p)-1] == '\n'
	if _, err := fc.writeWire(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// withCaps replaces the list of a "[CAPABILITY ...]" code after prefix.
func (fc *frontConn) withCaps(p []byte, prefix string) []byte {
	start := prefix + "[CAPABILITY "
	if !bytes.HasPrefix(p, []byte(start)) {
		return p
	}
	end := bytes.IndexByte(p, ']')
	if end < 0 {
		return p
	}
	var b bytes.Buffer
	b.WriteString(start)
	b.WriteString(strings.Join(fc.capabilities(), " "))
	b.Write(p[end:])
	return b.Bytes()
}

// capabilities is the connection's capability list now.
func (fc *frontConn) capabilities() []string {
	s := fc.srv
	loggedIn := fc.sess != nil && fc.sess.user != nil
	startTLS := s.opts.TLSConfig != nil && !s.caps.hidden(capStartTLS)
	canAuth := fc.tlsOn || !s.opts.RequireTLS
	return s.caps.list(loggedIn, fc.tlsOn, startTLS, canAuth, s.opts.AllowSetQuota, s.appendLimit())
}

// writeWire writes b to the client and records it. Callers hold wmu.
func (fc *frontConn) writeWire(b []byte) (int, error) {
	n, err := fc.wire.Write(b)
	if n > 0 && fc.debug != nil {
		_, _ = fc.debug.Write(b[:n])
	}
	return n, err
}

// writeResp writes the layer's own response lines.
func (fc *frontConn) writeResp(b []byte) error {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	_ = fc.wire.SetWriteDeadline(time.Now().Add(respWriteTimeout))
	_, err := fc.writeWire(b)
	_ = fc.wire.SetWriteDeadline(time.Time{})
	fc.lineStart = true
	return err
}

// SetReadDeadline ignores go-imap's deadlines: the layer sets its own
// before each read from what it reads (a command, a literal, IDLE's DONE),
// so Options.IdleTimeout applies on the event, not on a guess from the
// deadline's length.
//
// workaround(go-imap v2.0.0-beta.8): imapserver's read deadlines are fixed constants (30 s, 5 min, 35 min) with no option; remove when imapserver.Options takes read timeouts.
func (fc *frontConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline passes go-imap's write deadlines on.
func (fc *frontConn) SetWriteDeadline(t time.Time) error { return fc.wire.SetWriteDeadline(t) }

// SetDeadline is SetWriteDeadline; see SetReadDeadline.
func (fc *frontConn) SetDeadline(t time.Time) error { return fc.wire.SetWriteDeadline(t) }

func (fc *frontConn) Close() error         { return fc.wire.Close() }
func (fc *frontConn) LocalAddr() net.Addr  { return fc.wire.LocalAddr() }
func (fc *frontConn) RemoteAddr() net.Addr { return fc.wire.RemoteAddr() }

// ownHandler answers one of the layer's commands; args is the command after
// its name, literals inlined.
type ownHandler func(fc *frontConn, tag, name string, args *argReader) error

// handler returns the layer's handler for a command, or nil for go-imap's
// commands and for commands whose capability is hidden (go-imap then
// answers "BAD Unknown command", as for any other unknown command).
func (fc *frontConn) handler(name string) ownHandler {
	caps := fc.srv.caps
	switch name {
	case "CAPABILITY":
		return (*frontConn).handleCapability
	case "STARTTLS":
		if fc.srv.opts.TLSConfig != nil && !caps.hidden(capStartTLS) {
			return (*frontConn).handleStartTLS
		}
	case "IDLE":
		if caps.hidden(imap.CapIdle) {
			return func(fc *frontConn, tag, name string, args *argReader) error {
				return refuseHidden(imap.CapIdle)
			}
		}
	case "ID":
		if !caps.hidden(imap.CapID) {
			return (*frontConn).handleID
		}
	case "GETQUOTA", "GETQUOTAROOT", "SETQUOTA":
		if !caps.hidden(imap.CapQuota) {
			return (*frontConn).handleQuota
		}
	case "SORT", "UID SORT":
		if !caps.hidden(capSort) {
			return (*frontConn).handleSort
		}
	case "THREAD", "UID THREAD":
		if !caps.hidden(capThreadOrdered) || !caps.hidden(capThreadRefs) {
			return (*frontConn).handleThread
		}
	}
	return nil
}

// serveOwn reads the rest of one of the layer's commands (its literals,
// with the "+" a synchronising one waits for), runs it and writes the
// tagged reply.
func (fc *frontConn) serveOwn(tag, name string, first []byte, h ownHandler) error {
	fc.cmd, fc.idTag, fc.step = name, "", stepCommand
	raw, err := fc.readOwn(first)
	if err == nil {
		args := newArgReader(raw, len(tag)+1+len(name))
		err = h(fc, tag, name, args)
	}
	var resp *imap.StatusResponse
	var ie *imap.Error
	var se *syntaxError
	switch {
	case errors.As(err, &ie):
		resp = (*imap.StatusResponse)(ie)
	case errors.As(err, &se):
		resp = &imap.StatusResponse{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Syntax error: " + se.msg}
	case err != nil:
		// The connection failed (a read or write timed out or broke, or a
		// fault closed it): it ends, as go-imap ends on such errors.
		return err
	case name == "STARTTLS":
		return nil // answered before the handshake
	default:
		resp = &imap.StatusResponse{Type: imap.StatusResponseTypeOK, Text: name + " completed"}
	}
	if fc.sess != nil {
		fc.sess.notePublic()
	}
	return fc.writeResp(statusLine(tag, resp))
}

// readOwn collects a command of the layer's: its lines and literals,
// literals inlined as "{n}\r\n" and their octets. A literal over
// maxOwnLiteral is refused with NO [TOOBIG]: a synchronising one before
// the client sends it, a non-synchronising one after it was read and
// dropped along with the rest of the command.
func (fc *frontConn) readOwn(line []byte) ([]byte, error) {
	var raw []byte
	var tooBig bool
	for {
		if len(raw)+len(line) > maxOwnCommand {
			tooBig = true
		}
		if !tooBig {
			raw = append(raw, line...)
		}
		n, nonSync, ok := literalAtEnd(line)
		if !ok {
			break
		}
		if n > maxOwnLiteral || tooBig {
			if !nonSync {
				return nil, errTooBig
			}
			tooBig = true
			fc.readDeadline(literalReadTimeout, fc.srv.opts.ReadTimeout)
			if _, err := io.CopyN(io.Discard, fc.br, n); err != nil {
				return nil, err
			}
		} else {
			if !nonSync {
				if err := fc.writeResp([]byte("+ Ready for literal data\r\n")); err != nil {
					return nil, err
				}
			}
			fc.readDeadline(literalReadTimeout, fc.srv.opts.ReadTimeout)
			start := len(raw)
			raw = append(raw, make([]byte, n)...)
			if _, err := io.ReadFull(fc.br, raw[start:]); err != nil {
				return nil, err
			}
		}
		var err error
		if line, err = fc.readLine(cmdReadTimeout); err != nil {
			return nil, err
		}
	}
	if tooBig {
		return nil, errTooBig
	}
	return raw, nil
}

var errTooBig = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Literals are limited to 4096 bytes for this command"}

// statusLine formats a tagged (or, with tag "", untagged) status response.
func statusLine(tag string, r *imap.StatusResponse) []byte {
	if tag == "" {
		tag = "*"
	}
	var b bytes.Buffer
	b.WriteString(tag + " " + string(r.Type) + " ")
	if r.Code != "" {
		b.WriteString("[" + string(r.Code) + "] ")
	}
	text := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, r.Text)
	b.WriteString(text + "\r\n")
	return b.Bytes()
}

// handleCapability answers CAPABILITY with the layer's list.
func (fc *frontConn) handleCapability(_, _ string, args *argReader) error {
	if err := args.end(); err != nil {
		return err
	}
	return fc.writeResp([]byte("* CAPABILITY " + strings.Join(fc.capabilities(), " ") + "\r\n"))
}

// handleStartTLS answers STARTTLS and starts TLS on the wire. Bytes the
// client sent after the command go into the handshake, as go-imap does.
func (fc *frontConn) handleStartTLS(tag, _ string, args *argReader) error {
	if err := args.end(); err != nil {
		return err
	}
	if fc.tlsOn || (fc.sess != nil && fc.sess.user != nil) {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "STARTTLS not available"}
	}
	if err := fc.writeResp([]byte(tag + " OK Begin TLS negotiation now\r\n")); err != nil {
		return err
	}
	var cleartext net.Conn = fc.wire
	if n := fc.br.Buffered(); n > 0 {
		buffered, _ := fc.br.Peek(n)
		cleartext = prefixConn{Conn: fc.wire, r: io.MultiReader(bytes.NewReader(append([]byte(nil), buffered...)), fc.wire)}
	}
	fc.wmu.Lock()
	fc.wire = tls.Server(cleartext, fc.srv.opts.TLSConfig)
	fc.tlsOn = true
	fc.wmu.Unlock()
	fc.br.Reset(debugReader{fc})
	return nil
}

// prefixConn reads r, then the connection.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// ownState checks the state the layer's commands need, with go-imap's
// wording.
func (fc *frontConn) needAuth() error {
	if fc.sess == nil || fc.sess.user == nil {
		return imapErr(imap.StatusResponseTypeBad, imap.ResponseCodeClientBug, "This command is only valid in the %s state", imap.ConnStateAuthenticated)
	}
	return nil
}

func (fc *frontConn) needSelected() error {
	if fc.sess == nil || fc.sess.sel == nil {
		return imapErr(imap.StatusResponseTypeBad, imap.ResponseCodeClientBug, "This command is only valid in the %s state", imap.ConnStateSelected)
	}
	return nil
}

// intercept asks Options.Intercept about one of the layer's commands.
func (fc *frontConn) intercept(name, mailbox string) error {
	if fc.sess == nil {
		return nil
	}
	if mailbox == "" && fc.sess.sel != nil {
		mailbox = fc.sess.sel.name
	}
	return fc.sess.intercept(name, mailbox)
}
