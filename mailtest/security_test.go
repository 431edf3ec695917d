package mailtest_test

// Security: one user never reaches another's mail, wrong credentials are
// refused with the right codes, passwords never reach the logs, and the
// listeners stay on loopback.

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrig/mailrig/mailtest"
)

// mailboxState is what must not change in another user's account.
func mailboxState(srv *mailtest.Server, user string) string {
	var b strings.Builder
	for _, mb := range srv.IMAPView(user).Mailboxes {
		fmt.Fprintf(&b, "%s uidvalidity=%d uidnext=%d:", mb.Name, mb.UIDValidity, mb.UIDNext)
		for _, m := range mb.Messages {
			fmt.Fprintf(&b, " %d%v", m.UID, m.Flags)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestIMAPUsersAreIsolated: alice tries every name that might reach bob's
// mailboxes; each command is refused or acts on alice's own account.
func TestIMAPUsersAreIsolated(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("alice@example.com", "apw"), mailtest.WithUser("bob@example.com", "bpw"))
	srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com"}, Subject: "bob's secret", Text: "secret"})
	srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"alice@example.com"}, Subject: "alice's", Text: "hers"})
	bobBefore := mailboxState(srv, "bob@example.com")

	c := imapSession(t, srv.IMAPAddr(), nil, "alice@example.com", "apw")
	names := []string{`"../bob/INBOX"`, `"/INBOX"`, `"bob@example.com/INBOX"`, `"~bob"`, `"~bob/INBOX"`,
		`"%"`, `"*"`, `"bob@example.com"`, `"&AGQAZQBm-"`, `"Other Users/bob/INBOX"`, `"#shared/bob"`, `"INBOX/../../bob/INBOX"`}
	n := 0
	tag := func() string { n++; return fmt.Sprintf("S%d", n) }
	for _, name := range names {
		for _, cmd := range []string{"SELECT " + name, "EXAMINE " + name, "STATUS " + name + " (MESSAGES)", "DELETE " + name,
			"RENAME " + name + " Stolen", "SUBSCRIBE " + name} {
			tg := tag()
			_, tagged := c.imap(tg, cmd)
			if !strings.HasPrefix(tagged, tg+" NO ") && !strings.HasPrefix(tagged, tg+" BAD ") && !strings.HasPrefix(tagged, tg+" OK") {
				t.Errorf("%s: %q", cmd, tagged)
			}
			if strings.HasPrefix(cmd, "SUBSCRIBE") {
				continue // subscribing to a name is harmless
			}
			if strings.HasPrefix(tagged, tg+" OK") {
				t.Errorf("%s succeeded: %q", cmd, tagged)
			}
		}
		// COPY and APPEND into the name: refused, or into alice's own
		// mailbox of that name.
		c.imap(tag(), "SELECT INBOX")
		tg := tag()
		// (go-imap answers a name it cannot decode, such as the UTF-7 of
		// plain ASCII, with NO [SERVERBUG]: refused all the same.)
		if _, tagged := c.imap(tg, "COPY 1 "+name); !strings.HasPrefix(tagged, tg+" NO ") && !strings.HasPrefix(tagged, tg+" BAD ") {
			t.Errorf("COPY 1 %s: %q", name, tagged)
		}
		tg = tag()
		msg := "Subject: planted\r\n\r\nx\r\n"
		c.send(fmt.Sprintf("%s APPEND %s {%d}\r\n", tg, name, len(msg)))
		if l := c.line(); strings.HasPrefix(l, "+") {
			c.send(msg + "\r\n")
			_, tagged := c.imapResult(tg)
			if !strings.HasPrefix(tagged, tg+" NO") {
				t.Errorf("APPEND %s: %q", name, tagged)
			}
		} else if !strings.HasPrefix(l, tg+" NO") && !strings.HasPrefix(l, tg+" BAD") {
			t.Errorf("APPEND %s: %q", name, l)
		}
	}
	// Wildcards list alice's mailboxes only.
	for _, args := range []string{`"" "*"`, `"" "%"`, `"" "*bob*"`, `"~bob" "*"`, `"../" "*"`, `"/" "*"`, `"" "../bob/*"`, `"bob@example.com/" "*"`} {
		tg := tag()
		untagged, tagged := c.imap(tg, "LIST "+args)
		if !strings.HasPrefix(tagged, tg+" OK") && !strings.HasPrefix(tagged, tg+" NO") && !strings.HasPrefix(tagged, tg+" BAD") {
			t.Errorf("LIST %s: %q", args, tagged)
		}
		for _, l := range untagged {
			if strings.Contains(strings.ToLower(l), "bob") {
				t.Errorf("LIST %s shows %q", args, l)
			}
		}
	}
	// CREATE of a name that looks like bob's makes a mailbox of alice's, or
	// is refused; either way APPEND there lands in alice's account.
	for _, name := range []string{`"bob@example.com/INBOX"`, `"~bob"`, `"../bob/INBOX"`, `"/INBOX"`} {
		tg := tag()
		_, tagged := c.imap(tg, "CREATE "+name)
		if strings.HasPrefix(tagged, tg+" OK") {
			tg = tag()
			msg := "Subject: own\r\n\r\nx\r\n"
			c.send(fmt.Sprintf("%s APPEND %s {%d}\r\n", tg, name, len(msg)))
			c.wantPrefix("+")
			c.send(msg + "\r\n")
			if _, tagged := c.imapResult(tg); !strings.HasPrefix(tagged, tg+" OK") {
				t.Errorf("APPEND %s after CREATE: %q", name, tagged)
			}
		}
	}
	// Expunge everything alice can see: bob keeps his mail.
	c.imap(tag(), "SELECT INBOX")
	c.imap(tag(), "STORE 1:* +FLAGS.SILENT (\\Deleted)")
	tg := tag()
	if _, tagged := c.imap(tg, "EXPUNGE"); !strings.HasPrefix(tagged, tg+" OK") {
		t.Fatalf("EXPUNGE: %q", tagged)
	}
	tg = tag()
	untagged, tagged := c.imap(tg, "UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if !strings.HasPrefix(tagged, tg+" OK") || len(untagged) != 0 {
		t.Errorf("alice's INBOX after EXPUNGE: %q %q", untagged, tagged)
	}
	if c.imap(tag(), "LOGOUT"); true {
		c.closedByServer(5 * time.Second)
	}

	// A mailbox name with a NUL, sent as a literal. go-imap answers NO
	// [SERVERBUG] (it cannot decode the name) and then trips over the
	// CRLF after the literal and hangs up: refused, cleanly.
	c = imapSession(t, srv.IMAPAddr(), nil, "alice@example.com", "apw")
	c.send("N1 SELECT {8}\r\n")
	c.wantPrefix("+ ")
	c.send("bo\x00INBOX\r\n")
	if rest := c.closedByServer(5 * time.Second); !strings.HasPrefix(rest, "N1 NO ") && !strings.HasPrefix(rest, "N1 BAD ") {
		t.Errorf("SELECT with NUL: %q", rest)
	}
	if got := mailboxState(srv, "bob@example.com"); got != bobBefore {
		t.Errorf("bob's account changed:\n%s\nwas\n%s", got, bobBefore)
	}
	for _, mb := range srv.IMAPView("alice@example.com").Mailboxes {
		for _, m := range mb.Messages {
			if strings.Contains(string(m.Message.Raw()), "secret") {
				t.Errorf("bob's message reached alice's %s", mb.Name)
			}
		}
	}
	if srv.IMAPView("bob").Exists || srv.IMAPView("~bob").Exists {
		t.Error("a user was created by name tricks")
	}
}

