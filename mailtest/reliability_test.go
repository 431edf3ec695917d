package mailtest_test

// Reliability: bad input on every protocol, clients that vanish or stall,
// and SMTP smuggling. Each test checks the exact reply, that the session
// survives or is closed cleanly, that nothing was stored half-way, and that
// the server still serves a good transaction afterwards.

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailrig/mailrig/mailtest"
)

// goodSMTP sends one complete message and returns after its 250.
func goodSMTP(t *testing.T, addr, rcpt, subject string) {
	t.Helper()
	sendRaw(t, addr, "a@example.com", []string{rcpt}, "Subject: "+subject+"\r\n\r\nfine")
}

// closeServer closes srv and fails if Close does not return in time. After
// it, every session goroutine has ended, so the store's state is final.
func closeServer(t *testing.T, srv *mailtest.Server) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s")
	}
}

// subjects lists the subjects of the received messages, in order.
func subjects(srv *mailtest.Server) []string {
	var out []string
	for _, m := range srv.Messages() {
		out = append(out, m.Subject())
	}
	return out
}

func wantSubjects(t *testing.T, srv *mailtest.Server, want ...string) {
	t.Helper()
	if got := subjects(srv); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("received %q, want %q", got, want)
	}
}

func inboxLen(srv *mailtest.Server, user string) int {
	mb, _ := srv.IMAPView(user).Mailbox("INBOX")
	return len(mb.Messages)
}

// --- over-long lines and oversized messages ---

func TestSMTPOverlongCommandLine(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	c := smtpSession(t, srv.SMTPAddr(), nil)
	c.send("MAIL FROM:<a@example.com>\r\n")
	c.want("250 2.0.0 Roger, accepting mail from <a@example.com>")
	c.send("RCPT TO:<" + strings.Repeat("x", 3000) + "@example.com>\r\n")
	c.want("500 5.4.0 Too long line, closing connection")
	c.closedByServer(5 * time.Second)

	// A long line inside DATA is refused the same way and nothing is kept.
	c = smtpSession(t, srv.SMTPAddr(), nil)
	c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
	c.wantPrefix("250 ")
	c.wantPrefix("250 ")
	c.wantPrefix("354 ")
	c.send("Subject: long\r\n\r\n" + strings.Repeat("y", 3000) + "\r\n.\r\n")
	c.want("554 5.0.0 Error: transaction failed: smtpfront: reading DATA: smtp: too long a line in input stream")
	c.want("500 5.4.0 Too long line, closing connection")
	c.closedByServer(5 * time.Second)

	goodSMTP(t, srv.SMTPAddr(), "b@example.com", "after")
	wantSubjects(t, srv, "after")
}

func TestSMTPOversizeDataAndBDAT(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithMaxMessageBytes(300), mailtest.WithTraceHeaders(false))
	c := smtpSession(t, srv.SMTPAddr(), nil)
	big := "Subject: big\r\n\r\n" + strings.Repeat("z", 400) + "\r\n"

	c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
	c.wantPrefix("250 ")
	c.wantPrefix("250 ")
	c.wantPrefix("354 ")
	c.send(big + ".\r\n")
	c.want("552 5.3.4 Maximum message size exceeded")

	// BDAT in one chunk over the limit.
	c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n")
	c.wantPrefix("250 ")
	c.wantPrefix("250 ")
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(big), big))
	c.want("552 5.3.4 Max message size exceeded")

	// BDAT whose second chunk crosses the limit: the first chunk is dropped too.
	c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n")
	c.wantPrefix("250 ")
	c.wantPrefix("250 ")
	c.send(fmt.Sprintf("BDAT %d\r\n%s", 200, big[:200]))
	c.want("250 2.0.0 Continue")
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(big)-200, big[200:]))
	c.want("552 5.3.4 Max message size exceeded")
	// The transaction was reset: BDAT now needs a new MAIL.
	c.send("BDAT 3 LAST\r\nabc")
	c.want("503 5.5.1 Bad sequence of commands")

	// The session survives: a small message in two chunks goes through.
	c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n")
	c.wantPrefix("250 ")
	c.wantPrefix("250 ")
	small := "Subject: small\r\n\r\nok\r\n"
	c.send(fmt.Sprintf("BDAT 5\r\n%sBDAT %d LAST\r\n%s", small[:5], len(small)-5, small[5:]))
	c.want("250 2.0.0 Continue")
	c.want("250 2.0.0 OK: queued")
	wantSubjects(t, srv, "small")
	if got := string(srv.Messages()[0].Raw()); got != small {
		t.Errorf("stored %q, want %q", got, small)
	}
	if n := inboxLen(srv, "b@example.com"); n != 1 {
		t.Errorf("INBOX holds %d, want 1", n)
	}
}

