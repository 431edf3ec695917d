package conntrack

import (
	"bufio"
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
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mailrig/mailrig/mailtest/internal/testcert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// greeter is a handler that greets, then echoes lines until the client
// goes, and reports each connection it ended.
type greeter struct {
	ended     chan string
	untracked atomic.Bool // a conn in which Of found no *Conn
	sawTLS    atomic.Bool // a *tls.Conn, as libraries detect TLS
}

func newGreeter() *greeter { return &greeter{ended: make(chan string, 16)} }

func (g *greeter) handle(c net.Conn) {
	if Of(c) == nil {
		g.untracked.Store(true)
	}
	if _, ok := c.(*tls.Conn); ok {
		g.sawTLS.Store(true)
	}
	defer func() {
		_ = c.Close()
		g.ended <- c.RemoteAddr().String()
	}()
	if _, err := io.WriteString(c, "+ hello\r\n"); err != nil {
		return
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := io.WriteString(c, line); err != nil {
			return
		}
	}
}

// serve runs t.Serve on a loopback listener until the test ends, and
// returns its address and Serve's result.
func serve(tb testing.TB, t *Tracker, cfg ListenConfig, handle func(net.Conn)) (string, <-chan error) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- t.Serve(ln, cfg, handle) }()
	tb.Cleanup(func() {
		if err := t.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return ln.Addr().String(), served
}

type client struct {
	net.Conn
	r *bufio.Reader
}

func dial(tb testing.TB, addr string, tlsConfig *tls.Config) *client {
	tb.Helper()
	var c net.Conn
	var err error
	if tlsConfig != nil {
		c, err = tls.Dial("tcp", addr, tlsConfig)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{Conn: c, r: bufio.NewReader(c)}
}

func (c *client) line(tb testing.TB) string {
	tb.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		tb.Fatalf("read: %v (got %q)", err, l)
	}
	return l
}

func (c *client) expectEOF(tb testing.TB) {
	tb.Helper()
	if l, err := c.r.ReadString('\n'); !errors.Is(err, io.EOF) {
		tb.Fatalf("want EOF, got %q, %v", l, err)
	}
}

func TestLimitAndRefusal(t *testing.T) {
	t.Parallel()
	b, err := testcert.Get()
	if err != nil {
		t.Fatal(err)
	}
	for _, implicitTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", implicitTLS), func(t *testing.T) {
			t.Parallel()
			var serverTLS, clientTLS *tls.Config
			if implicitTLS {
				serverTLS, clientTLS = testcert.ServerConfig(b.Certificate), testcert.ClientConfig(b.Pool)
				clientTLS.ServerName = "127.0.0.1"
			}
			tr := New(Options{})
			refused := make(chan string, 4)
			g := newGreeter()
			addr, _ := serve(t, tr, ListenConfig{
				TLS:      serverTLS,
				MaxConns: 1,
				Refusal:  "421 busy",
				Refused:  func(c net.Conn, line string) { refused <- line },
			}, g.handle)

			first := dial(t, addr, clientTLS)
			if got := first.line(t); got != "+ hello\r\n" {
				t.Fatalf("first greeting %q", got)
			}
			if n := tr.Open(); n != 1 {
				t.Errorf("Open = %d with one client", n)
			}
			// Once it has gone, a new client is let in.
			first.Close()
			<-g.ended
			second := dial(t, addr, clientTLS)
			if got := second.line(t); got != "+ hello\r\n" {
				t.Fatalf("second greeting %q after the first left", got)
			}
			// One more is one too many.
			third := dial(t, addr, clientTLS)
			if got := third.line(t); got != "421 busy\r\n" {
				t.Fatalf("third greeting %q, want the refusal", got)
			}
			third.expectEOF(t)
			if got := <-refused; got != "421 busy" {
				t.Errorf("Refused got %q", got)
			}
			// The second client is still served.
			fmt.Fprintf(second, "ping\r\n")
			if got := second.line(t); got != "ping\r\n" {
				t.Errorf("echo %q", got)
			}
			if g.sawTLS.Load() != implicitTLS {
				t.Errorf("handler saw *tls.Conn: %v, want %v", g.sawTLS.Load(), implicitTLS)
			}
			if g.untracked.Load() {
				t.Error("Of found no tracked conn under the handler's conn")
			}
		})
	}
}

// wrapped is a front-end's own connection wrapper.
type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

func TestAdmitAndWrap(t *testing.T) {
	t.Parallel()
	tr := New(Options{})
	handled := make(chan net.Conn, 1)
	var seen atomic.Int32
	addr, _ := serve(t, tr, ListenConfig{
		Admit: func(c net.Conn) func() {
			if seen.Add(1) == 1 {
				return nil // the first one only
			}
			return func() { Refuse(c, nil, "no") }
		},
		Wrap: func(c net.Conn) net.Conn { return wrapped{c} },
	}, func(c net.Conn) {
		handled <- c
		_ = c.Close()
		c.(wrapped).Conn.(*Conn).End() // Close ended it already: a no-op
	})
	c := dial(t, addr, nil)
	c.expectEOF(t)
	got := <-handled
	if _, ok := got.(wrapped); !ok {
		t.Fatalf("handler got %T, want the Wrap result", got)
	}
	if Of(got) == nil {
		t.Error("Of does not find the tracked conn under the wrapper")
	}
	refused := dial(t, addr, nil)
	if l := refused.line(t); l != "no\r\n" {
		t.Errorf("refused by Admit: %q", l)
	}
}

