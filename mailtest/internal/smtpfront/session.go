package smtpfront

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
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
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "smtp-" + hex.EncodeToString(b[:])
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
	deferred *Action // kept by Command.Defer for this transaction's DATA

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
			ss.s.sleep(ss.s.opts.FailedAuthDelay)
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
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	ss.bdat.started(r)
	if _, isBDAT := r.(*io.PipeReader); isBDAT && ss.s.opts.hidden("CHUNKING") {
		// go-smtp has read the chunk already and will discard the rest.
		return errNoBDAT
	}
	var buf bytes.Buffer
	if !ss.s.opts.NoTraceHeaders {
		ss.writeTrace(&buf)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		var smtpErr *smtp.SMTPError
		if errors.As(err, &smtpErr) {
			return smtpErr
		}
		// The client vanished or sent garbage mid-DATA: store nothing.
		return fmt.Errorf("smtpfront: reading DATA: %w", err)
	}
	if _, isBDAT := r.(*io.PipeReader); isBDAT && inputEnded(ss.conn.Conn()) {
		// The client vanished inside the last BDAT chunk: go-smtp ends the
		// message cleanly all the same (see inputConn). Store nothing.
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
	_, err := ss.s.opts.Store.Deliver(buf.Bytes(), ss.s.opts.Now(), env)
	if act != nil && act.Drop {
		// Taken and stored, but the client never hears so.
		ss.conn.Conn().Close()
		return errDropped
	}
	switch {
	case errors.Is(err, memstore.ErrOverQuota):
		return errOverQuota
	case errors.Is(err, memstore.ErrNoSuchUser):
		return errNoSuchUser
	case err != nil:
		ss.s.opts.Logger.Error("smtp: delivery failed", "session", ss.id, "err", err)
		return errStoreFailed
	}
	return nil
}

// hasControl reports whether an address holds a control character (NUL,
// ESC, ...), which go-smtp lets through; no valid address has one, and it
// would end up in user names, mailbox views and logs.
func hasControl(addr string) bool {
	return strings.IndexFunc(addr, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

// writeTrace writes the trace fields (RFC 5321 §4.4) the server prepends:
// Return-Path with the envelope sender, and Received naming the client.
func (ss *session) writeTrace(buf *bytes.Buffer) {
	with := "ESMTP"
	if ss.tls {
		with += "S"
	}
	if ss.auth != "" {
		with += "A"
	}
	host, _, err := net.SplitHostPort(ss.remote)
	if err != nil {
		host = ss.remote
	}
	fmt.Fprintf(buf, "Return-Path: <%s>\r\n", ss.from)
	fmt.Fprintf(buf, "Received: from %s ([%s])\r\n\tby %s (mailrig) with %s id %s;\r\n\t%s\r\n",
		ss.helo, host, ss.s.opts.Domain, with, ss.id, ss.s.opts.Now().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
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