func TestIMAPOverlongCommandAndLiteral(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithMaxMessageBytes(1000))

	// A command line beyond go-imap's 50 KiB limit: the server hangs up
	// rather than buffer it.
	c := imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
	c.send("A1 SELECT " + strings.Repeat("x", 60<<10) + "\r\n")
	c.closedByServer(5 * time.Second)

	// A literal over the APPEND limit is refused before it is sent.
	c = imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
	c.send("A2 APPEND INBOX {5000}\r\n")
	c.want("A2 NO [TOOBIG] Literals are limited to 1000 bytes for this command")
	// The session survives.
	msg := "Subject: fits\r\n\r\nx\r\n"
	c.send(fmt.Sprintf("A3 APPEND INBOX {%d}\r\n", len(msg)))
	c.wantPrefix("+ ")
	c.send(msg + "\r\n")
	c.want("A3 OK [APPENDUID 1 1] APPEND completed")

	// A non-synchronizing literal over the limit: the client sends it
	// anyway, so the server must not read it as commands.
	c.send("A4 APPEND INBOX {5000+}\r\n" + strings.Repeat("A5 LOGOUT\r\n", 5000/11) + "\r\n")
	_, tagged := c.imapResult("A4")
	if !strings.HasPrefix(tagged, "A4 NO [TOOBIG]") && !strings.HasPrefix(tagged, "A4 BAD") {
		t.Fatalf("oversize LITERAL+ APPEND: %q", tagged)
	}
	c.closedByServer(5 * time.Second)

	mb, _ := srv.IMAPView("bob@example.com").Mailbox("INBOX")
	if len(mb.Messages) != 1 || mb.Messages[0].Message.Subject() != "fits" {
		t.Fatalf("INBOX = %+v, want only the message that fits", mb.Messages)
	}
	// Others are still served.
	c = imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
	c.imap("B1", "SELECT INBOX")
	if _, tagged := c.imap("B2", "NOOP"); tagged != "B2 OK NOOP completed" {
		t.Fatalf("NOOP: %q", tagged)
	}
}

func TestPOP3OverlongCommandLine(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: "keep", Text: "x"})
	c := pop3Session(t, srv.POP3Addr(), nil, "", "")
	c.send("USER " + strings.Repeat("b", 251) + "\r\n") // 256 octets
	c.want("-ERR command line too long")
	c.send("USER " + strings.Repeat("b", 10000) + "\r\n")
	c.want("-ERR command line too long")
	// The session survives; PASS after a refused USER is refused.
	c.send("PASS pw\r\n")
	c.wantPrefix("-ERR")
	c.send("USER bob@example.com\r\nPASS pw\r\nSTAT\r\n")
	c.wantPrefix("+OK")
	c.wantPrefix("+OK")
	c.want(fmt.Sprintf("+OK 1 %d", srv.POP3View("bob@example.com").Size()))
	c.send("QUIT\r\n")
	c.wantPrefix("+OK")
	if n := inboxLen(srv, "bob@example.com"); n != 1 {
		t.Fatalf("INBOX holds %d, want 1", n)
	}
}

