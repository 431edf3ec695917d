package mailtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailrig/mailrig/mailtest/internal/imapfront"
	"github.com/mailrig/mailrig/mailtest/internal/pop3"
	"github.com/mailrig/mailrig/mailtest/internal/slogx"
	"github.com/mailrig/mailrig/mailtest/internal/smtpfront"
	"github.com/mailrig/mailrig/mailtest/internal/testcert"
	"github.com/mailrig/mailrig/mailtest/internal/transcript"
	"github.com/mailrig/mailrig/mailtest/internal/web"
	"github.com/mailrig/mailrig/memstore"
)

// ErrNonLoopback is returned (wrapped) by New when a listen address is not
// on loopback and WithNonLoopback was not given.
var ErrNonLoopback = errors.New("mailtest: refusing non-loopback address")

// Listener names one of the server's listeners: see Addr and WithAddr.
type Listener string

// Protocol names a mail protocol: SMTP, IMAP or POP3. A Fault targets a
// protocol on every listener that speaks it.
type Protocol string

// The listeners a Server opens by default, each on its own loopback port.
// SMTP, IMAP and POP3 are also the protocols a Fault targets, so the
// constants are untyped: mailtest.SMTP is a Listener in Addr and a Protocol
// in a Fault.
const (
	SMTP       = "smtp"       // plain SMTP, no STARTTLS by default (like port 25)
	Submission = "submission" // SMTP with STARTTLS and AUTH (like port 587)
	SMTPS      = "smtps"      // SMTP over implicit TLS (like port 465)
	IMAP       = "imap"       // IMAP with STARTTLS (like port 143)
	IMAPS      = "imaps"      // IMAP over implicit TLS (like port 993)
	POP3       = "pop3"       // POP3 with STLS (like port 110)
	POP3S      = "pop3s"      // POP3 over implicit TLS (like port 995)
)

// Listeners returns every listener in the order the server starts them.
func Listeners() []Listener {
	return []Listener{SMTP, Submission, SMTPS, IMAP, IMAPS, POP3, POP3S}
}

func (l Listener) tls() bool { return l == SMTPS || l == IMAPS || l == POP3S }

// Server is a mail server for tests: SMTP, submission, IMAP and POP3 (each
// also over TLS) on loopback ports, over one in-memory store. Create it with
// NewServer in tests or New in programs; Close stops it.
type Server struct {
	cfg   config
	store *memstore.Store
	log   *slog.Logger

	tlsServer *tls.Config
	tlsClient *tls.Config
	certPEM   []byte

	addrs map[Listener]string

	smtp       *smtpfront.Server // SMTP and SMTPS
	submission *smtpfront.Server
	pop3       *pop3.Server
	imap       *imapfront.Server
	closers    []func() error

	faults faultSet
	rate   *rateLimiter

	transcripts *transcript.Recorder // nil with WithTranscripts(false)

	webOnce  sync.Once
	web      atomic.Pointer[web.Handler] // built by WebHandler
	webIndex *webIndex                   // set with web

	serving   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// NewServer starts a server for the test tb and registers its Close with
// tb.Cleanup. It fails the test (it does not panic) if the server cannot
// start. Logs of level warning and above go to the test log.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	cfg := defaultConfig()
	cfg.logger = slog.New(newTestLogHandler(tb, slog.LevelWarn))
	for _, o := range opts {
		o(&cfg)
	}
	s, err := start(cfg)
	if err != nil {
		tb.Fatal(withPrefix(err))
		return nil
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("mailtest: close: %v", err)
		}
		// After Close every session has ended, so transcripts are whole.
		s.reportTranscripts(tb.Failed(), tb.Log)
	})
	return s
}

// New starts a server for a program, such as the dev server. The caller
// must call Close.
func New(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slogx.Discard()
	}
	if !cfg.transcriptsSet {
		cfg.transcripts = false // nothing would read them; see WithTranscripts
	}
	s, err := start(cfg)
	if err != nil {
		return nil, withPrefix(err)
	}
	return s, nil
}

// withPrefix makes err start with "mailtest: " like the package's other
// errors, unless it already does (ErrNonLoopback).
func withPrefix(err error) error {
	if strings.HasPrefix(err.Error(), "mailtest: ") {
		return err
	}
	return fmt.Errorf("mailtest: %w", err)
}