// TestPOP3UsersAreIsolated: USER of another user with a wrong PASS gets
// nothing; a logged-in user cannot switch to another maildrop.
func TestPOP3UsersAreIsolated(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("alice@example.com", "apw"), mailtest.WithUser("bob@example.com", "bpw"))
	srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com"}, Subject: "bob's", Text: "secret"})
	bobBefore := mailboxState(srv, "bob@example.com")

	c := pop3Session(t, srv.POP3Addr(), nil, "", "")
	c.send("USER bob@example.com\r\nPASS apw\r\n")
	c.want("+OK send PASS")
	c.want("-ERR [AUTH] invalid credentials")
	for _, cmd := range []string{"STAT", "LIST", "RETR 1", "DELE 1", "UIDL", "TOP 1 0"} {
		c.send(cmd + "\r\n")
		if l := c.line(); !strings.HasPrefix(l, "-ERR") {
			t.Errorf("%s after a failed login: %q", cmd, l)
		}
	}
	c.send("QUIT\r\n")
	c.wantPrefix("+OK")

	c = pop3Session(t, srv.POP3Addr(), nil, "alice@example.com", "apw")
	c.send("USER bob@example.com\r\n")
	c.wantPrefix("-ERR")
	c.send("PASS bpw\r\n")
	c.wantPrefix("-ERR")
	c.send("STAT\r\n")
	c.want("+OK 0 0")
	c.send("RETR 1\r\nDELE 1\r\nQUIT\r\n")
	c.wantPrefix("-ERR")
	c.wantPrefix("-ERR")
	c.wantPrefix("+OK")

	if srv.POP3View("bob@example.com").Locked {
		t.Error("bob's maildrop locked by someone else's session")
	}
	if got := mailboxState(srv, "bob@example.com"); got != bobBefore {
		t.Errorf("bob's account changed:\n%s\nwas\n%s", got, bobBefore)
	}
}