func TestIMAPAppendTooBigStoresNothing(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithMaxMessageBytes(100))
	c := imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
	c.send("A1 APPEND Drafts {101}\r\n")
	c.want("A1 NO [TOOBIG] Literals are limited to 100 bytes for this command")
	c.send("A2 APPEND Drafts {100}\r\n")
	c.wantPrefix("+ ")
	c.send(strings.Repeat("x", 100) + "\r\n")
	c.wantPrefix("A2 OK [APPENDUID ")
	for _, mb := range srv.IMAPView("bob@example.com").Mailboxes {
		if want := map[bool]int{true: 1, false: 0}[mb.Name == "Drafts"]; len(mb.Messages) != want {
			t.Errorf("%s holds %d, want %d", mb.Name, len(mb.Messages), want)
		}
	}
}

// --- NUL bytes, binary garbage, invalid UTF-8 ---

func TestSMTPGarbageCommands(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	c := smtpSession(t, srv.SMTPAddr(), nil)
	for _, tc := range []struct{ line, want string }{
		{"MA\x00IL FROM:<a@example.com>", "501 5.5.2 Bad command"},
		{"\xff\xfe\x00\x01\x02", "501 5.5.2 Bad command"},
		{"MAIL FROM:<\xc3\x28@example.com>", "501 5.5.2 Was expecting MAIL arg syntax of FROM:<address>"},
		{"MAIL FROM:<a@example.com>", "250 2.0.0 Roger, accepting mail from <a@example.com>"},
		{"RCPT TO:<b\x00@example.com>", "501 5.1.3 Bad recipient address syntax"},
		{"RCPT TO:<b\x1b@example.com>", "501 5.1.3 Bad recipient address syntax"},
		{"RCPT TO:<\xc3\x28@example.com>", "501 5.5.2 Was expecting RCPT arg syntax of TO:<address>"},
		{"DATA \x00", "501 5.5.4 DATA command should not have any arguments"},
		{"RSET", "250 2.0.0 Session reset"},
		{"MAIL FROM:<a\x00@example.com>", "501 5.1.7 Bad sender address syntax"},
	} {
		c.send(tc.line + "\r\n")
		if got := c.smtpReply(); got != tc.want {
			t.Errorf("%q: reply %q, want %q", tc.line, got, tc.want)
		}
	}
	c.send("RSET\r\n")
	c.want("250 2.0.0 Session reset")
	wantSubjects(t, srv)
	goodSMTP(t, srv.SMTPAddr(), "b@example.com", "after garbage")
	wantSubjects(t, srv, "after garbage")
}

func TestIMAPGarbageCommands(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	c := imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
	for _, tc := range []struct{ tag, cmd, want string }{
		{"G1", "SELECT IN\x00BOX", "G1 BAD"},
		{"G2", "SELECT \"\xc3\x28\"", "G2 NO"},
		// go-imap fails to decode these itself and answers them as its own
		// bug (upstream); the session survives and nothing changes.
		{"G3", "CREATE \"a\x01b\"", "G3 NO [SERVERBUG] Internal server error"},
		{"G4", "FETCH \xff\xfe 1", "G4 NO [SERVERBUG] Internal server error"},
		{"G5", "NOSUCHCOMMAND \x00\x00", "G5 BAD Unknown command"},
	} {
		_, tagged := c.imap(tc.tag, tc.cmd)
		if !strings.HasPrefix(tagged, tc.want) {
			t.Errorf("%q: %q, want %q…", tc.cmd, tagged, tc.want)
		}
	}
	if _, tagged := c.imap("G6", "NOOP"); tagged != "G6 OK NOOP completed" {
		t.Fatalf("session did not survive: %q", tagged)
	}
	// Binary garbage instead of a tag ends the connection.
	c.send("\x00\xff\x16\x03\x01 garbage\r\n")
	c.closedByServer(5 * time.Second)
	// Before login, an unknown command is answered BAD and the server says BYE.
	c = imapSession(t, srv.IMAPAddr(), nil, "", "")
	c.send("X1 \xc3\x28\x00\r\n")
	if rest := c.closedByServer(5 * time.Second); !strings.Contains(rest, "X1 BAD") {
		t.Errorf("unauthenticated garbage answered %q", rest)
	}
	for _, mb := range srv.IMAPView("bob@example.com").Mailboxes {
		if len(mb.Messages) != 0 {
			t.Errorf("%s holds %d messages", mb.Name, len(mb.Messages))
		}
	}
	if names := srv.IMAPView("bob@example.com").Names(); len(names) != 6 {
		t.Errorf("mailboxes %q: garbage created some", names)
	}
	c = imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
	if _, tagged := c.imap("H1", "SELECT INBOX"); !strings.HasPrefix(tagged, "H1 OK [READ-WRITE]") {
		t.Fatalf("SELECT after garbage: %q", tagged)
	}
}