func start(cfg config) (*Server, error) {
	if err := checkHideable("SMTP extension", cfg.hiddenSMTPExtensions, smtpfront.Hideable); err != nil {
		return nil, err
	}
	if err := checkHideable("POP3 capability", cfg.hiddenPOP3Capabilities, pop3.Hideable); err != nil {
		return nil, err
	}
	if err := checkHideable("IMAP capability", cfg.hiddenIMAPCapabilities, imapfront.Hideable); err != nil {
		return nil, err
	}
	store := memstore.New(memstore.WithAutoCreateUsers(!cfg.onlyKnownRecipients))
	s := &Server{cfg: cfg, store: store, log: cfg.logger, addrs: make(map[Listener]string)}
	for _, u := range cfg.users {
		if _, err := store.AddUser(u.address, u.password, u.aliases...); err != nil {
			return nil, fmt.Errorf("add user %s: %w", u.address, err)
		}
	}
	if err := s.setupTLS(); err != nil {
		return nil, err
	}
	if cfg.rateN > 0 {
		s.rate = &rateLimiter{n: cfg.rateN, window: cfg.rateWindow, sent: make(map[string][]time.Time)}
	}
	s.setupTranscripts()
	smtpOpts, submissionOpts := s.smtpOptions(cfg.smtpStartTLS), s.smtpOptions(true)
	smtpOpts.Trace, submissionOpts.Trace = s.smtpTrace(SMTP), s.smtpTrace(Submission)
	s.smtp = smtpfront.NewServer(smtpOpts)
	s.submission = smtpfront.NewServer(submissionOpts)
	s.pop3 = pop3.NewServer(&pop3Backend{store: store, markSeen: cfg.pop3MarkSeen, failedLoginDelay: cfg.failedLoginDelay}, pop3.Options{
		TLSConfig:      s.tlsServer,
		RequireTLS:     cfg.requireTLSForAuth,
		Hostname:       cfg.domain,
		ReadTimeout:    cfg.readTimeout,
		IdleTimeout:    cfg.idleTimeout,
		Logger:         s.log.With("protocol", "pop3"),
		Intercept:      s.pop3Intercept,
		Trace:          s.pop3TraceFunc(),
		Disable:        cfg.hiddenPOP3Capabilities,
		MaxConnections: cfg.maxConnections,
	})
	s.imap = imapfront.NewServer(imapfront.Options{
		Store:            store,
		AppendLimit:      uint32(min(cfg.maxMessageBytes, 1<<32-1)),
		TLSConfig:        s.tlsServer,
		RequireTLS:       cfg.requireTLSForAuth,
		Logger:           s.log.With("protocol", "imap"),
		Disable:          cfg.hiddenIMAPCapabilities,
		Intercept:        s.imapIntercept,
		MaxConnections:   cfg.maxConnections,
		FailedLoginDelay: cfg.failedLoginDelay,
		ReadTimeout:      cfg.readTimeout,
		IdleTimeout:      cfg.imapIdleTimeout,
		Trace:            s.imapTraceFunc(),
		AllowSetQuota:    cfg.imapSetQuota,
	})
	s.closers = append(s.closers, s.smtp.Close, s.submission.Close, s.pop3.Close, s.imap.Close)

	for _, p := range Listeners() {
		if err := s.listen(p); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) setupTLS() error {
	if !s.cfg.tls {
		return nil
	}
	if s.cfg.cert != nil {
		s.tlsServer = testcert.ServerConfig(*s.cfg.cert)
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if len(s.cfg.cert.Certificate) > 0 {
			if leaf, err := x509.ParseCertificate(s.cfg.cert.Certificate[0]); err == nil {
				pool.AddCert(leaf)
			}
		}
		s.tlsClient = testcert.ClientConfig(pool)
		return nil
	}
	b, err := testcert.Get()
	if err != nil {
		return fmt.Errorf("generate certificate: %w", err)
	}
	s.tlsServer = testcert.ServerConfig(b.Certificate)
	s.tlsClient = testcert.ClientConfig(b.Pool)
	// Clients that upgrade an existing connection (net/smtp's StartTLS)
	// cannot take the name from a dial address; the certificate names
	// localhost as well as the loopback addresses.
	s.tlsClient.ServerName = "localhost"
	s.certPEM = b.CertPEM
	return nil
}

func (s *Server) smtpOptions(startTLS bool) smtpfront.Options {
	o := smtpfront.Options{
		Store:             s.store,
		Domain:            s.cfg.domain,
		MaxMessageBytes:   s.cfg.maxMessageBytes,
		MaxRecipients:     s.cfg.maxRecipients,
		RequireTLSForAuth: s.cfg.requireTLSForAuth,
		RequireAuth:       s.cfg.requireAuth,
		NoTraceHeaders:    !s.cfg.traceHeaders,
		ReadTimeout:       s.cfg.readTimeout,
		Logger:            s.log.With("protocol", "smtp"),
		Intercept:         s.smtpIntercept,
		MaxConnections:    s.cfg.maxConnections,
		Disable:           s.cfg.hiddenSMTPExtensions,
		FailedLoginDelay:  s.cfg.failedLoginDelay,
	}
	if s.rate != nil {
		o.RateLimit = s.rate.allow
	}
	if startTLS {
		o.TLSConfig = s.tlsServer
	}
	return o
}

// listenAddr returns where p listens, or "" if it is off.
func (s *Server) listenAddr(p Listener) string {
	if addr, ok := s.cfg.addrs[p]; ok {
		return addr
	}
	return "127.0.0.1:0"
}

func (s *Server) listen(p Listener) error {
	addr := s.listenAddr(p)
	if addr == "" || (p.tls() && s.tlsServer == nil) {
		return nil
	}
	if !s.cfg.nonLoopback && !isLoopback(addr) {
		return fmt.Errorf("%w %q for %s (see WithNonLoopback)", ErrNonLoopback, addr, p)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	serve := s.serveFunc(p)
	if serve == nil {
		ln.Close()
		return nil
	}
	s.addrs[p] = ln.Addr().String()
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := serve(ln); err != nil {
			s.log.Error("serve failed", "protocol", string(p), "err", err)
		}
	}()
	return nil
}

func (s *Server) serveFunc(p Listener) func(net.Listener) error {
	switch p {
	case SMTP:
		return s.smtp.Serve
	case SMTPS:
		return func(ln net.Listener) error { return s.smtp.ServeTLS(ln, s.tlsServer) }
	case Submission:
		return s.submission.Serve
	case IMAP:
		return s.imap.Serve
	case IMAPS:
		return func(ln net.Listener) error { return s.imap.ServeTLS(ln, s.tlsServer) }
	case POP3:
		return s.pop3.Serve
	case POP3S:
		return func(ln net.Listener) error { return s.pop3.ServeTLS(ln, s.tlsServer) }
	}
	return nil
}

func checkHideable(what string, names, allowed []string) error {
	for _, n := range names {
		ok := false
		for _, a := range allowed {
			ok = ok || strings.EqualFold(n, a)
		}
		if !ok {
			return fmt.Errorf("cannot hide %s %q (can hide: %s)", what, n, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close stops every listener, closes every open session and returns when
// every goroutine the server started has ended. It is safe to call more
// than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		s.closeWeb()
		for _, c := range s.closers {
			if err := c(); err != nil {
				errs = append(errs, err)
			}
		}
		s.serving.Wait()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Addr returns the "host:port" listener l listens on, or "" if it is off.
func (s *Server) Addr(l Listener) string { return s.addrs[l] }

// SMTPAddr is where plain SMTP listens. It offers no STARTTLS by default,
// so net/smtp.SendMail and other mailers work against it unchanged.
func (s *Server) SMTPAddr() string { return s.addrs[SMTP] }

// SubmissionAddr is where message submission listens: SMTP with STARTTLS
// and AUTH, like port 587. Use ClientTLSConfig to trust its certificate.
func (s *Server) SubmissionAddr() string { return s.addrs[Submission] }

// SMTPSAddr is where SMTP over implicit TLS listens, like port 465.
func (s *Server) SMTPSAddr() string { return s.addrs[SMTPS] }

// IMAPAddr is where IMAP listens (STARTTLS offered), like port 143.
func (s *Server) IMAPAddr() string { return s.addrs[IMAP] }

// IMAPSAddr is where IMAP over implicit TLS listens, like port 993.
func (s *Server) IMAPSAddr() string { return s.addrs[IMAPS] }

// POP3Addr is where POP3 listens (STLS offered), like port 110.
func (s *Server) POP3Addr() string { return s.addrs[POP3] }

// POP3SAddr is where POP3 over implicit TLS listens, like port 995.
func (s *Server) POP3SAddr() string { return s.addrs[POP3S] }

// ClientTLSConfig returns a TLS configuration that trusts the server's
// certificate, for clients of the TLS listeners and STARTTLS, like
// httptest.Server.Client. Its ServerName is "localhost", which the
// generated certificate names, so clients that upgrade a connection
// (net/smtp's StartTLS) need nothing else. Each call returns a new copy.
// It is nil if TLS is off.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.tlsClient == nil {
		return nil
	}
	return s.tlsClient.Clone()
}

// CertificatePEM returns the generated certificate in PEM form, for
// clients outside the process (curl --cacert, Thunderbird). It is nil when
// WithCertificate or WithTLS(false) is used.
func (s *Server) CertificatePEM() []byte { return s.certPEM }

// Store returns the in-memory store behind the server, for direct
// inspection or changes.
func (s *Server) Store() *memstore.Store { return s.store }

// AddUser creates an account (or sets the password of an existing one) that
// can log in over IMAP, POP3 and SMTP AUTH. It panics only if address is
// empty or an alias belongs to someone else, which is a bug in the test.
func (s *Server) AddUser(address, password string, aliases ...string) {
	if _, err := s.store.AddUser(address, password, aliases...); err != nil {
		panic(fmt.Sprintf("mailtest: AddUser: %v", err))
	}
}

// testLogHandler writes records to the test log while the test runs.
type testLogHandler struct {
	tb    testing.TB
	level slog.Level
	attrs []slog.Attr
}

func newTestLogHandler(tb testing.TB, level slog.Level) *testLogHandler {
	return &testLogHandler{tb: tb, level: level}
}

func (h *testLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *testLogHandler) Handle(_ context.Context, r slog.Record) error {
	msg := fmt.Sprintf("mailtest: %s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		msg += " " + a.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	h.tb.Log(msg)
	return nil
}

func (h *testLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

func (h *testLogHandler) WithGroup(string) slog.Handler { return h }
