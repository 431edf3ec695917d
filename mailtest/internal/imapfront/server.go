package imapfront

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailrig/mailrig/mailtest/internal/conntrack"
	"github.com/mailrig/mailrig/mailtest/internal/fault"
	"github.com/mailrig/mailrig/mailtest/internal/slogx"
	"github.com/mailrig/mailrig/memstore"
)

// DefaultAppendLimit is the APPEND size limit used when Options.AppendLimit is 0.
const DefaultAppendLimit = 25 << 20

// Options configures a Server.
type Options struct {
	// Store holds the users and mailboxes. It is required.
	Store *memstore.Store
	// AppendLimit is the largest message APPEND accepts, advertised as
	// APPENDLIMIT. 0 means DefaultAppendLimit.
	AppendLimit uint32
	// TLSConfig enables STARTTLS when non-nil.
	TLSConfig *tls.Config
	// RequireTLS refuses LOGIN and AUTHENTICATE on a connection without TLS
	// (LOGINDISABLED is advertised there).
	RequireTLS bool
	// Logger receives the server's diagnostics. nil discards them.
	Logger *slog.Logger
	// Disable hides capabilities, named case-insensitively (Hideable
	// lists them; others are ignored, so callers check first): "MOVE",
	// "UIDPLUS", "IDLE", "UNSELECT", "SPECIAL-USE", "CREATE-SPECIAL-USE", "STARTTLS",
	// "NAMESPACE", "ESEARCH", "SEARCHRES", "LIST-EXTENDED", "LIST-STATUS",
	// "STATUS=SIZE", "BINARY", "CHILDREN", "LITERAL+", "IMAP4rev2", and the
	// command layer's "ID", "QUOTA", "QUOTA=RES-MESSAGE", "SORT",
	// "SORT=DISPLAY", "THREAD=ORDEREDSUBJECT" and "THREAD=REFERENCES"
	// (a hidden QUOTA=RES-MESSAGE leaves MESSAGE out of QUOTA responses
	// and SETQUOTA). A hidden capability
	// is not advertised, its command or option is refused with BAD (the
	// command layer's commands as unknown commands), and its response codes
	// (APPENDUID, COPYUID for UIDPLUS) are left out. Hiding an extension
	// that IMAP4rev2 includes hides IMAP4rev2 too; hiding SORT hides
	// SORT=DISPLAY, hiding QUOTA hides QUOTA=RES-MESSAGE.
	Disable []string
	// Intercept, if set, is asked before each command a session handles,
	// and with Name "CONNECT" before the greeting; a non-nil Action
	// replaces or delays the command. At CONNECT, Drop and any Reply
	// become a "* BYE" greeting (with the reply's code and text).
	Intercept func(Command) *fault.Action
	// FailedLoginDelay is waited before a failed LOGIN or AUTHENTICATE is
	// answered, to slow down password guessing.
	FailedLoginDelay time.Duration
	// MaxConnections limits the open connections of each listener; beyond
	// it a client is greeted with "* BYE [UNAVAILABLE]" and closed. 0
	// means no limit.
	MaxConnections int
	// ReadTimeout, if set, shortens go-imap's read deadlines: for reading
	// a command once started (30 s), a literal (5 min) and the TLS
	// handshake of IMAPS (none otherwise).
	ReadTimeout time.Duration
	// IdleTimeout, if set, replaces go-imap's 35-minute wait for the next
	// command after login and for the DONE that ends IDLE.
	IdleTimeout time.Duration
	// AllowSetQuota lets a client change its own STORAGE and MESSAGE
	// limits with SETQUOTA (RFC 9208), advertised as QUOTASET; otherwise
	// SETQUOTA is refused with NO [NOPERM].
	AllowSetQuota bool
	// Trace, if set, is called for each accepted connection, with its
	// Command.ConnID, before anything is read or written. The command
	// layer writes to debug (nil records nothing) every read and write of
	// the connection's plaintext, in order, after STARTTLS too, its own
	// commands' included. end, if set, is called once
	// the connection's goroutine has ended.
	Trace func(connID uint64, remoteAddr string, implicitTLS bool) (debug io.Writer, end func())
}

// Server is an IMAP server over a memstore.Store. Create it with NewServer.
type Server struct {
	opts  Options
	log   *slog.Logger
	caps  capSet
	imap  imapserver.Options // each connection's server has these
	ids   atomic.Uint64
	conns *conntrack.Tracker
	done  <-chan struct{} // closed by Close; ends Intercept delays
	live  sessionSet      // for Sessions
}

