package smtpfront

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/mailrig/mailrig/mailtest/internal/fault"
	"github.com/mailrig/mailrig/memstore"
)

// Replies that go-smtp does not define with the codes we want.
var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errNoSuchUser   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errOverQuota    = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
	errTooLarge     = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message exceeds size limit"}
	errBadAddress   = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
	errBadSender    = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}
	errStoreFailed  = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error in processing"}
	errRateLimited  = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Sending rate exceeded, try again later"}
	// Parameters of hidden extensions (RFC 5321 §4.1.1.11).
	errNoSize = &smtp.SMTPError{Code: 555, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "SIZE parameter not supported"}
	errNoBody = &smtp.SMTPError{Code: 555, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "BODY parameter not supported"}
	errNoBDAT = &smtp.SMTPError{Code: 502, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Command not implemented"}
	// errDropped is returned after a fault closed the connection; go-smtp
	// then fails to write its reply, which is the point.
	errDropped = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Connection dropped by a test fault"}
)

// backend starts the sessions of a go-smtp server; every connection it
// serves is a frontConn.
type backend struct {
	s *Server
}

// NewSession starts the state of one SMTP connection (after HELO/EHLO).
func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	fc := c.Conn().(*frontConn)
	ss := &session{
		s:      b.s,
		conn:   c,
		id:     fc.id,
		helo:   c.Hostname(),
		tls:    fc.tls,
		remote: fc.remote,
	}
	if err := ss.intercept("HELO", ss.helo); err != nil {
		return nil, err
	}
	return ss, nil
}

// intercept runs the Intercept hook for a command and turns its action
// into the error go-smtp sends as the reply.
func (ss *session) intercept(name, arg string) error {
	cmd := Command{Name: name, Arg: arg, SessionID: ss.id, AuthUser: ss.auth, RemoteAddr: ss.remote}
	if name == "RCPT" {
		cmd.session = ss
	}
	act := ss.s.intercept(cmd)
	if act == nil {
		return nil
	}
	if act.Drop {
		ss.conn.Conn().Close()
		return errDropped
	}
	return act.smtpError()
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func newSessionID() string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	var id [len("smtp-") + 2*len(r)]byte
	copy(id[:], "smtp-")
	hex.Encode(id[len("smtp-"):], r[:])
	return string(id[:])
}

// session is one SMTP connection's transaction state.
type session struct {
	s      *Server
	conn   *smtp.Conn
	id     string
	helo   string
	tls    bool
	remote string
	auth   string // authenticated identity

	from     string
	rcpts    []string
	deferred *fault.Action // kept by Command.Defer for this transaction's DATA

	bdat bdatTracker
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) Reset() {
	ss.from, ss.rcpts, ss.deferred = "", nil, nil
}

func (ss *session) Logout() error { return nil }

