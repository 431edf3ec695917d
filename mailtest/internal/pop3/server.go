package pop3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
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
	// Transcript, when set, is called for every protocol line in both
	// directions, without its CRLF. Secrets are masked (PASS, APOP digest,
	// SASL responses) and a message body is reported as one
	// "<message N octets>" line. It is called from session goroutines, so it
	// must be safe for concurrent use.
	Transcript func(sessionID string, fromClient bool, line string)
	// Intercept, when set, is called before each command is executed (and,
	// with cmd "", before the greeting). Returning nil lets the server proceed;
	// a non-nil Reply is used instead, see Reply. ctx is cancelled when the
	// server closes. It must not call Server.Close.
	Intercept func(ctx context.Context, s SessionInfo, cmd string, args []string) *Reply
	// MaxConnections limits open connections; beyond it a client is greeted
	// with "-ERR [SYS/TEMP]" and closed. 0 means no limit.
	MaxConnections int
	// Disable hides capabilities so clients can test their fallbacks:
	// "TOP", "UIDL", "STLS", "SASL" (AUTH) or "USER" (USER and PASS),
	// case-insensitively. A hidden capability is left out of CAPA and its
	// commands are answered "-ERR unknown command".
	Disable []string
}

// Server is a POP3 server. Create it with NewServer.
type Server struct {
	backend Backend
	opts    Options
	log     *slog.Logger

	ctx    context.Context // cancelled by Close; parent of every session context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup // Serve loops and session goroutines
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

// ErrServerClosed is returned by Serve when called after Close.
var ErrServerClosed = errors.New("pop3: server closed")

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
		backend:   b,
		opts:      opts,
		log:       log,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
}

// Serve accepts connections on ln and serves each in its own goroutine
// until Close is called, then returns nil. Any other accept failure is
// returned wrapped. A listener made by tls.NewListener gives implicit-TLS
// POP3S: sessions see ConnInfo.TLS and STLS is not offered.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			if isTransientAcceptError(err) {
				// Out of descriptors is common when a test suite opens many
				// connections at once: wait for some to close rather than give up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("pop3: accept failed; retrying", "err", err, "delay", backoff)
				select {
				case <-time.After(backoff):
				case <-s.ctx.Done():
					return nil
				}
				continue
			}
			return fmt.Errorf("pop3: accept: %w", err)
		}
		backoff = 0
		open, ok := s.track(c)
		if !ok {
			c.Close()
			return nil
		}
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			if max := s.opts.MaxConnections; max > 0 && open > max {
				s.refuse(c)
				return
			}
			newSession(s, c).serve()
		}()
	}
}

func isTransientAcceptError(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || (errors.As(err, &ne) && ne.Timeout())
}

// track registers a new connection and returns how many are open with it;
// it reports false once the server is closed, so Close never races with
// wg.Add.
func (s *Server) track(c net.Conn) (open int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return len(s.conns), true
}

// refuse greets a connection beyond MaxConnections with -ERR [SYS/TEMP]
// (RFC 3206) instead of +OK; on a TLS connection the write runs the
// handshake first.
func (s *Server) refuse(c net.Conn) {
	c.SetDeadline(time.Now().Add(s.opts.WriteTimeout))
	fmt.Fprintf(c, "-ERR [%s] too many connections, try again later\r\n", CodeSysTemp)
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops every Serve loop, closes every open connection (sessions in
// progress are cut without entering UPDATE, so nothing is deleted) and
// returns once every goroutine the server started has ended. It returns the
// first error from closing a listener.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	var err error
	for ln := range s.listeners {
		if cerr := ln.Close(); cerr != nil && err == nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("pop3: close listener: %w", cerr)
		}
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return err
}