// NewServer returns a server for opts. It panics if opts.Store is nil, a
// programming error in the test that builds it.
func NewServer(opts Options) *Server {
	if opts.Store == nil {
		panic("imapfront: Options.Store is nil")
	}
	if opts.AppendLimit == 0 {
		opts.AppendLimit = DefaultAppendLimit
	}
	s := &Server{opts: opts, log: slogx.OrDiscard(opts.Logger)}
	// go-imap closes a connection early when a session drops it, while
	// its goroutine still runs: the connection ends at the Close that
	// follows the session's (see trackedConn).
	s.conns = conntrack.New(conntrack.Options{Logger: s.log, ExplicitEnd: true})
	s.done = s.conns.Done()
	s.caps = newCapSet(opts.Disable)
	// STARTTLS is the command layer's (frontConn): go-imap gets no
	// TLSConfig, and never sees a *tls.Conn.
	s.imap = imapserver.Options{
		NewSession:   s.newSession,
		Caps:         s.caps.advertised(),
		Logger:       printfLogger{s.log},
		InsecureAuth: true, // the session refuses plaintext logins itself
	}
	return s
}

// Serve accepts connections on ln until Close, and returns nil after
// Close.
//
// Each connection is served by a go-imap server of its own (see
// Options.Trace), whose Serve returns as soon as it has started the
// connection's goroutine; the connection tracking waits for that
// goroutine.
func (s *Server) Serve(ln net.Listener) error { return s.ServeTLS(ln, nil) }

// ServeTLS is Serve for implicit TLS (IMAPS); a nil config is Serve.
// Connection tracking sits under TLS, since go-imap recognises TLS by the
// *tls.Conn type.
func (s *Server) ServeTLS(ln net.Listener, tlsConfig *tls.Config) error {
	err := s.conns.Serve(ln, conntrack.ListenConfig{
		TLS:      tlsConfig,
		MaxConns: s.opts.MaxConnections,
		Refusal:  "* BYE [UNAVAILABLE] Too many connections, try again later",
		Refused:  func(c net.Conn, line string) { s.traceRefusal(c, tlsConfig != nil, line) },
		Wrap:     s.wrap,
	}, s.serveConn)
	if err != nil {
		return fmt.Errorf("imapfront: serve: %w", err)
	}
	return nil
}

// traceRefusal records a connection turned away before go-imap saw it,
// with the line it gets.
func (s *Server) traceRefusal(c net.Conn, implicitTLS bool, line string) {
	if s.opts.Trace == nil {
		return
	}
	debug, end := s.opts.Trace(s.ids.Add(1), c.RemoteAddr().String(), implicitTLS)
	if debug != nil {
		_, _ = io.WriteString(debug, line+"\r\n")
	}
	if end != nil {
		end()
	}
}

// serveConn starts c's goroutine on a go-imap server of its own.
func (s *Server) serveConn(c net.Conn) {
	opts := s.imap
	var debug io.Writer
	if tc := trackedOf(c); tc != nil && s.opts.Trace != nil {
		_, isTLS := c.(*tls.Conn)
		debug, tc.end = s.opts.Trace(tc.id, c.RemoteAddr().String(), isTLS)
	}
	_ = imapserver.New(&opts).Serve(conntrack.OneConn(newFrontConn(s, c, debug)))
}

// connID numbers the session of conn: the number its connection got when
// accepted, so that it matches Options.Trace.
func (s *Server) connID(conn net.Conn) uint64 {
	if tc := trackedOf(conn); tc != nil {
		return tc.id
	}
	return s.ids.Add(1)
}

// Close closes every listener and connection and waits until every
// connection goroutine has ended. Sessions are closed, and their watchers
// released, before it returns.
func (s *Server) Close() error {
	if err := s.conns.Close(); err != nil {
		return fmt.Errorf("imapfront: close: %w", err)
	}
	return nil
}

// sleep waits d, or less if the server closes; it reports whether the
// whole delay passed.
func (s *Server) sleep(d time.Duration) bool { return s.conns.Sleep(d) }

// appendLimit is the effective APPEND limit.
func (s *Server) appendLimit() uint32 { return s.opts.AppendLimit }

// printfLogger adapts slog to go-imap's Printf logger, which would
// otherwise use the global log package.
type printfLogger struct{ log *slog.Logger }

func (l printfLogger) Printf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	l.log.Warn("imapserver: " + msg)
}

// imapErr builds a tagged NO or BAD reply.
func imapErr(typ imap.StatusResponseType, code imap.ResponseCode, format string, args ...any) error {
	return &imap.Error{Type: typ, Code: code, Text: fmt.Sprintf(format, args...)}
}