func TestPOP3GarbageCommands(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: "keep", Text: "x"})
	c := pop3Session(t, srv.POP3Addr(), nil, "bob@example.com", "pw")
	for _, tc := range []struct{ line, want string }{
		{"DE\x00LE 1", "-ERR invalid command: control character in command line"},
		{"DELE \xc3\x28", "-ERR invalid command: command line is not valid UTF-8"},
		{"\xff\xfe\x01", "-ERR invalid command: command line is not valid UTF-8"},
		{"D3LE 1", "-ERR invalid command: invalid command keyword"},
		{"DELE 1\x00", "-ERR invalid command: control character in command line"},
	} {
		c.send(tc.line + "\r\n")
		if got := c.line(); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.line, got, tc.want)
		}
	}
	c.send("QUIT\r\n")
	c.wantPrefix("+OK")
	if n := inboxLen(srv, "bob@example.com"); n != 1 {
		t.Fatalf("garbage deleted mail: INBOX holds %d", n)
	}
	// Enough bad commands end the session.
	c = pop3Session(t, srv.POP3Addr(), nil, "", "")
	c.send(strings.Repeat("\x00\r\n", 10))
	if rest := c.closedByServer(5 * time.Second); !strings.HasSuffix(rest, "-ERR too many bad commands\r\n") {
		t.Errorf("after 10 bad commands: %q", rest)
	}
	c = pop3Session(t, srv.POP3Addr(), nil, "bob@example.com", "pw")
	c.send("STAT\r\n")
	c.wantPrefix("+OK 1 ")
}

// --- TLS where plain text is expected, and the reverse ---

func TestTLSClientHelloToPlainPorts(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	for _, p := range []mailtest.Listener{mailtest.SMTP, mailtest.Submission, mailtest.IMAP, mailtest.POP3} {
		conn, err := net.DialTimeout("tcp", srv.Addr(p), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Client(conn, srv.ClientTLSConfig())
		// The client sends its ClientHello and reads the plain greeting as a
		// TLS record: the handshake must fail fast, not hang.
		if err := tc.Handshake(); err == nil {
			t.Errorf("%s: TLS handshake succeeded on a plain port", p)
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: handshake hung: %v", p, err)
		}
		conn.Close()
	}
	// Every plain port still serves.
	goodSMTP(t, srv.SMTPAddr(), "bob@example.com", "after hello")
	c := imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
	if _, tagged := c.imap("A1", "SELECT INBOX"); !strings.HasPrefix(tagged, "A1 OK") {
		t.Fatal(tagged)
	}
	p := pop3Session(t, srv.POP3Addr(), nil, "bob@example.com", "pw")
	p.send("STAT\r\n")
	p.wantPrefix("+OK 1 ")
	wantSubjects(t, srv, "after hello")
}

// TestClientHelloBytesToPlainPorts sends a ClientHello and waits: the server
// answers the binary as a bad command or hangs up, and never stores a thing.
func TestClientHelloBytesToPlainPorts(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithTimeouts(300*time.Millisecond, 300*time.Millisecond))
	hello := clientHello(t)
	for _, p := range []mailtest.Listener{mailtest.SMTP, mailtest.Submission, mailtest.IMAP, mailtest.POP3} {
		c := dialRaw(t, srv.Addr(p), nil)
		c.line() // greeting
		c.send(string(hello))
		c.closedByServer(5 * time.Second)
	}
	wantSubjects(t, srv)
	goodSMTP(t, srv.SMTPAddr(), "bob@example.com", "fine")
}

