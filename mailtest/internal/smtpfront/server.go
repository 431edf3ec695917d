// Package smtpfront is mailrig's SMTP and submission front-end: a go-smtp
// server whose backend files every accepted transaction into a memstore.Store.
package smtpfront

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mailrig/mailrig/mailtest/internal/conntrack"
	"github.com/mailrig/mailrig/mailtest/internal/fault"
	"github.com/mailrig/mailrig/mailtest/internal/slogx"
	"github.com/mailrig/mailrig/memstore"
)

// DefaultMaxMessageBytes is the size limit when Options.MaxMessageBytes is 0.
const DefaultMaxMessageBytes = 25 << 20

// DefaultMaxRecipients is the recipient limit when Options.MaxRecipients is 0.
const DefaultMaxRecipients = 100

// Options configures a Server.
type Options struct {
	// Store receives the mail. Required.
	Store *memstore.Store
	// Domain is the name the server greets with and writes in Received.
	// Default "localhost".
	Domain string
	// MaxMessageBytes limits the DATA/BDAT payload and the SIZE= parameter
	// (552 5.3.4 beyond). Default DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// MaxRecipients limits RCPT TO per transaction (452 4.5.3 beyond).
	// Default DefaultMaxRecipients.
	MaxRecipients int
	// TLSConfig, if set, makes the server offer STARTTLS.
	TLSConfig *tls.Config
	// RequireTLSForAuth hides AUTH until the connection uses TLS.
	RequireTLSForAuth bool
	// RequireAuth refuses MAIL FROM before AUTH (530 5.7.0).
	RequireAuth bool
	// NoTraceHeaders stops the server from prepending Return-Path and
	// Received to each message.
	NoTraceHeaders bool
	// ReadTimeout and WriteTimeout bound each command read and reply write.
	// Default 1 minute each.
	ReadTimeout, WriteTimeout time.Duration
	// Logger gets internal errors; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Intercept, if set, is asked before each command is answered; see
	// Command and fault.Action. Tests use it to inject faults. A CONNECT
	// action with only a Delay is ignored: go-smtp greets at once.
	Intercept func(Command) *fault.Action
	// MaxConnections limits open connections per listener; beyond it a
	// client is greeted with 421 4.7.0 and closed. 0 means no limit.
	MaxConnections int
	// FailedLoginDelay is waited before a failed AUTH is answered, to slow
	// down password guessing.
	FailedLoginDelay time.Duration
	// RateLimit, if set, is asked at each MAIL FROM whether the sender (its
	// AUTH identity, or else its IP address) may send now; false answers
	// 451 4.7.1.
	RateLimit func(key string) bool
	// Disable hides extensions so clients can test their fallbacks:
	// "STARTTLS", "SMTPUTF8", "AUTH", "PIPELINING", "SIZE", "CHUNKING" or
	// "8BITMIME" (see Hideable). A hidden extension is not advertised in
	// EHLO and its command or parameter is refused: BDAT with 502 5.5.1,
	// MAIL FROM with SIZE= or BODY= with 555 5.5.4. A client that
	// pipelines without PIPELINING is still answered, in order. Hiding
	// any of the last four serves each connection through a relay (see
	// relay.go), since go-smtp always advertises them.
	Disable []string
	// Trace, if set, is called for each accepted connection, with the ID
	// its session has (Command.SessionID, memstore.Envelope.SessionID),
	// before anything is read or written; see Trace.
	Trace func(sessionID, remoteAddr string, implicitTLS bool) Trace
}

// Trace is how a connection's protocol lines are recorded. Each
// connection gets its own go-smtp server, so Debug sees the plaintext of
// that connection alone, after STARTTLS too.
type Trace struct {
	// Debug gets go-smtp's debug stream: every read and write of the
	// connection, in order, into one writer. Nil records nothing.
	Debug io.Writer
	// Note, if set, records a line of the server's own (a connection
	// refused without a word).
	Note func(text string)
	// End, if set, is called once the connection's goroutines have ended.
	End func()
}