// TestWrongCredentialsRefused checks the codes on all three protocols, and
// that a user created by delivery (no password) cannot log in.
func TestWrongCredentialsRefused(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "right"))
	srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"auto@example.com"}, Subject: "s", Text: "x"})
	for _, cred := range [][2]string{{"bob@example.com", "wrong"}, {"bob@example.com", ""}, {"nobody@example.com", "right"}, {"auto@example.com", ""}, {"auto@example.com", "x"}} {
		user, pass := cred[0], cred[1]
		t.Run(user+"/"+pass, func(t *testing.T) {
			t.Parallel()
			s := smtpSession(t, srv.SMTPAddr(), nil)
			s.send("AUTH PLAIN " + b64("\x00"+user+"\x00"+pass) + "\r\n")
			s.want("535 5.7.8 Authentication failed")
			s.send("AUTH LOGIN\r\n")
			s.wantPrefix("334 ")
			s.send(b64(user) + "\r\n")
			s.wantPrefix("334 ")
			s.send(b64(pass) + "\r\n")
			s.want("535 5.7.8 Authentication failed")

			i := imapSession(t, srv.IMAPAddr(), nil, "", "")
			if _, tagged := i.imap("A1", fmt.Sprintf("LOGIN %q %q", user, pass)); tagged != "A1 NO [AUTHENTICATIONFAILED] Authentication failed" {
				t.Errorf("IMAP LOGIN: %q", tagged)
			}
			i.send("A2 AUTHENTICATE PLAIN\r\n")
			i.wantPrefix("+")
			i.send(b64("\x00"+user+"\x00"+pass) + "\r\n")
			if _, tagged := i.imapResult("A2"); tagged != "A2 NO [AUTHENTICATIONFAILED] Authentication failed" {
				t.Errorf("IMAP AUTHENTICATE: %q", tagged)
			}

			p := pop3Session(t, srv.POP3Addr(), nil, "", "")
			p.send("USER " + user + "\r\n")
			p.wantPrefix("+OK")
			p.send("PASS " + pass + "\r\n")
			if pass == "" {
				p.want("-ERR usage: PASS password")
			} else {
				p.want("-ERR [AUTH] invalid credentials")
			}
			p.send("AUTH PLAIN " + b64("\x00"+user+"\x00"+pass) + "\r\n")
			p.want("-ERR [AUTH] invalid credentials")
		})
	}
	// The right password still works everywhere.
	s := smtpSession(t, srv.SMTPAddr(), nil)
	s.send("AUTH PLAIN " + b64("\x00bob@example.com\x00right") + "\r\n")
	s.want("235 2.0.0 Authentication succeeded")
	imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "right")
	pop3Session(t, srv.POP3Addr(), nil, "bob@example.com", "right")
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPasswordsNeverLogged logs in, rightly and wrongly, on every protocol
// and mechanism with distinctive passwords, at debug level.
func TestPasswordsNeverLogged(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const right, wrong = "Sup3rS3cretRight", "Wr0ngS3cretGuess"
	srv := mailtest.NewServer(t, mailtest.WithLogger(logger), mailtest.WithUser("bob@example.com", right))
	srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com"}, Subject: "s", Text: "x"})

	for _, pass := range []string{wrong, right} {
		for _, addr := range []string{srv.SMTPAddr(), srv.SubmissionAddr()} {
			s := smtpSession(t, addr, nil)
			s.send("AUTH PLAIN " + b64("\x00bob@example.com\x00"+pass) + "\r\n")
			s.smtpReply()
			s = smtpSession(t, addr, nil)
			s.send("AUTH PLAIN\r\n")
			s.wantPrefix("334")
			s.send(b64("\x00bob@example.com\x00"+pass) + "\r\n")
			s.smtpReply()
			s = smtpSession(t, addr, nil)
			s.send("AUTH LOGIN " + b64("bob@example.com") + "\r\n")
			s.wantPrefix("334")
			s.send(b64(pass) + "\r\n")
			s.smtpReply()
		}
		i := imapSession(t, srv.IMAPAddr(), nil, "", "")
		i.imap("A1", "LOGIN bob@example.com "+pass)
		i = imapSession(t, srv.IMAPAddr(), nil, "", "")
		i.send("A2 LOGIN bob@example.com {" + fmt.Sprint(len(pass)) + "}\r\n")
		i.wantPrefix("+")
		i.send(pass + "\r\n")
		i.imapResult("A2")
		i = imapSession(t, srv.IMAPAddr(), nil, "", "")
		i.send("A3 AUTHENTICATE PLAIN " + b64("\x00bob@example.com\x00"+pass) + "\r\n")
		i.imapResult("A3")

		waitFor(t, func() bool { return !srv.POP3View("bob@example.com").Locked })
		p := pop3Session(t, srv.POP3Addr(), nil, "", "")
		p.send("USER bob@example.com\r\nPASS " + pass + "\r\n")
		p.line()
		p.line()
		p.send("QUIT\r\n")
		p.line()
		waitFor(t, func() bool { return !srv.POP3View("bob@example.com").Locked })
		p = pop3Session(t, srv.POP3Addr(), nil, "", "")
		p.send("AUTH PLAIN " + b64("\x00bob@example.com\x00"+pass) + "\r\nQUIT\r\n")
		p.line()
		p.line()
		waitFor(t, func() bool { return !srv.POP3View("bob@example.com").Locked })
		p = pop3Session(t, srv.POP3Addr(), nil, "", "")
		p.send("AUTH PLAIN\r\n")
		p.wantPrefix("+ ")
		p.send(b64("\x00bob@example.com\x00"+pass) + "\r\nQUIT\r\n")
		p.line()
		p.line()
		waitFor(t, func() bool { return !srv.POP3View("bob@example.com").Locked })
		p = pop3Session(t, srv.POP3SAddr(), srv.ClientTLSConfig(), "", "")
		p.send(fmt.Sprintf("APOP bob@example.com %x\r\nQUIT\r\n", pass))
		p.line()
		p.line()
	}
	closeServer(t, srv)
	out := logs.String()
	if !strings.Contains(out, "level=DEBUG") {
		t.Fatalf("no debug logs at all, the check would prove nothing:\n%s", out)
	}
	for _, pass := range []string{right, wrong} {
		for _, secret := range []string{pass, b64(pass), b64("\x00bob@example.com\x00" + pass)} {
			if strings.Contains(out, secret) {
				t.Errorf("logs contain %q:\n%s", secret, out)
			}
		}
	}
}

