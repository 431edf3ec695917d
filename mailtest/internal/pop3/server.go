package pop3

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/mailrig/mailrig/mailtest/internal/conntrack"
	"github.com/mailrig/mailrig/mailtest/internal/fault"
)

// Defaults for zero Options fields.
const (
	DefaultReadTimeout    = time.Minute
	DefaultWriteTimeout   = time.Minute
	DefaultIdleTimeout    = 10 * time.Minute // RFC 1939 §3: autologout timer of at least 10 minutes
	DefaultMaxBadCommands = 10
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// TLSConfig enables STLS (RFC 2595) on plain connections when non-nil.
	TLSConfig *tls.Config
	// RequireTLS refuses USER, PASS, APOP and AUTH with "-ERR [AUTH]" until the
	// connection is TLS, and stops advertising USER and SASL until then.
	RequireTLS bool
	// Hostname goes into the APOP timestamp of the greeting; default os.Hostname.
	Hostname string
	// Implementation is advertised as CAPA's IMPLEMENTATION; default "mailrig".
	Implementation string
	// ReadTimeout bounds reading one command line once it has started;
	// default DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds each flush of replies to the client; default
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// IdleTimeout is the autologout timer between commands; default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxBadCommands is how many rejected commands (unknown, malformed, out
	// of state, over-long, failed logins) a session may send; the last one is
	// answered "-ERR too many bad commands" and the server hangs up. Default
	// DefaultMaxBadCommands.
	MaxBadCommands int
	// Logger receives connection-level logs; nil discards them.
	Logger *slog.Logger
	// Trace, if set, is called for each accepted connection, with the ID
	// its session has (SessionInfo.ID, ConnInfo.SessionID), before anything
	// is read or written; see Trace. It is called from session goroutines,
	// so it must be safe for concurrent use.
	Trace func(sessionID, remoteAddr string, implicitTLS bool) Trace
	// Intercept, when set, is called before each command is executed, and
	// with cmd "CONNECT" before the greeting. Returning nil lets the server
	// proceed; a non-nil Action replaces, delays or cuts the command (see
	// fault.Action; Close cuts a delay short). At CONNECT a "-ERR" reply
	// replaces the greeting and the server hangs up; a "+OK" one replaces
	// only the greeting. It must not call Server.Close.
	Intercept func(s SessionInfo, cmd string, args []string) *fault.Action
	// MaxConnections limits the open connections of each listener; beyond
	// it a client is greeted with "-ERR [SYS/TEMP]" and closed. 0 means no
	// limit.
	MaxConnections int
	// Disable hides capabilities so clients can test their fallbacks:
	// "TOP", "UIDL", "STLS", "SASL" (AUTH) or "USER" (USER and PASS),
	// case-insensitively. A hidden capability is left out of CAPA and its
	// commands are answered "-ERR unknown command".
	Disable []string
}

// Trace is how a session's protocol lines are recorded.
type Trace struct {
	// Line, if set, gets every protocol line in both directions, without
	// its CRLF. Secrets are masked (PASS, APOP digest, SASL responses) and
	// a message body is reported as one "<message N octets>" line.
	Line func(fromClient bool, text string)
	// End, if set, is called once the session has ended and its
	// connection is closed.
	End func()
}

// Server is a POP3 server. Create it with NewServer.
type Server struct {
	backend Backend
	opts    Options
	log     *slog.Logger
	conns   *conntrack.Tracker

	ctx    context.Context // cancelled by Close; parent of every session context
	cancel context.CancelFunc
}

// Hideable lists the capabilities Options.Disable accepts.
var Hideable = []string{"TOP", "UIDL", "STLS", "SASL", "USER"}

// hidden reports whether capability name was disabled.
func (s *Server) hidden(name string) bool {
	if name == "" {
		return false
	}
	for _, d := range s.opts.Disable {
		if strings.EqualFold(d, name) {
			return true
		}
	}
	return false
}

// NewServer returns a server that authenticates against b. Zero Options
// fields take their defaults.
func NewServer(b Backend, opts Options) *Server {
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
		if opts.Hostname == "" {
			opts.Hostname = "localhost"
		}
	}
	if opts.Implementation == "" {
		opts.Implementation = "mailrig"
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxBadCommands <= 0 {
		opts.MaxBadCommands = DefaultMaxBadCommands
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		backend: b,
		opts:    opts,
		log:     log,
		conns:   conntrack.New(conntrack.Options{Logger: log}),
		ctx:     ctx,
		cancel:  cancel,
	}
}

// Serve accepts connections on ln and serves each in its own goroutine
// until Close is called, then returns nil (also when called after Close).
// Any other accept failure is returned wrapped.
func (s *Server) Serve(ln net.Listener) error { return s.ServeTLS(ln, nil) }

// ServeTLS is Serve for implicit-TLS POP3S, where sessions see
// ConnInfo.TLS and STLS is not offered; a nil config is Serve. Connection
// tracking sits under TLS.
func (s *Server) ServeTLS(ln net.Listener, tlsConfig *tls.Config) error {
	err := s.conns.Serve(ln, conntrack.ListenConfig{
		TLS:      tlsConfig,
		MaxConns: s.opts.MaxConnections,
		// RFC 3206: -ERR [SYS/TEMP] instead of the +OK greeting.
		Refusal: "-ERR [" + CodeSysTemp + "] too many connections, try again later",
		Refused: func(c net.Conn, line string) { s.traceRefusal(c, tlsConfig != nil, line) },
	}, s.handle)
	if err != nil {
		return fmt.Errorf("pop3: accept: %w", err)
	}
	return nil
}

// handle serves one connection until its session ends.
func (s *Server) handle(c net.Conn) {
	sess := newSession(s, c)
	sess.serve()
	_ = c.Close()
	if sess.tr.End != nil {
		sess.tr.End()
	}
}

// traceRefusal records a connection turned away before a session
// started, with the line it gets.
func (s *Server) traceRefusal(c net.Conn, implicitTLS bool, line string) {
	if s.opts.Trace == nil {
		return
	}
	tr := s.opts.Trace(newSessionID(), c.RemoteAddr().String(), implicitTLS)
	if tr.Line != nil {
		tr.Line(false, line)
	}
	if tr.End != nil {
		tr.End()
	}
}

// Close stops every Serve loop, closes every open connection (sessions in
// progress are cut without entering UPDATE, so nothing is deleted) and
// returns once every goroutine the server started has ended. It returns the
// first error from closing a listener.
func (s *Server) Close() error {
	s.cancel()
	if err := s.conns.Close(); err != nil {
		return fmt.Errorf("pop3: close listener: %w", err)
	}
	return nil
}