// TestCloseWaitsForHandlers: Close closes the connections and returns only
// after every handler has returned.
func TestCloseWaitsForHandlers(t *testing.T) {
	t.Parallel()
	tr := New(Options{})
	cut := make(chan struct{})
	release := make(chan struct{})
	addr, served := serve(t, tr, ListenConfig{}, func(c net.Conn) {
		defer c.Close()
		_, _ = io.WriteString(c, "+ hello\r\n")
		_, err := c.Read(make([]byte, 1)) // blocks until Close cuts it
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read in handler: %v, want net.ErrClosed", err)
		}
		close(cut)
		<-release
	})
	c := dial(t, addr, nil)
	c.line(t)

	closed := make(chan error, 1)
	go func() { closed <- tr.Close() }()
	<-cut
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a handler still ran", err)
	default:
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve returned %v after Close, want nil", err)
	}
	c.expectEOF(t)
	if n := tr.Open(); n != 0 {
		t.Errorf("Open = %d after Close", n)
	}
}

// TestExplicitEnd: with ExplicitEnd a Close does not end a connection;
// Close waits for its owner's End.
func TestExplicitEnd(t *testing.T) {
	t.Parallel()
	tr := New(Options{ExplicitEnd: true})
	conns := make(chan net.Conn, 1)
	addr, _ := serve(t, tr, ListenConfig{}, func(c net.Conn) { conns <- c })
	dial(t, addr, nil)
	c := <-conns
	_ = c.Close()
	if n := tr.Open(); n != 1 {
		t.Fatalf("Open = %d after Close without End, want 1", n)
	}
	closed := make(chan error, 1)
	go func() { closed <- tr.Close() }()
	<-tr.Done()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before End", err)
	default:
	}
	Of(c).End()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

func TestServeAfterClose(t *testing.T) {
	t.Parallel()
	tr := New(Options{})
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Serve(ln, ListenConfig{}, func(net.Conn) {}); err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ln not closed by Serve after Close: %v", err)
	}
}

// fakeListener hands out errs one by one, then conns, then blocks until
// closed.
type fakeListener struct {
	errs   chan error
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newFakeListener(errs ...error) *fakeListener {
	l := &fakeListener{errs: make(chan error, len(errs)), conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	for _, err := range errs {
		l.errs <- err
	}
	return l
}

func (l *fakeListener) Accept() (net.Conn, error) {
	select {
	case err := <-l.errs:
		return nil, err
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// logRecorder keeps the messages and "delay" attributes logged to it.
type logRecorder struct {
	mu     sync.Mutex
	delays []string
	notify chan struct{}
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "delay" {
			r.delays = append(r.delays, a.Value.String())
		}
		return true
	})
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.delays...)
}

func TestBackoffOnTemporaryErrors(t *testing.T) {
	t.Parallel()
	temp := []error{
		&net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE},
		&net.OpError{Op: "accept", Net: "tcp", Err: syscall.ENFILE},
		&net.OpError{Op: "accept", Net: "tcp", Err: syscall.ECONNABORTED},
		&net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE},
	}
	fl := newFakeListener(temp...)
	server, client := net.Pipe()
	defer client.Close()
	fl.conns <- server
	rec := &logRecorder{notify: make(chan struct{}, 1)}
	tr := New(Options{Logger: slog.New(rec)})
	defer tr.Close()
	ln, ok := tr.Listen(fl, ListenConfig{})
	if !ok {
		t.Fatal("Listen on a new tracker refused")
	}
	start := time.Now()
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept = %v, want the connection after the temporary errors", err)
	}
	defer c.Close()
	if Of(c) == nil {
		t.Error("accepted conn is not tracked")
	}
	// Doubling from 5ms, once per error.
	if got, want := strings.Join(rec.got(), " "), "5ms 10ms 20ms 40ms"; got != want {
		t.Errorf("retry delays %q, want %q", got, want)
	}
	if d := time.Since(start); d < 75*time.Millisecond {
		t.Errorf("Accept returned after %v, before the back-off of 75ms", d)
	}
}

func TestCloseCutsBackoff(t *testing.T) {
	t.Parallel()
	errs := make([]error, 20) // enough to back off for ~15 s
	for i := range errs {
		errs[i] = &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	fl := newFakeListener(errs...)
	rec := &logRecorder{notify: make(chan struct{}, 1)}
	tr := New(Options{Logger: slog.New(rec)})
	served := make(chan error, 1)
	go func() { served <- tr.Serve(fl, ListenConfig{}, func(net.Conn) {}) }()
	<-rec.notify // the loop is backing off
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v after Close, want nil", err)
	}
	if n := len(rec.got()); n > 10 {
		t.Errorf("%d retries before Close took effect", n)
	}
}

func TestServeReturnsOtherErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tr := New(Options{})
	if err := tr.Serve(newFakeListener(boom), ListenConfig{}, func(net.Conn) {}); !errors.Is(err, boom) {
		t.Errorf("Serve = %v, want %v", err, boom)
	}
	if err := tr.Close(); err != nil { // must not wait for the stopped loop
		t.Fatal(err)
	}
}

func TestRefuseSilently(t *testing.T) {
	t.Parallel()
	server, client := net.Pipe()
	go Refuse(server, nil, "")
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("Refuse with no line: read %d, %v; want EOF", n, err)
	}
}
