package pop3

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeBackend is an in-memory Backend with per-user maildrop locks that
// records what the server asked of it.
type fakeBackend struct {
	mu    sync.Mutex
	users map[string]*fakeUser

	logins int // successful logins
	closes int // Maildrop.Close calls
	errs   []string
	closed chan struct{} // closed (and replaced) at each Maildrop.Close
}

type fakeUser struct {
	password   string
	msgs       []*fakeMsg
	locked     bool
	broken     bool // Login fails with a non-sentinel error
	failCommit bool
	commits    [][]uint32
	retrieved  []uint32
}

type fakeMsg struct {
	key  uint32
	data []byte
	uidl string
	gone bool
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{users: make(map[string]*fakeUser)}
}

// addUser adds a user with the given messages, keyed 101, 102, ...
func (b *fakeBackend) addUser(name, password string, msgs ...string) *fakeUser {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := &fakeUser{password: password}
	for i, m := range msgs {
		key := uint32(101 + i)
		u.msgs = append(u.msgs, &fakeMsg{key: key, data: []byte(m), uidl: fmt.Sprintf("uid-%d", key)})
	}
	b.users[name] = u
	return u
}

func (b *fakeBackend) user(name string) *fakeUser {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.users[name]
}

func (b *fakeBackend) lock(name string, check func(*fakeUser) bool) (Maildrop, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.users[name]
	if u == nil || !check(u) {
		return nil, ErrAuthFailed
	}
	if u.broken {
		return nil, errors.New("disk on fire")
	}
	if u.locked {
		return nil, ErrInUse
	}
	u.locked = true
	b.logins++
	return &fakeDrop{b: b, u: u}, nil
}

func (b *fakeBackend) Login(ctx context.Context, username, password string, info ConnInfo) (Maildrop, error) {
	if info.SessionID == "" || info.RemoteAddr == nil {
		return nil, errors.New("missing ConnInfo")
	}
	return b.lock(username, func(u *fakeUser) bool { return u.password == password })
}

func (b *fakeBackend) LoginAPOP(ctx context.Context, username, timestamp, digest string, info ConnInfo) (Maildrop, error) {
	return b.lock(username, func(u *fakeUser) bool { return apopDigest(timestamp, u.password) == digest })
}

func apopDigest(timestamp, password string) string {
	sum := md5.Sum([]byte(timestamp + password))
	return hex.EncodeToString(sum[:])
}

func (b *fakeBackend) stats() (logins, closes int, errs []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logins, b.closes, append([]string(nil), b.errs...)
}

type fakeDrop struct {
	b      *fakeBackend
	u      *fakeUser
	closed bool
}

func (d *fakeDrop) List() []MessageInfo {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	var l []MessageInfo
	for _, m := range d.u.msgs {
		l = append(l, MessageInfo{Key: m.key, Size: int64(len(m.data)), UIDL: m.uidl})
	}
	return l
}

func (d *fakeDrop) Open(key uint32) ([]byte, error) {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	for _, m := range d.u.msgs {
		if m.key == key {
			if m.gone {
				return nil, ErrGone
			}
			return m.data, nil
		}
	}
	return nil, ErrGone
}

func (d *fakeDrop) Retrieved(key uint32) {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	d.u.retrieved = append(d.u.retrieved, key)
}

func (d *fakeDrop) Commit(deleted []uint32) error {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	if d.u.failCommit {
		return errors.New("commit failed")
	}
	d.u.commits = append(d.u.commits, deleted)
	keep := d.u.msgs[:0]
	for _, m := range d.u.msgs {
		del := false
		for _, k := range deleted {
			del = del || k == m.key
		}
		if !del {
			keep = append(keep, m)
		}
	}
	d.u.msgs = keep
	return nil
}

func (d *fakeDrop) Close() {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	if d.closed {
		d.b.errs = append(d.b.errs, "Maildrop.Close called twice")
	}
	d.closed = true
	d.u.locked = false
	d.b.closes++
	if d.b.closed != nil {
		close(d.b.closed) // wakes every waitCloses
		d.b.closed = nil
	}
}

// waitCloses waits until Maildrop.Close has been called n times in all;
// the server calls it as a session ends, after the client may have left.
func (b *fakeBackend) waitCloses(t testing.TB, n int) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		closes := b.closes
		if b.closed == nil {
			b.closed = make(chan struct{})
		}
		signal := b.closed
		b.mu.Unlock()
		if closes >= n {
			return
		}
		select {
		case <-signal:
		case <-deadline.C:
			t.Fatalf("Maildrop.Close called %d times within 5s, want %d", closes, n)
		}
	}
}

// startServer serves opts on a fresh 127.0.0.1 listener until the test ends.
func startServer(t testing.TB, b Backend, opts Options) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, b, opts, ln, nil), ln.Addr().String()
}

// serveOn serves on ln, with implicit TLS if implicitTLS is set.
func serveOn(t testing.TB, b Backend, opts Options, ln net.Listener, implicitTLS *tls.Config) *Server {
	srv := NewServer(b, opts)
	done := make(chan error, 1)
	go func() {
		if implicitTLS != nil {
			done <- srv.ServeTLS(ln, implicitTLS)
			return
		}
		done <- srv.Serve(ln)
	}()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// client is a minimal line-oriented POP3 test client.
type client struct {
	t        testing.TB
	conn     net.Conn
	r        *bufio.Reader
	greeting string
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, conn)
}

func newClient(t testing.TB, conn net.Conn) *client {
	t.Helper()
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c.greeting = c.readLine()
	return c
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

func (c *client) readLine() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (partial %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line without CRLF: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// cmd sends a line and returns the status line of the reply.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line)
	return c.readLine()
}

// readMulti reads a multi-line body up to the terminator and returns the
// unstuffed bytes exactly as the server's data (CRLFs included).
func (c *client) readMulti() []byte {
	c.t.Helper()
	var out []byte
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read multi-line: %v", err)
		}
		if l == ".\r\n" {
			return out
		}
		out = append(out, strings.TrimPrefix(l, ".")...)
	}
}

// lines splits a multi-line body into its lines.
func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\r\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\r\n")
}

// expectClosed asserts the server closes the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := c.r.ReadString('\n')
	if err == nil {
		c.t.Fatalf("expected the connection to close, got %q", l)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection not closed: %v", err)
	}
}

// selfSignedTLS returns a server config and a client config trusting it.
func selfSignedTLS(t testing.TB) (server, clientCfg *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pop3.test"},
		DNSNames:     []string{"pop3.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	clientCfg = &tls.Config{RootCAs: pool, ServerName: "pop3.test"}
	return server, clientCfg
}

// transcript collects the lines of Options.Trace.
type transcript struct {
	mu    sync.Mutex
	lines []string
}

// trace is an Options.Trace that records every session into tr.
func (tr *transcript) trace(string, string, bool) Trace {
	return Trace{Line: tr.record}
}

func (tr *transcript) record(fromClient bool, line string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	dir := "S: "
	if fromClient {
		dir = "C: "
	}
	tr.lines = append(tr.lines, dir+line)
}

func (tr *transcript) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Join(tr.lines, "\n")
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
