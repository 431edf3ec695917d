package imapfront

import (
	"bufio"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"go.uber.org/goleak"

	"github.com/mailrig/mailrig/memstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	alice = "alice@example.com"
	bob   = "bob@example.com"
	pw    = "secret"
)

// env is one server on a loopback port with users alice and bob.
type env struct {
	store *memstore.Store
	srv   *Server
	addr  string
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	if opts.Store == nil {
		opts.Store = memstore.New()
	}
	for _, u := range []string{alice, bob} {
		if _, err := opts.Store.AddUser(u, pw); err != nil {
			t.Fatal(err)
		}
	}
	srv := NewServer(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &env{store: opts.Store, srv: srv, addr: ln.Addr().String()}
}

// client logs in with go-imap's client.
func (e *env) client(t testing.TB, user string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(e.addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pw).Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func (e *env) mailbox(t testing.TB, user, name string) *memstore.Mailbox {
	t.Helper()
	u, ok := e.store.User(user)
	if !ok {
		t.Fatalf("no user %s", user)
	}
	mb, err := u.Mailbox(name)
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

func (e *env) deliver(t testing.TB, to string, raw string) {
	t.Helper()
	if _, err := e.store.Deliver([]byte(raw), time.Time{}, memstore.Envelope{Rcpts: []string{to}}); err != nil {
		t.Fatal(err)
	}
}

// appendMsg files raw in user's mailbox with flags.
func (e *env) appendMsg(t testing.TB, user, mailbox, raw string, date time.Time, flags ...string) uint32 {
	t.Helper()
	uid, err := e.mailbox(t, user, mailbox).Append(memstore.NewMessage([]byte(raw), date, memstore.Envelope{}), memstore.NewFlags(flags...))
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

func simpleMsg(subject, body string) string {
	return "From: Sender <sender@example.org>\r\nTo: alice@example.com\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\n\r\n" + body + "\r\n"
}

// rawConn speaks IMAP line by line for transcript tests.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func (e *env) raw(t testing.TB) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rc := &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	if g := rc.readResp(); !strings.HasPrefix(g, "* OK ") {
		t.Fatalf("greeting %q", g)
	}
	return rc
}

// rawLogin is a raw connection logged in as user.
func (e *env) rawLogin(t testing.TB, user string) *rawConn {
	rc := e.raw(t)
	rc.ok("L1", "LOGIN "+user+" "+pw)
	return rc
}

var literalRE = regexp.MustCompile(`~?\{(\d+)\+?\}$`)

// readResp reads one response line with its literals inlined.
func (rc *rawConn) readResp() string {
	rc.t.Helper()
	_ = rc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for {
		line, err := rc.r.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("read: %v (so far %q)", err, b.String())
		}
		line = strings.TrimSuffix(line, "\r\n")
		b.WriteString(line)
		m := literalRE.FindStringSubmatch(line)
		if m == nil {
			return b.String()
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(rc.r, buf); err != nil {
			rc.t.Fatalf("read literal: %v", err)
		}
		b.WriteString("\r\n")
		b.Write(buf)
	}
}

func (rc *rawConn) send(line string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.conn, line+"\r\n"); err != nil {
		rc.t.Fatal(err)
	}
}

// cmd sends a command and returns the untagged responses and the tagged one.
func (rc *rawConn) cmd(tag, line string) (untagged []string, tagged string) {
	rc.t.Helper()
	rc.send(tag + " " + line)
	for {
		resp := rc.readResp()
		if strings.HasPrefix(resp, tag+" ") {
			return untagged, resp
		}
		untagged = append(untagged, resp)
	}
}

// ok runs a command that must succeed and returns its untagged responses.
func (rc *rawConn) ok(tag, line string) []string {
	rc.t.Helper()
	untagged, tagged := rc.cmd(tag, line)
	if !strings.HasPrefix(tagged, tag+" OK") {
		rc.t.Fatalf("%s %s: %s (untagged %q)", tag, line, tagged, untagged)
	}
	return untagged
}

// expectLines compares responses exactly.
func expectLines(t testing.TB, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("responses:\n got: %q\nwant: %q", got, want)
	}
}

// waitFor receives from ch or fails after d.
func waitFor[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		var zero T
		t.Fatalf("timed out waiting for %s", what)
		return zero
	}
}

func mustNoErr(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// imapCode is the response code of a NO or BAD reply, or "" .
func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}
