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
	"sync/atomic"
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
	// EHLO and its command or parameter is refused: STARTTLS with 502
	// 5.5.1, AUTH with 502 5.7.0, SMTPUTF8 with 504 5.5.4, MAIL FROM with
	// SIZE= or BODY= with 555 5.5.4, BDAT with 502 5.5.1 after its chunk.
	// A client that pipelines without PIPELINING is still answered, in
	// order.
	Disable []string
	// Trace, if set, is called for each accepted connection, with the ID
	// its session has (Command.SessionID, memstore.Envelope.SessionID),
	// before anything is read or written; see Trace.
	Trace func(sessionID, remoteAddr string, implicitTLS bool) Trace
}

// Trace is how a connection's protocol lines are recorded, in plaintext,
// after STARTTLS too, as the client had them.
type Trace struct {
	// Debug gets every read and write of the connection, in order, into
	// one writer. Nil records nothing.
	Debug io.Writer
	// Note, if set, records a line of the server's own (a connection
	// refused without a word).
	Note func(text string)
	// End, if set, is called once the connection is closed.
	End func()
}

// Hideable lists the extensions Options.Disable accepts. go-smtp hides
// the first three itself; the others leave its EHLO reply on the way out
// (see frontConn). ENHANCEDSTATUSCODES cannot be hidden: every reply
// carries enhanced codes.
var Hideable = []string{"STARTTLS", "SMTPUTF8", "AUTH", "PIPELINING", "SIZE", "CHUNKING", "8BITMIME"}

func (o *Options) hidden(name string) bool {
	for _, d := range o.Disable {
		if strings.EqualFold(d, name) {
			return true
		}
	}
	return false
}

// hiddenKeyword reports whether an EHLO keyword go-smtp always lists is
// hidden.
func (s *Server) hiddenKeyword(kw []byte) bool {
	for _, h := range s.hiddenEHLO {
		if string(kw) == h {
			return true
		}
	}
	return false
}

// Server is an SMTP server over a memstore.Store. Create it with NewServer.
type Server struct {
	opts Options
	// Two go-smtp servers, for connections before TLS and under TLS (see
	// frontConn); handoff brings connections from one to the other.
	smtp, smtpTLS *smtp.Server
	handoff       *handoff
	hiddenEHLO    []string // EHLO keywords frontConn leaves out
	conns         *conntrack.Tracker
	closing       atomic.Bool // set first by Close: no more STARTTLS handoffs

	mu      sync.Mutex
	handing bool // smtpTLS serves handoff
	serving sync.WaitGroup
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
	s := &Server{opts: opts, handoff: newHandoff(), conns: conntrack.New(conntrack.Options{Logger: opts.Logger})}
	for _, kw := range []string{"PIPELINING", "8BITMIME", "CHUNKING", "SIZE"} {
		if opts.hidden(kw) {
			s.hiddenEHLO = append(s.hiddenEHLO, kw)
		}
	}
	s.smtp = s.newSMTPServer(!opts.RequireTLSForAuth)
	s.smtpTLS = s.newSMTPServer(true)
	return s
}

// newSMTPServer returns a go-smtp server configured by s.opts. It has no
// TLSConfig: TLS is frontConn's.
func (s *Server) newSMTPServer(allowInsecureAuth bool) *smtp.Server {
	srv := smtp.NewServer(&backend{s: s})
	srv.Domain = s.opts.Domain
	srv.MaxMessageBytes = s.opts.MaxMessageBytes
	srv.MaxRecipients = s.opts.MaxRecipients
	srv.AllowInsecureAuth = allowInsecureAuth
	srv.EnableSMTPUTF8 = !s.opts.hidden("SMTPUTF8")
	srv.ReadTimeout = s.opts.ReadTimeout
	srv.WriteTimeout = s.opts.WriteTimeout
	srv.ErrorLog = slogLogger{s.opts.Logger}
	return srv
}

// Serve accepts plain connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	var startTLS *tls.Config
	if !s.opts.hidden("STARTTLS") {
		startTLS = s.opts.TLSConfig
	}
	l, ok := s.conns.Listen(ln, s.listenConfig(nil))
	if !ok {
		return nil // closed
	}
	return s.serve(s.smtp, frontListener{Listener: l, s: s, startTLS: startTLS}, startTLS != nil)
}

// ServeTLS accepts implicit-TLS connections (SMTPS, RFC 8314) on ln until
// Close. Connection tracking sits under TLS.
func (s *Server) ServeTLS(ln net.Listener, config *tls.Config) error {
	l, ok := s.conns.Listen(ln, s.listenConfig(config))
	if !ok {
		return nil // closed
	}
	return s.serve(s.smtpTLS, frontListener{Listener: l, s: s, tls: true}, false)
}

// listenConfig is how a listener's connections are tracked: beyond
// MaxConnections, or refused by a CONNECT fault, a client gets its reply
// before go-smtp sees it. tlsConfig is set for implicit-TLS listeners.
func (s *Server) listenConfig(tlsConfig *tls.Config) conntrack.ListenConfig {
	return conntrack.ListenConfig{
		TLS:      tlsConfig,
		MaxConns: s.opts.MaxConnections,
		Refusal:  tooManyConnections,
		Refused:  func(c net.Conn, line string) { s.traceRefusal(c, tlsConfig, line, false) },
		Admit:    s.connectFault(tlsConfig),
	}
}

// serve runs srv on ln; startTLS says ln offers STARTTLS, whose
// connections the TLS server then takes through handoff.
func (s *Server) serve(srv *smtp.Server, ln net.Listener, startTLS bool) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.serving.Add(1)
	if startTLS && !s.handing {
		s.handing = true
		s.serving.Add(1)
		go func() {
			defer s.serving.Done()
			_ = s.smtpTLS.Serve(s.handoff)
		}()
	}
	s.mu.Unlock()
	defer s.serving.Done()
	err := srv.Serve(ln)
	if err == nil || s.isClosed() {
		return nil
	}
	return fmt.Errorf("smtpfront: serve: %w", err)
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

// isClosed reports whether Close has begun.
func (s *Server) isClosed() bool { return s.closing.Load() }

// sleep waits d, or less if the server closes; it reports whether the
// whole delay passed.
func (s *Server) sleep(d time.Duration) bool { return s.conns.Sleep(d) }

// Close closes every listener and connection and returns when every
// goroutine the server started has ended.
//
// workaround(go-smtp v0.25.1): Server.Close does not wait for connection
// goroutines and Shutdown hangs on idle clients, so Close waits for every
// tracked connection to be closed, the last thing those goroutines do;
// remove when go-smtp's Close waits.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing.Store(true)
	s.mu.Unlock()
	s.handoff.Close()
	err := s.conns.Close() // closes listeners and connections; waits for every connection and handler
	for _, srv := range []*smtp.Server{s.smtp, s.smtpTLS} {
		if cerr := srv.Close(); cerr != nil && err == nil &&
			!errors.Is(cerr, smtp.ErrServerClosed) && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
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