// Hideable lists the extensions Options.Disable accepts. go-smtp hides
// the first three itself; it always advertises the others, which a relay
// between client and go-smtp leaves out of EHLO (ENHANCEDSTATUSCODES
// cannot be hidden: every reply carries enhanced codes).
var Hideable = []string{"STARTTLS", "SMTPUTF8", "AUTH", "PIPELINING", "SIZE", "CHUNKING", "8BITMIME"}

func (o *Options) hidden(name string) bool {
	for _, d := range o.Disable {
		if strings.EqualFold(d, name) {
			return true
		}
	}
	return false
}

// Server is an SMTP server over a memstore.Store. Create it with NewServer.
type Server struct {
	opts    Options
	smtp    *smtp.Server
	conns   *conntrack.Tracker
	serving sync.WaitGroup // the relay's goroutines
}

// NewServer returns a server configured by opts; call Serve to accept
// connections and Close to stop.
func NewServer(opts Options) *Server {
	if opts.Domain == "" {
		opts.Domain = "localhost"
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.MaxRecipients == 0 {
		opts.MaxRecipients = DefaultMaxRecipients
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = time.Minute
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = time.Minute
	}
	opts.Logger = slogx.OrDiscard(opts.Logger)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, conns: conntrack.New(conntrack.Options{Logger: opts.Logger})}
	srv := smtp.NewServer(&backend{s: s})
	srv.Domain = opts.Domain
	srv.MaxMessageBytes = opts.MaxMessageBytes
	srv.MaxRecipients = opts.MaxRecipients
	if !opts.hidden("STARTTLS") {
		srv.TLSConfig = opts.TLSConfig
	}
	srv.AllowInsecureAuth = !opts.RequireTLSForAuth
	srv.EnableSMTPUTF8 = !opts.hidden("SMTPUTF8")
	srv.ReadTimeout = opts.ReadTimeout
	srv.WriteTimeout = opts.WriteTimeout
	srv.ErrorLog = slogLogger{opts.Logger}
	s.smtp = srv
	return s
}

// Serve accepts plain connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error { return s.ServeTLS(ln, nil) }

// ServeTLS accepts implicit-TLS connections (SMTPS, RFC 8314) on ln until
// Close; a nil config is Serve. Connection tracking sits under TLS, so
// go-smtp sees *tls.Conn.
func (s *Server) ServeTLS(ln net.Listener, tlsConfig *tls.Config) error {
	cfg := conntrack.ListenConfig{
		TLS:      tlsConfig,
		MaxConns: s.opts.MaxConnections,
		Refusal:  tooManyConnections,
		Refused:  func(c net.Conn, line string) { s.traceRefusal(c, tlsConfig, line, false) },
		Admit:    s.connectFault(tlsConfig),
		Wrap:     func(c net.Conn) net.Conn { return &inputConn{Conn: c} }, // under TLS
	}
	var err error
	if s.opts.Trace == nil && !s.opts.needsRelay() {
		// Without transcripts one go-smtp server serves every connection,
		// which saves a server and a goroutine per connection.
		l, ok := s.conns.Listen(ln, cfg)
		if !ok {
			return nil // closed
		}
		err = s.smtp.Serve(l)
	} else {
		err = s.conns.Serve(ln, cfg, s.serveConn)
	}
	if err != nil && !s.conns.Closed() {
		return fmt.Errorf("smtpfront: serve: %w", err)
	}
	return nil
}