// AuthMechanisms lists the SASL mechanisms offered after EHLO (none when
// AUTH is hidden, so EHLO does not advertise it).
func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.hidden("AUTH") {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth starts a SASL exchange checked against the store's users.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.s.opts.hidden("AUTH") {
		return nil, smtp.ErrAuthUnsupported
	}
	if err := ss.intercept("AUTH", strings.ToUpper(mech)); err != nil {
		return nil, err
	}
	check := func(identity, username, password string) error {
		if identity != "" && !strings.EqualFold(identity, username) {
			return smtp.ErrAuthFailed
		}
		if _, err := ss.s.opts.Store.Authenticate(username, password); err != nil {
			ss.s.sleep(ss.s.opts.FailedLoginDelay)
			return smtp.ErrAuthFailed
		}
		ss.auth = username
		return nil
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(check), nil
	case sasl.Login:
		return newLoginServer(func(u, p string) error { return check("", u, p) }), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	ss.bdat.wait()
	// Parameters first, as go-smtp refuses SMTPUTF8 when it is off. (go-smtp
	// has refused a SIZE it cannot parse or over the limit already; SIZE=0
	// cannot be told from none.)
	if opts != nil && opts.Size != 0 && ss.s.opts.hidden("SIZE") {
		return errNoSize
	}
	if opts != nil && opts.Body != "" && ss.s.opts.hidden("8BITMIME") {
		return errNoBody
	}
	if err := ss.intercept("MAIL", from); err != nil {
		return err
	}
	if hasControl(from) {
		return errBadSender
	}
	if ss.s.opts.RequireAuth && ss.auth == "" {
		return errAuthRequired
	}
	if ss.s.opts.RateLimit != nil && !ss.s.opts.RateLimit(ss.rateKey()) {
		return errRateLimited
	}
	if opts != nil && opts.Size > ss.s.opts.MaxMessageBytes {
		return errTooLarge
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.TrimSpace(to) == "" || hasControl(to) {
		return errBadAddress
	}
	if err := ss.intercept("RCPT", to); err != nil {
		return err
	}
	if !ss.s.opts.Store.Accepts(to) {
		return errNoSuchUser
	}
	if u, ok := ss.s.opts.Store.User(to); ok {
		if limit, used := u.Quota(); limit > 0 && used >= limit {
			return errOverQuota
		}
		if limit, used := u.MessageQuota(); limit > 0 && used >= limit {
			return errOverQuota
		}
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	ss.bdat.started(r)
	defer ss.bdat.returned(r)
	if _, isBDAT := r.(*io.PipeReader); isBDAT && ss.s.opts.hidden("CHUNKING") {
		// go-smtp has read the chunk already and will discard the rest.
		return errNoBDAT
	}
	buf := getDataBuffer()
	defer putDataBuffer(buf)
	if !ss.s.opts.NoTraceHeaders {
		buf.B = ss.appendTrace(buf.B)
	}
	if err := buf.readFrom(r); err != nil {
		var smtpErr *smtp.SMTPError
		if errors.As(err, &smtpErr) {
			return smtpErr
		}
		// The client vanished or sent garbage mid-DATA: store nothing.
		return fmt.Errorf("smtpfront: reading DATA: %w", err)
	}
	// workaround(go-smtp v0.25.1): a BDAT chunk cut short by a vanished
	// client ends the message cleanly (io.Copy of the chunk stops at EOF
	// without an error, and "BDAT n LAST" then closes the pipe as for a
	// whole chunk), so Data asks frontConn whether the input ended; remove
	// when go-smtp fails a short chunk.
	if _, isBDAT := r.(*io.PipeReader); isBDAT && inputEnded(ss.conn.Conn()) {
		// Store nothing.
		return fmt.Errorf("smtpfront: reading BDAT: %w", io.ErrUnexpectedEOF)
	}
	act := ss.s.intercept(Command{Name: "DATA", SessionID: ss.id, AuthUser: ss.auth, RemoteAddr: ss.remote, Deferred: ss.deferred})
	ss.deferred = nil
	if act != nil && !act.Drop {
		return act.smtpError()
	}
	env := memstore.Envelope{
		MailFrom:   ss.from,
		Rcpts:      ss.rcpts,
		Helo:       ss.helo,
		TLS:        ss.tls,
		AuthUser:   ss.auth,
		RemoteAddr: ss.remote,
		SessionID:  ss.id,
	}
	// Deliver keeps a copy of its own (memstore.NewMessage), sized to fit.
	// workaround(go-smtp v0.25.1): go-smtp passes a bare LF or CR in DATA
	// through (RFC 5321 §2.3.8 forbids them), and Deliver turns each into
	// CRLF so sizes agree across protocols; the SMTP side of it can go when
	// go-smtp normalises or refuses them (IMAP APPEND still needs it).
	_, err := ss.s.opts.Store.Deliver(buf.B, ss.s.opts.Now(), env)
	if act != nil && act.Drop {
		// Taken and stored, but the client never hears so.
		ss.conn.Conn().Close()
		return errDropped
	}
	switch {
	case errors.Is(err, memstore.ErrOverQuota):
		return errOverQuota
	case errors.Is(err, memstore.ErrNoSuchUser), errors.Is(err, memstore.ErrEmptyAddress):
		return errNoSuchUser
	case err != nil:
		ss.s.opts.Logger.Error("smtp: delivery failed", "session", ss.id, "err", err)
		return errStoreFailed
	}
	return nil
}

// hasControl reports whether an address holds a control character (NUL,
// ESC, ...); no valid address has one, and it would end up in user names,
// mailbox views and logs.
//
// workaround(go-smtp v0.25.1): go-smtp's address parser lets control
// characters through; remove when it refuses them.
func hasControl(addr string) bool {
	return strings.IndexFunc(addr, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

// appendTrace appends the trace fields (RFC 5321 §4.4) the server
// prepends: Return-Path with the envelope sender, and Received naming the
// client.
func (ss *session) appendTrace(b []byte) []byte {
	host, _, err := net.SplitHostPort(ss.remote)
	if err != nil {
		host = ss.remote
	}
	b = append(b, "Return-Path: <"...)
	b = append(b, ss.from...)
	b = append(b, ">\r\nReceived: from "...)
	b = append(b, ss.helo...)
	b = append(b, " (["...)
	b = append(b, host...)
	b = append(b, "])\r\n\tby "...)
	b = append(b, ss.s.opts.Domain...)
	b = append(b, " (mailrig) with ESMTP"...)
	if ss.tls {
		b = append(b, 'S')
	}
	if ss.auth != "" {
		b = append(b, 'A')
	}
	b = append(b, " id "...)
	b = append(b, ss.id...)
	b = append(b, ";\r\n\t"...)
	b = ss.s.opts.Now().AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 -0700")
	return append(b, "\r\n"...)
}

// dataBuffer holds a message while it is read; buffers are reused, since
// the store keeps a copy of its own.
type dataBuffer struct{ B []byte }

var dataBuffers = sync.Pool{New: func() any { return &dataBuffer{B: make([]byte, 0, 4096)} }}

func getDataBuffer() *dataBuffer { return dataBuffers.Get().(*dataBuffer) }

func putDataBuffer(b *dataBuffer) {
	if cap(b.B) > 1<<20 {
		return // a large message's buffer is not kept
	}
	b.B = b.B[:0]
	dataBuffers.Put(b)
}

// readFrom appends all of r, growing the buffer as bytes.Buffer would but
// starting from what the pool gave.
func (b *dataBuffer) readFrom(r io.Reader) error {
	for {
		if len(b.B) == cap(b.B) {
			b.B = append(b.B, 0)[:len(b.B)]
		}
		n, err := r.Read(b.B[len(b.B):cap(b.B)])
		b.B = b.B[:len(b.B)+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// rateKey is who a sending-rate limit counts against: the authenticated
// identity, or else the client's IP address.
func (ss *session) rateKey() string {
	if ss.auth != "" {
		return "auth:" + strings.ToLower(ss.auth)
	}
	host, _, err := net.SplitHostPort(ss.remote)
	if err != nil {
		host = ss.remote
	}
	return "ip:" + host
}
