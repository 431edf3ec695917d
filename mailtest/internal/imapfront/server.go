package imapfront

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailrig/mailrig/mailtest/internal/slogx"
	"github.com/mailrig/mailrig/memstore"
)

// DefaultAppendLimit is the APPEND size limit used when Options.AppendLimit is 0.
const DefaultAppendLimit = 25 << 20

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("imapfront: server closed")

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
	// Disable hides capabilities, named case-insensitively: "MOVE",
	// "UIDPLUS", "IDLE", "SPECIAL-USE", "CREATE-SPECIAL-USE", "STARTTLS",
	// "NAMESPACE", "ESEARCH", "SEARCHRES", "LIST-STATUS", "STATUS=SIZE",
	// "BINARY", "CHILDREN", "LITERAL+" or "IMAP4rev2". A hidden capability
	// is not advertised, its command or option is refused with BAD, and its
	// response codes (APPENDUID, COPYUID for UIDPLUS) are left out. Hiding
	// an extension that IMAP4rev2 includes hides IMAP4rev2 too. One
	// exception: go-imap always lists IDLE for IMAP4rev1, so a hidden IDLE
	// is still listed; the command is refused after the client's DONE.
	Disable []string
	// Intercept, if set, is asked before each command a session handles,
	// and with Name "CONNECT" before the greeting; a non-nil Action
	// replaces or delays the command. See Action.
	Intercept func(Command) *Action
	// MaxConnections limits open connections; beyond it a client is
	// greeted with "* BYE [UNAVAILABLE]" and closed. 0 means no limit.
	MaxConnections int
}

// Server is an IMAP server over a memstore.Store. Create it with NewServer.
type Server struct {
	opts  Options
	log   *slog.Logger
	caps  capSet
	imap  *imapserver.Server
	ids   atomic.Uint64
	done  chan struct{} // closed by Close; ends Intercept delays
	conns sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	tracked map[*trackedConn]struct{}
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
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		done:    make(chan struct{}),
		tracked: make(map[*trackedConn]struct{}),
	}
	if s.log == nil {
		s.log = slogx.Discard()
	}
	s.caps = newCapSet(opts.Disable)
	var tlsConfig *tls.Config
	if !s.caps.hidden(capStartTLS) {
		tlsConfig = opts.TLSConfig
	}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         s.caps.advertised(),
		Logger:       printfLogger{s.log},
		TLSConfig:    tlsConfig,
		InsecureAuth: !opts.RequireTLS,
	})
	return s
}

// TrackListener wraps ln so that Close can wait for its connections. Serve
// does it by itself for a plain listener; for implicit TLS (IMAPS) the
// wrapper must sit under TLS, because go-imap recognises TLS by the
// *tls.Conn type:
//
//	srv.Serve(tls.NewListener(srv.TrackListener(ln), cfg))
func (s *Server) TrackListener(ln net.Listener) net.Listener {
	if tl, ok := ln.(*trackedListener); ok && tl.srv == s {
		return ln
	}
	return &trackedListener{Listener: ln, srv: s}
}

// Serve accepts connections on ln until ln is closed or Close is called. It
// returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	if err := s.imap.Serve(&serveListener{Listener: ln, srv: s}); err != nil {
		return fmt.Errorf("imapfront: serve: %w", err)
	}
	return nil
}

// Close closes every listener and connection and waits until every
// connection goroutine has ended. Sessions are closed, and their watchers
// released, before it returns.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()

	err := s.imap.Close()
	// go-imap closes the connections it registered; a connection accepted
	// but not yet registered is only known here, so close them all.
	s.mu.Lock()
	for tc := range s.tracked {
		_ = tc.Conn.Close() // the inner conn: the goroutine's own Close marks it done
	}
	s.mu.Unlock()
	s.conns.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("imapfront: close: %w", err)
	}
	return nil
}

// track registers a new connection, or refuses it after Close.
func (s *Server) track(c net.Conn) (*trackedConn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	tc := &trackedConn{Conn: c, srv: s}
	s.tracked[tc] = struct{}{}
	s.conns.Add(1)
	return tc, true
}

func (s *Server) untrack(tc *trackedConn) {
	s.mu.Lock()
	delete(s.tracked, tc)
	s.mu.Unlock()
	s.conns.Done()
}

// open returns the number of connections being served.
func (s *Server) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tracked)
}

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