// TestListenersAreLoopbackOnly: every address is 127.0.0.1, and other
// addresses are refused without WithNonLoopback.
func TestListenersAreLoopbackOnly(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	for _, p := range mailtest.Listeners() {
		addr := srv.Addr(p)
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("%s: %q: %v", p, addr, err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) || port == "0" {
			t.Errorf("%s listens on %q, want 127.0.0.1 and a port", p, addr)
		}
	}
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0", "192.0.2.1:0", "example.com:25"} {
		for _, p := range []mailtest.Listener{mailtest.SMTP, mailtest.IMAPS, mailtest.POP3} {
			s, err := mailtest.New(mailtest.WithAddr(p, addr))
			if err == nil {
				s.Close()
				t.Errorf("New(WithAddr(%s, %q)) started without WithNonLoopback", p, addr)
				continue
			}
			// One "mailtest: " prefix, as the package's other errors have.
			if !errors.Is(err, mailtest.ErrNonLoopback) || !strings.HasPrefix(err.Error(), "mailtest: refusing non-loopback address") ||
				strings.Count(err.Error(), "mailtest: ") != 1 {
				t.Errorf("New(WithAddr(%s, %q)): %v", p, addr, err)
			}
		}
	}
	// With the explicit opt-in it listens where asked.
	s, err := mailtest.New(mailtest.WithAddr(mailtest.SMTP, "0.0.0.0:0"), mailtest.WithNonLoopback(true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ip := net.ParseIP(mustHost(t, s.SMTPAddr())); ip == nil || !ip.IsUnspecified() {
		t.Errorf("SMTP on %q", s.SMTPAddr())
	}
	if !reflect.DeepEqual(net.ParseIP(mustHost(t, s.IMAPAddr())), net.ParseIP("127.0.0.1")) {
		t.Errorf("IMAP on %q, want loopback", s.IMAPAddr())
	}
}

func mustHost(t *testing.T, addr string) string {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host
}