// clientHello captures the bytes a TLS client sends first.
func clientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		tls.Client(a, &tls.Config{ServerName: "localhost"}).Handshake()
	}()
	buf := make([]byte, 4096)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestPlainTextToTLSPorts(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	for _, tc := range []struct {
		p    mailtest.Listener
		line string
	}{
		{mailtest.SMTPS, "EHLO client.example\r\n"},
		{mailtest.IMAPS, "A1 LOGIN bob@example.com pw\r\n"},
		{mailtest.POP3S, "USER bob@example.com\r\n"},
	} {
		c := dialRaw(t, srv.Addr(tc.p), nil)
		c.send(tc.line)
		rest := c.closedByServer(5 * time.Second)
		if strings.Contains(rest, "OK") || strings.Contains(rest, "220") {
			t.Errorf("%s answered plain text in plain text: %q", tc.p, rest)
		}
	}
	// The TLS ports still serve.
	c := smtpSession(t, srv.SMTPSAddr(), srv.ClientTLSConfig())
	c.send("QUIT\r\n")
	c.wantPrefix("221 ")
	i := imapSession(t, srv.IMAPSAddr(), srv.ClientTLSConfig(), "bob@example.com", "pw")
	if _, tagged := i.imap("A1", "SELECT INBOX"); !strings.HasPrefix(tagged, "A1 OK") {
		t.Fatal(tagged)
	}
	p := pop3Session(t, srv.POP3SAddr(), srv.ClientTLSConfig(), "bob@example.com", "pw")
	p.send("STAT\r\n")
	p.want("+OK 0 0")
}

// --- clients that vanish ---

