package mailtest_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/mailrig/mailrig/mailtest"
)

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
	c.pop3Login("bob@example.com", "pw")
	if got, want := c.pop3("STAT", "+OK"), fmt.Sprintf("+OK 3 %d", view.Size()); got != want {
		t.Errorf("STAT = %q, want %q", got, want)
	}
	c.pop3("UIDL", "+OK")
	uidl := strings.Split(strings.TrimSpace(string(c.pop3Multi())), "\r\n")
	for i, l := range uidl {
		if want := fmt.Sprintf("%d %s", i+1, view.Messages[i].UIDL); l != want {
			t.Errorf("UIDL line %q, want %q", l, want)
		}
	}
	// A second POP3 session is locked out while this one holds the maildrop.
	c2 := dialPOP3(t, srv.POP3Addr(), nil)
	c2.pop3("USER bob@example.com", "+OK")
	c2.pop3("PASS pw", "-ERR [IN-USE]")
	if !srv.POP3View("bob@example.com").Locked {
		t.Error("view does not report the lock")
	}
	for i, m := range view.Messages {
		c.pop3(fmt.Sprintf("RETR %d", i+1), fmt.Sprintf("+OK %d octets", m.Size))
		if got := c.pop3Multi(); !bytes.Equal(got, m.Message.Raw()) {
			t.Errorf("RETR %d bytes differ from Raw():\n%q\n%q", i+1, got, m.Message.Raw())
		}
		c.pop3(fmt.Sprintf("DELE %d", i+1), "+OK")
	}
	// Deletion happens at QUIT, not before.
	if n := len(srv.POP3View("bob@example.com").Messages); n != 3 {
		t.Errorf("before QUIT the maildrop holds %d, want 3", n)
	}
	c.pop3("QUIT", "+OK")
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
	c.pop3Login("bob@example.com", "pw")
	c.pop3("DELE 1", "+OK")
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
	c.pop3Login("bob@example.com", "pw")
	c.pop3("RETR 1", "-ERR [SYS/TEMP] storage hiccup")
	c.pop3("RETR 1", "+OK") // Times: 1 used up
	c.pop3Multi()
	c.pop3("QUIT", "+OK")

	srv.Inject(t, mailtest.Fault{Protocol: mailtest.POP3, Command: "PASS", Times: 1, Reply: "-ERR [IN-USE] try later"})
	c = dialPOP3(t, srv.POP3Addr(), nil)
	c.pop3("USER bob@example.com", "+OK")
	c.pop3("PASS pw", "-ERR [IN-USE] try later")

	srv.Inject(t, mailtest.Fault{Protocol: mailtest.POP3, Command: "RETR", DropAfterBytes: 100})
	c = dialPOP3(t, srv.POP3Addr(), nil)
	c.pop3Login("bob@example.com", "pw")
	c.send("RETR 1\r\n")
	var got bytes.Buffer
	n, _ := got.ReadFrom(c.r)
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
		c.pop3Login("bob@example.com", "pw")
		c.pop3("QUIT", "+OK")
		c.conn.Close()
	}
}
