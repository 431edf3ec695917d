package imapfront

import (
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

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailrig/mailrig/mailtest/internal/conntrack"
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
	// Disable hides capabilities, named case-insensitively (Hideable
	// lists them; others are ignored, so callers check first): "MOVE",
	// "UIDPLUS", "IDLE", "UNSELECT", "SPECIAL-USE", "CREATE-SPECIAL-USE", "STARTTLS",
	// "NAMESPACE", "ESEARCH", "SEARCHRES", "LIST-EXTENDED", "LIST-STATUS",
	// "STATUS=SIZE", "BINARY", "CHILDREN", "LITERAL+", "IMAP4rev2", and the
	// command layer's "ID", "QUOTA", "SORT", "SORT=DISPLAY",
	// "THREAD=ORDEREDSUBJECT" and "THREAD=REFERENCES". A hidden capability
	// is not advertised, its command or option is refused with BAD (the
	// command layer's commands as unknown commands), and its response codes
	// (APPENDUID, COPYUID for UIDPLUS) are left out. Hiding an extension
	// that IMAP4rev2 includes hides IMAP4rev2 too; hiding SORT hides
	// SORT=DISPLAY.
	Disable []string
	// Intercept, if set, is asked before each command a session handles,
	// and with Name "CONNECT" before the greeting; a non-nil Action
	// replaces or delays the command. See Action.
	Intercept func(Command) *Action
	// FailedAuthDelay is waited before a failed LOGIN or AUTHENTICATE is
	// answered, to slow down password guessing.
	FailedAuthDelay time.Duration
	// MaxConnections limits open connections; beyond it a client is
	// greeted with "* BYE [UNAVAILABLE]" and closed. 0 means no limit.
	MaxConnections int
	// ReadTimeout, if set, shortens go-imap's read deadlines: for reading
	// a command once started (30 s), a literal (5 min) and the TLS
	// handshake of IMAPS (none otherwise).
	ReadTimeout time.Duration
	// IdleTimeout, if set, replaces go-imap's 35-minute wait for the next
	// command after login and for the DONE that ends IDLE.
	IdleTimeout time.Duration
	// AllowSetQuota lets a client change its own STORAGE limit with
	// SETQUOTA (RFC 9208), advertised as QUOTASET; otherwise SETQUOTA is
	// refused with NO [NOPERM].
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
	done  chan struct{} // closed by Close; ends Intercept delays
	conns sync.WaitGroup
	live  sessionSet // for Sessions

	mu        sync.Mutex
	closed    bool
	tracked   map[*trackedConn]struct{}
	listeners map[net.Listener]struct{}
	serving   sync.WaitGroup // Serve loops
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
		opts:      opts,
		log:       opts.Logger,
		done:      make(chan struct{}),
		tracked:   make(map[*trackedConn]struct{}),
		listeners: make(map[net.Listener]struct{}),
	}
	if s.log == nil {
		s.log = slogx.Discard()
	}
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
//
// Each connection is served by a go-imap server of its own (see
// Options.Trace), whose Serve returns as soon as it has started the
// connection's goroutine; the connection tracking waits for that
// goroutine.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.serving.Add(1)
	s.mu.Unlock()
	defer s.serving.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	sl := &serveListener{Listener: ln, srv: s}
	var delay time.Duration
	for {
		c, err := sl.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("imapfront: accept failed; retrying", "err", err, "delay", delay)
				select {
				case <-time.After(delay):
				case <-s.done:
					return nil
				}
				continue
			}
			return fmt.Errorf("imapfront: serve: %w", err)
		}
		delay = 0
		s.serveConn(c)
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
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()

	var err error
	s.mu.Lock()
	for ln := range s.listeners {
		if cerr := ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
			err = cerr
		}
	}
	for tc := range s.tracked {
		_ = tc.Conn.Close() // the inner conn: the goroutine's own Close marks it done
	}
	s.mu.Unlock()
	s.serving.Wait()
	// A connection accepted while the loops stopped was tracked and is
	// served; close the lot again.
	s.mu.Lock()
	for tc := range s.tracked {
		_ = tc.Conn.Close()
	}
	s.mu.Unlock()
	s.conns.Wait()
	if err != nil {
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
	tc := &trackedConn{Conn: c, srv: s, id: s.ids.Add(1)}
	if d := s.opts.ReadTimeout; d > 0 {
		// Bounds an IMAPS handshake, which go-imap starts without one.
		_ = c.SetReadDeadline(time.Now().Add(d))
	}
	s.tracked[tc] = struct{}{}
	s.conns.Add(1)
	return tc, true
}

func (s *Server) untrack(tc *trackedConn) {
	s.mu.Lock()
	delete(s.tracked, tc)
	s.mu.Unlock()
	if tc.end != nil {
		tc.end()
	}
	s.conns.Done()
}

// sleep waits d, or less if the server closes.
func (s *Server) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.done:
	}
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