// TestVanishingClients leaves sessions in the middle of every kind of
// command, then closes the server: Close returns (goleak checks the
// goroutines) and nothing partial was stored or deleted.
func TestVanishingClients(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithTraceHeaders(false))
	srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: "one", Text: strings.Repeat("line of text\n", 20000)})
	srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: "two", Text: "x"})
	before := srv.IMAPView("bob@example.com")

	type vanish struct {
		name string
		run  func(t *testing.T) *rawConn // leaves the connection mid-command
	}
	halfClose := func(c *rawConn) { c.conn.(*net.TCPConn).CloseWrite() }
	cases := []vanish{
		{"smtp mid-command", func(t *testing.T) *rawConn {
			c := smtpSession(t, srv.SMTPAddr(), nil)
			c.send("MAIL FROM:<a@exa")
			return c
		}},
		{"smtp mid-DATA", func(t *testing.T) *rawConn {
			c := smtpInTransaction(t, srv.SMTPAddr())
			c.send("DATA\r\n")
			c.wantPrefix("354 ")
			c.send("Subject: partial data\r\n\r\nhalf")
			return c
		}},
		{"smtp mid-DATA half-close", func(t *testing.T) *rawConn {
			c := smtpInTransaction(t, srv.SMTPAddr())
			c.send("DATA\r\n")
			c.wantPrefix("354 ")
			c.send("Subject: partial data half-closed\r\n\r\nhalf\r\n")
			halfClose(c)
			c.closedByServer(5 * time.Second)
			return c
		}},
		{"smtp mid-BDAT chunk", func(t *testing.T) *rawConn {
			c := smtpInTransaction(t, srv.SMTPAddr())
			c.send("BDAT 1000\r\nSubject: partial bdat\r\n\r\nhalf")
			return c
		}},
		{"smtp mid-BDAT LAST chunk", func(t *testing.T) *rawConn {
			c := smtpInTransaction(t, srv.SMTPAddr())
			c.send("BDAT 1000 LAST\r\nSubject: partial bdat last\r\n\r\nhalf")
			return c
		}},
		{"smtp mid-BDAT LAST chunk half-close", func(t *testing.T) *rawConn {
			c := smtpInTransaction(t, srv.SMTPAddr())
			c.send("BDAT 1000 LAST\r\nSubject: partial bdat half-closed\r\n\r\nhalf")
			halfClose(c)
			c.closedByServer(5 * time.Second)
			return c
		}},
		{"smtp between BDAT chunks", func(t *testing.T) *rawConn {
			c := smtpInTransaction(t, srv.SMTPAddr())
			c.send("BDAT 26\r\nSubject: partial bdat 2\r\n\r\n")
			c.want("250 2.0.0 Continue")
			return c
		}},
		{"imap mid-command", func(t *testing.T) *rawConn {
			c := imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
			c.send("A1 SELE")
			return c
		}},
		{"imap mid-literal", func(t *testing.T) *rawConn {
			c := imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
			c.send("A1 APPEND INBOX {100}\r\n")
			c.wantPrefix("+ ")
			c.send("Subject: partial append\r\n\r\nhalf")
			return c
		}},
		{"imap mid-literal half-close", func(t *testing.T) *rawConn {
			c := imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
			c.send("A1 APPEND INBOX {100}\r\n")
			c.wantPrefix("+ ")
			c.send("Subject: partial append half-closed\r\n\r\nhalf")
			halfClose(c)
			c.closedByServer(5 * time.Second)
			return c
		}},
		{"imap mid-LITERAL+", func(t *testing.T) *rawConn {
			c := imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
			c.send("A1 APPEND INBOX {100+}\r\nSubject: partial literal+\r\n\r\nhalf")
			return c
		}},
		{"imap mid-IDLE", func(t *testing.T) *rawConn {
			c := imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
			c.imap("A1", "SELECT INBOX")
			c.send("A2 IDLE\r\n")
			c.wantPrefix("+ ")
			return c
		}},
		{"imap mid-IDLE half-close", func(t *testing.T) *rawConn {
			c := imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
			c.imap("A1", "SELECT INBOX")
			c.send("A2 IDLE\r\n")
			c.wantPrefix("+ ")
			halfClose(c)
			c.closedByServer(5 * time.Second)
			return c
		}},
		{"imap mid-FETCH response", func(t *testing.T) *rawConn {
			c := imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
			c.imap("A1", "EXAMINE INBOX")
			c.send("A2 FETCH 1:* BODY.PEEK[]\r\n")
			c.line()
			return c
		}},
		{"pop3 mid-command", func(t *testing.T) *rawConn {
			c := pop3Session(t, srv.POP3Addr(), nil, "", "")
			c.send("USER bob@exa")
			return c
		}},
		{"pop3 mid-RETR after DELE", func(t *testing.T) *rawConn {
			c := pop3Session(t, srv.POP3Addr(), nil, "bob@example.com", "pw")
			c.send("DELE 2\r\n")
			c.wantPrefix("+OK")
			c.send("RETR 1\r\n")
			c.wantPrefix("+OK")
			c.line()
			return c
		}},
		{"pop3 half-close after DELE", func(t *testing.T) *rawConn {
			c := pop3Session(t, srv.POP3SAddr(), srv.ClientTLSConfig(), "bob@example.com", "pw")
			c.send("DELE 1\r\n")
			c.wantPrefix("+OK")
			c.conn.(*tls.Conn).CloseWrite()
			c.closedByServer(5 * time.Second)
			return c
		}},
	}
	for _, tc := range cases {
		func() {
			// POP3 cases share bob's maildrop: wait for the previous
			// session to let it go.
			waitFor(t, func() bool { return !srv.POP3View("bob@example.com").Locked })
			c := tc.run(t)
			c.conn.Close()
		}()
	}
	// The server still serves while the vanished sessions wind down.
	goodSMTP(t, srv.SMTPAddr(), "bob@example.com", "three")
	closeServer(t, srv)

	wantSubjects(t, srv, "one", "two", "three")
	after := srv.IMAPView("bob@example.com")
	mb, _ := after.Mailbox("INBOX")
	var got []string
	for _, m := range mb.Messages {
		got = append(got, m.Message.Subject())
	}
	if strings.Join(got, "|") != "one|two|three" {
		t.Errorf("INBOX holds %q, want one, two, three", got)
	}
	if strings.Join(after.Names(), "|") != strings.Join(before.Names(), "|") {
		t.Errorf("mailboxes changed: %q -> %q", before.Names(), after.Names())
	}
}

// --- slow clients ---

