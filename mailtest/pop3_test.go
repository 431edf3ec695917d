package mailtest_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/mailrig/mailrig/mailtest"
)

// pop3Client is a minimal POP3 client for transcript-style tests.
type pop3Client struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func dialPOP3(t *testing.T, addr string, tlsConfig *tls.Config) *pop3Client {
	t.Helper()
	var conn net.Conn
	var err error
	if tlsConfig != nil {
		conn, err = tls.Dial("tcp", addr, tlsConfig)
	} else {
		conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := &pop3Client{t: t, conn: conn, tp: textproto.NewConn(conn)}
	if greet := c.line(); !strings.HasPrefix(greet, "+OK") {
		t.Fatalf("greeting %q", greet)
	}
	return c
}

func (c *pop3Client) line() string {
	c.t.Helper()
	l, err := c.tp.ReadLine()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return l
}

// cmd sends line and checks the status line starts with want.
func (c *pop3Client) cmd(line, want string) string {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatalf("write %q: %v", line, err)
	}
	got := c.line()
	if !strings.HasPrefix(got, want) {
		c.t.Fatalf("%q: got %q, want %q…", line, got, want)
	}
	return got
}

// multi reads a dot-terminated body, undoing byte-stuffing, with CRLF lines.
func (c *pop3Client) multi() []byte {
	c.t.Helper()
	var buf bytes.Buffer
	for {
		l := c.line()
		if l == "." {
			return buf.Bytes()
		}
		l = strings.TrimPrefix(l, ".")
		buf.WriteString(l + "\r\n")
	}
}

func (c *pop3Client) login(user, pass string) {
	c.t.Helper()
	c.cmd("USER "+user, "+OK")
	c.cmd("PASS "+pass, "+OK")
}

func TestPOP3DownloadAndDelete(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	for i := range 3 {
		srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: fmt.Sprint("m", i), Text: ".dotted\nline"})
	}
	view := srv.POP3View("bob@example.com")
	if len(view.Messages) != 3 {
		t.Fatalf("view = %+v", view)
	}
	c := dialPOP3(t, srv.POP3Addr(), nil)
	c.login("bob@example.com", "pw")
	if got, want := c.cmd("STAT", "+OK"), fmt.Sprintf("+OK 3 %d", view.Size()); got != want {
		t.Errorf("STAT = %q, want %q", got, want)
	}
	c.cmd("UIDL", "+OK")
	uidl := strings.Split(strings.TrimSpace(string(c.multi())), "\r\n")
	for i, l := range uidl {
		if want := fmt.Sprintf("%d %s", i+1, view.Messages[i].UIDL); l != want {
			t.Errorf("UIDL line %q, want %q", l, want)
		}
	}
	// A second POP3 session is locked out while this one holds the maildrop.
	c2 := dialPOP3(t, srv.POP3Addr(), nil)
	c2.cmd("USER bob@example.com", "+OK")
	c2.cmd("PASS pw", "-ERR [IN-USE]")
	if !srv.POP3View("bob@example.com").Locked {
		t.Error("view does not report the lock")
	}
	for i, m := range view.Messages {
		c.cmd(fmt.Sprintf("RETR %d", i+1), fmt.Sprintf("+OK %d octets", m.Size))
		if got := c.multi(); !bytes.Equal(got, m.Message.Raw()) {
			t.Errorf("RETR %d bytes differ from Raw():\n%q\n%q", i+1, got, m.Message.Raw())
		}
		c.cmd(fmt.Sprintf("DELE %d", i+1), "+OK")
	}
	// Deletion happens at QUIT, not before.
	if n := len(srv.POP3View("bob@example.com").Messages); n != 3 {
		t.Errorf("before QUIT the maildrop holds %d, want 3", n)
	}
	c.cmd("QUIT", "+OK")
	// QUIT commits before it answers +OK.
	if n := len(srv.POP3View("bob@example.com").Messages); n != 0 {
		t.Errorf("after QUIT the maildrop holds %d", n)
	}
	if inbox, _ := srv.IMAPView("bob@example.com").Mailbox("INBOX"); len(inbox.Messages) != 0 {
		t.Errorf("IMAP still sees %d messages", len(inbox.Messages))
	}
}

func TestPOP3DropWithoutQuitDeletesNothing(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: "keep", Text: "x"})
	c := dialPOP3(t, srv.POP3SAddr(), srv.ClientTLSConfig())
	c.login("bob@example.com", "pw")
	c.cmd("DELE 1", "+OK")
	c.conn.Close()
	// Close returns once every session has ended; the store stays readable.
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.POP3View("bob@example.com").Messages); n != 1 {
		t.Fatalf("maildrop holds %d, want 1", n)
	}
}

func TestPOP3Faults(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: "big", Text: strings.Repeat("0123456789\n", 500)})

	srv.Inject(t, mailtest.Fault{Protocol: mailtest.POP3, Command: "RETR", Arg: "1", Times: 1, Reply: "-ERR [SYS/TEMP] storage hiccup"})
	c := dialPOP3(t, srv.POP3Addr(), nil)
	c.login("bob@example.com", "pw")
	c.cmd("RETR 1", "-ERR [SYS/TEMP] storage hiccup")
	c.cmd("RETR 1", "+OK") // Times: 1 used up
	c.multi()
	c.cmd("QUIT", "+OK")

	srv.Inject(t, mailtest.Fault{Protocol: mailtest.POP3, Command: "PASS", Times: 1, Reply: "-ERR [IN-USE] try later"})
	c = dialPOP3(t, srv.POP3Addr(), nil)
	c.cmd("USER bob@example.com", "+OK")
	c.cmd("PASS pw", "-ERR [IN-USE] try later")

	srv.Inject(t, mailtest.Fault{Protocol: mailtest.POP3, Command: "RETR", DropAfterBytes: 100})
	c = dialPOP3(t, srv.POP3Addr(), nil)
	c.login("bob@example.com", "pw")
	c.tp.PrintfLine("RETR 1")
	var got bytes.Buffer
	n, _ := got.ReadFrom(c.tp.R)
	if n != 100 {
		t.Errorf("got %d octets before the drop, want 100", n)
	}
	srv.ClearFaults()
	if err := srv.Close(); err != nil { // every session has ended after it
		t.Fatal(err)
	}
	if n := len(srv.POP3View("bob@example.com").Messages); n != 1 {
		t.Errorf("maildrop holds %d after drops, want 1", n)
	}
}

// TestPOP3LoginRightAfterQuit: QUIT releases the maildrop before its +OK,
// so a client that logs in again at once never meets its own old lock.
func TestPOP3LoginRightAfterQuit(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	for range 300 {
		c := dialPOP3(t, srv.POP3Addr(), nil)
		c.login("bob@example.com", "pw")
		c.cmd("QUIT", "+OK")
		c.conn.Close()
	}
}