// connectFault turns away, with the reply it asks for before go-smtp sees
// them, connections that a CONNECT fault refuses.
func (s *Server) connectFault(tlsConfig *tls.Config) conntrack.Admit {
	if s.opts.Intercept == nil {
		return nil
	}
	return func(c net.Conn) func() {
		// Only decide here, on the accept loop; the refusal waits out any
		// delay.
		act := s.opts.Intercept(Command{Name: "CONNECT", RemoteAddr: addrString(c.RemoteAddr())})
		if act == nil || (act.Reply == "" && !act.Drop) {
			return nil
		}
		return func() {
			if !s.conns.Sleep(act.Delay) {
				return
			}
			line := ""
			if !act.Drop {
				line = replyLine(s.replyError(act.Reply))
			}
			s.traceRefusal(c, tlsConfig, line, act.Drop)
			conntrack.Refuse(c, tlsConfig, line)
		}
	}
}

// traceRefusal records a connection turned away before go-smtp saw it,
// with the line it gets (none if dropped).
func (s *Server) traceRefusal(c net.Conn, tlsConfig *tls.Config, line string, dropped bool) {
	if s.opts.Trace == nil {
		return
	}
	tr := s.opts.Trace(newSessionID(), addrString(c.RemoteAddr()), tlsConfig != nil)
	switch {
	case !dropped && tr.Debug != nil:
		_, _ = io.WriteString(tr.Debug, line+"\r\n")
	case dropped && tr.Note != nil:
		tr.Note("<connection dropped by a CONNECT fault>")
	}
	if tr.End != nil {
		tr.End()
	}
}

// serveConn serves c on a go-smtp server of its own (see Trace), directly
// or through a relay (see relay). go-smtp's Serve returns as soon as it
// has started the connection's goroutine, when it asks our one-connection
// listener for a second one; Shutdown then waits for that goroutine.
func (s *Server) serveConn(c net.Conn) {
	id := newSessionID()
	var tr Trace
	if s.opts.Trace != nil {
		_, isTLS := c.(*tls.Conn)
		tr = s.opts.Trace(id, addrString(c.RemoteAddr()), isTLS)
	}
	if s.opts.needsRelay() {
		s.serveRelay(c, id, tr)
		return
	}
	srv := s.newConnServer(&backend{s: s, id: id}, tr.Debug)
	_ = srv.Serve(conntrack.OneConn(c))    // returns at once
	_ = srv.Shutdown(context.Background()) // waits for the connection's goroutine
	if tr.End != nil {
		tr.End()
	}
}

// newConnServer returns a go-smtp server like s.smtp for one connection,
// served by b.
func (s *Server) newConnServer(b *backend, debug io.Writer) *smtp.Server {
	t := s.smtp
	srv := smtp.NewServer(b)
	srv.Domain = t.Domain
	srv.MaxMessageBytes = t.MaxMessageBytes
	srv.MaxRecipients = t.MaxRecipients
	srv.TLSConfig = t.TLSConfig
	srv.AllowInsecureAuth = t.AllowInsecureAuth
	srv.EnableSMTPUTF8 = t.EnableSMTPUTF8
	srv.ReadTimeout = t.ReadTimeout
	srv.WriteTimeout = t.WriteTimeout
	srv.ErrorLog = t.ErrorLog
	if debug != nil {
		srv.Debug = debug
	}
	return srv
}

// sleep waits d, or less if the server closes; it reports whether the
// whole delay passed.
func (s *Server) sleep(d time.Duration) bool { return s.conns.Sleep(d) }

// Close closes every listener and connection and returns when every
// goroutine the server started has ended.
func (s *Server) Close() error {
	err := s.conns.Close() // waits for every connection and handler
	if cerr := s.smtp.Close(); err == nil && !errors.Is(cerr, smtp.ErrServerClosed) && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	s.serving.Wait()
	if err != nil {
		return fmt.Errorf("smtpfront: close: %w", err)
	}
	return nil
}

// slogLogger adapts slog to go-smtp's Logger so nothing goes to stderr.
type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Printf(format string, v ...any) {
	l.l.Log(context.Background(), slog.LevelDebug, fmt.Sprintf(format, v...))
}

func (l slogLogger) Println(v ...any) {
	l.l.Log(context.Background(), slog.LevelDebug, fmt.Sprint(v...))
}