// TestSlowClientsAreDisconnected: with small timeouts, a client that sends
// half a line and stops, or nothing at all, is disconnected by the server.
func TestSlowClientsAreDisconnected(t *testing.T) {
	t.Parallel()
	const read, idle = 200 * time.Millisecond, 300 * time.Millisecond
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithTimeouts(read, idle))
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) *rawConn
		want  string // last words of the server, if any
	}{
		{"smtp half line", func(t *testing.T) *rawConn {
			c := smtpSession(t, srv.SMTPAddr(), nil)
			c.send("MAIL FROM:<a@exa")
			return c
		}, "421 4.4.2 Idle timeout, bye bye\r\n"},
		{"smtp mid-DATA", func(t *testing.T) *rawConn {
			c := smtpInTransaction(t, srv.SMTPAddr())
			c.send("DATA\r\n")
			c.wantPrefix("354 ")
			c.send("Subject: slow\r\n\r\nhal")
			return c
		}, ""},
		{"smtps silent", func(t *testing.T) *rawConn {
			c := smtpSession(t, srv.SMTPSAddr(), srv.ClientTLSConfig())
			return c
		}, "421 4.4.2 Idle timeout, bye bye\r\n"},
		{"pop3 half line", func(t *testing.T) *rawConn {
			c := pop3Session(t, srv.POP3Addr(), nil, "", "")
			c.send("USER bo")
			return c
		}, "-ERR [SYS/TEMP] timeout reading command\r\n"},
		{"pop3 idle", func(t *testing.T) *rawConn {
			return pop3Session(t, srv.POP3SAddr(), srv.ClientTLSConfig(), "bob@example.com", "pw")
		}, "-ERR [SYS/TEMP] autologout: idle for too long\r\n"},
		{"imap half line", func(t *testing.T) *rawConn {
			c := imapSession(t, srv.IMAPAddr(), nil, "", "")
			c.send("A1 LOG")
			return c
		}, ""},
		{"imap idle after login", func(t *testing.T) *rawConn {
			return imapSession(t, srv.IMAPSAddr(), srv.ClientTLSConfig(), "bob@example.com", "pw")
		}, ""},
		{"imap mid-literal", func(t *testing.T) *rawConn {
			c := imapSession(t, srv.IMAPAddr(), nil, "bob@example.com", "pw")
			c.send("A1 APPEND INBOX {100}\r\n")
			c.wantPrefix("+ ")
			c.send("Subject: slow")
			return c
		}, ""},
		{"imaps handshake never started", func(t *testing.T) *rawConn {
			return dialRaw(t, srv.IMAPSAddr(), nil)
		}, ""},
		{"smtps handshake never started", func(t *testing.T) *rawConn {
			return dialRaw(t, srv.SMTPSAddr(), nil)
		}, ""},
		{"pop3s handshake never started", func(t *testing.T) *rawConn {
			return dialRaw(t, srv.POP3SAddr(), nil)
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.start(t)
			start := time.Now()
			rest := c.closedByServer(5 * time.Second)
			if d := time.Since(start); d < read/2 {
				t.Errorf("closed after %s, before the timeout", d)
			}
			if tc.want != "" && !strings.HasSuffix(rest, tc.want) {
				t.Errorf("last words %q, want %q", rest, tc.want)
			}
		})
	}
}

// --- SMTP smuggling ---

// TestSMTPSmuggling: bare-LF and bare-CR variants of the end-of-data marker
// never end a message, so the commands after them are message text.
func TestSMTPSmuggling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, marker string
		want         string // what the stored message holds for the marker
		knownBug     string
	}{
		{"LF dot LF", "\n.\n", "\r\n.\r\n", ""},
		{"LF dot CRLF", "\n.\r\n", "\r\n.\r\n", ""},
		{"CR dot CR", "\r.\r", "\r\n.\r\n", ""},
		// After a CRLF the dot starts a line and is unstuffed (RFC 5321
		// §4.5.2); the bare LF after it is a line end.
		{"CRLF dot LF", "\r\n.\n", "\r\n\r\n", ""},
		{"CR dot LF", "\r.\n", "\r\n.\r\n", ""},
		{"CRLF dot CR", "\r\n.\r", "\r\n\r\n",
			"go-smtp's dataReader drops the CR after an unstuffed dot (stateDotCR), where net/textproto emits it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := mailtest.NewServer(t, mailtest.WithTraceHeaders(false))
			smuggled := "MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nowned\r\n"
			payload := "Subject: outer\r\n\r\nhello" + tc.marker + smuggled
			c := smtpSession(t, srv.SMTPAddr(), nil)
			c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
			c.wantPrefix("250 ")
			c.wantPrefix("250 ")
			c.wantPrefix("354 ")
			c.send(payload + ".\r\n")
			c.want("250 2.0.0 OK: queued")
			c.send("QUIT\r\n")
			c.wantPrefix("221 ")
			c.closedByServer(5 * time.Second)

			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages stored, want 1: %q", len(msgs), subjects(srv))
			}
			if env := msgs[0].Envelope(); env.MailFrom != "a@example.com" || len(env.Rcpts) != 1 || env.Rcpts[0] != "b@example.com" {
				t.Errorf("envelope %+v", env)
			}
			if v := srv.IMAPView("victim@example.com"); v.Exists {
				t.Errorf("the smuggled recipient got a mailbox: %+v", v)
			}
			want := "Subject: outer\r\n\r\nhello" + tc.want + smuggled
			if got := string(msgs[0].Raw()); got != want {
				if tc.knownBug != "" && !t.Failed() {
					t.Skipf("known bug: %s: stored %q, want %q", tc.knownBug, got, want)
				}
				t.Errorf("stored\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestSMTPSmugglingBDAT: inside a BDAT chunk nothing ends the message but
// the chunk size, whatever dots and line ends it holds.
func TestSMTPSmugglingBDAT(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithTraceHeaders(false))
	payload := "Subject: outer\r\n\r\nhello\r\n.\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
	c := smtpSession(t, srv.SMTPAddr(), nil)
	c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n")
	c.wantPrefix("250 ")
	c.wantPrefix("250 ")
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(payload), payload))
	c.want("250 2.0.0 OK: queued")
	msgs := srv.Messages()
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Raw(), []byte(payload)) {
		t.Fatalf("stored %q", subjects(srv))
	}
	if srv.IMAPView("victim@example.com").Exists {
		t.Error("the smuggled recipient got a mailbox")
	}
}

// TestSMTPDataCRCR: a bare CR right before a line's CRLF ("x\r\r\n") must
// not hide the end-of-data marker that follows.
func TestSMTPDataCRCR(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithTraceHeaders(false))
	c := smtpSession(t, srv.SMTPAddr(), nil)
	c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
	c.wantPrefix("250 ")
	c.wantPrefix("250 ")
	c.wantPrefix("354 ")
	c.send("Subject: cr\r\n\r\nline\r\r\n.\r\n")
	c.conn.SetReadDeadline(time.Now().Add(time.Second))
	l, err := c.r.ReadString('\n')
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Skip(`known bug: go-smtp v0.25.1 dataReader: in stateCR a second '\r' moves to stateData ` +
			`(net/textproto re-reads it), so after "\r\r\n" the ".\r\n" end marker and dot-stuffing are not seen; the client hangs`)
	}
	if l != "250 2.0.0 OK: queued\r\n" {
		t.Fatalf("end of DATA: %q %v", l, err)
	}
	if got := string(srv.Messages()[0].Raw()); got != "Subject: cr\r\n\r\nline\r\n\r\n" {
		t.Errorf("stored %q", got)
	}
}

// smtpInTransaction returns an SMTP session that has sent MAIL FROM and
// RCPT TO for bob@example.com and read both replies.
func smtpInTransaction(t *testing.T, addr string) *rawConn {
	t.Helper()
	c := smtpSession(t, addr, nil)
	c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<bob@example.com>\r\n")
	c.smtpReply()
	c.smtpReply()
	return c
}

// waitFor polls cond until it holds or 5 seconds pass. It is only for
// states no event announces, such as a POP3 session noticing that its
// client vanished and letting go of the maildrop; mail is always waited
// for on store events.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
