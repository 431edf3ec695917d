package mailtest_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	netsmtp "net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/mailrig/mailrig/mailtest"
)

func TestSMTPFaults(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.SMTP, Command: "RCPT", Arg: "x@example.com", Times: 2, Reply: "452 4.2.2 Mailbox full"})
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.SMTP, Command: "MAIL", Arg: "spammer@", Reply: "550 5.7.1 Sender rejected"})
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.SMTP, Command: "DATA", Times: 1, Reply: "451 4.3.0 Try again"})

	c := dialSMTP(t, srv.SMTPAddr())
	c.smtp("EHLO client.example", "250")
	c.smtp("MAIL FROM:<spammer@example.com>", "550 5.7.1 Sender rejected")
	c.smtp("MAIL FROM:<a@example.com>", "250")
	c.smtp("RCPT TO:<x@example.com>", "452 4.2.2 Mailbox full")
	c.smtp("RCPT TO:<y@example.com>", "250")
	c.smtp("RCPT TO:<x@example.com>", "452 4.2.2 Mailbox full")
	c.smtp("RCPT TO:<x@example.com>", "250") // the two uses are spent
	c.smtp("DATA", "354")
	c.smtp("Subject: first\r\n\r\nx\r\n.", "451 4.3.0 Try again")
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("a refused DATA stored %d messages", n)
	}
	c.smtp("MAIL FROM:<a@example.com>", "250")
	c.smtp("RCPT TO:<x@example.com>", "250")
	c.smtp("DATA", "354")
	c.smtp("Subject: second\r\n\r\nx\r\n.", "250")
	if got := srv.Messages(); len(got) != 1 || got[0].Subject() != "second" {
		t.Fatalf("stored %v, want only the second", got)
	}
}

// TestSMTPDropAfterData: the server takes the message and hangs up before
// replying, so the client cannot know it was delivered.
func TestSMTPDropAfterData(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.SMTP, Command: "DATA", Times: 1, Drop: true})
	c, err := smtp.Dial(srv.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader("Subject: lost reply\r\n\r\nx\r\n"))
	if err == nil {
		t.Fatal("SendMail succeeded, want a broken connection")
	}
	msg := srv.WaitForMessage(t, mailtest.Subject("lost reply"))
	if msg.Envelope().Rcpts[0] != "b@example.com" {
		t.Errorf("envelope = %+v", msg.Envelope())
	}
}

func TestSMTPDelayAndGreeting(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.SMTP, Command: "MAIL", Times: 1, Delay: 150 * time.Millisecond})
	c := dialSMTP(t, srv.SMTPAddr())
	c.smtp("EHLO client.example", "250")
	start := time.Now()
	c.smtp("MAIL FROM:<a@example.com>", "250")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("MAIL answered after %s, want ≥150ms", d)
	}

	clear := srv.Inject(t, mailtest.Fault{Protocol: mailtest.SMTP, Command: "CONNECT", Reply: "421 4.3.2 Server busy"})
	for _, addr := range []string{srv.SMTPAddr(), srv.SubmissionAddr()} {
		if got := readGreeting(t, addr); got != "421 4.3.2 Server busy" {
			t.Errorf("%s greeting = %q", addr, got)
		}
	}
	clear()
	if got := readGreeting(t, srv.SMTPAddr()); !strings.HasPrefix(got, "220 ") {
		t.Errorf("after clear, greeting = %q", got)
	}
}

func readGreeting(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return strings.TrimRight(line, "\r\n")
}

// TestAddressConvention: the recipient address alone asks for a failure,
// so the dev server (and apps under test) need no code.
func TestAddressConvention(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	c := dialSMTP(t, srv.SMTPAddr())
	c.smtp("EHLO client.example", "250")
	c.smtp("MAIL FROM:<a@example.com>", "250")
	c.smtp("RCPT TO:<fail-rcpt-452@example.com>", "452 4.2.2")
	c.smtp("RCPT TO:<fail-rcpt-550+tag@example.com>", "550 5.1.1")
	c.smtp("RCPT TO:<fail-data-451@example.com>", "250")
	c.smtp("DATA", "354")
	c.smtp("Subject: x\r\n\r\ny\r\n.", "451 4.3.0")
	c.smtp("MAIL FROM:<a@example.com>", "250")
	c.smtp("RCPT TO:<ok@example.com>", "250")
	c.smtp("DATA", "354")
	c.smtp("Subject: fine\r\n\r\ny\r\n.", "250")
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d stored, want 1", n)
	}

	off := mailtest.NewServer(t, mailtest.WithAddressFaults(false))
	c = dialSMTP(t, off.SMTPAddr())
	c.smtp("EHLO client.example", "250")
	c.smtp("MAIL FROM:<a@example.com>", "250")
	c.smtp("RCPT TO:<fail-rcpt-452@example.com>", "250")
}

func TestMaxConnections(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithMaxConnections(1))
	first := dialSMTP(t, srv.SMTPAddr()) // holds the only slot
	if got := readGreeting(t, srv.SMTPAddr()); got != "421 4.7.0 Too many connections, try again later" {
		t.Errorf("second connection greeted %q", got)
	}
	first.smtp("QUIT", "221")
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithRateLimit(2, time.Hour))
	c := dialSMTP(t, srv.SMTPAddr())
	c.smtp("EHLO client.example", "250")
	for range 2 {
		c.smtp("MAIL FROM:<a@example.com>", "250")
		c.smtp("RSET", "250")
	}
	c.smtp("MAIL FROM:<a@example.com>", "451 4.7.1")
}

// TestInjectRejectsMalformedFaults: a malformed Fault fails the test
// through t.Fatal (it never panics), and the server keeps working as if
// nothing had been injected.
func TestInjectRejectsMalformedFaults(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	for _, tc := range []struct {
		f    mailtest.Fault
		want string
	}{
		{mailtest.Fault{Protocol: mailtest.SMTP, Command: "RCPT", Reply: "oops"}, "oops"},
		{mailtest.Fault{Protocol: mailtest.IMAP, Command: "FETCH", Reply: "OK fine"}, "must start with NO, BAD or BYE"},
		{mailtest.Fault{Protocol: mailtest.POP3, Command: "RETR", Reply: "nope"}, "must start with -ERR or +OK"},
		{mailtest.Fault{Protocol: "gopher", Command: "GET"}, `protocol "gopher": want SMTP, IMAP or POP3`},
		{mailtest.Fault{Protocol: mailtest.SMTP}, "no Command"},
		// A listener is not a protocol, even one that speaks SMTP.
		{mailtest.Fault{Protocol: mailtest.SMTPS, Command: "RCPT", Reply: "452 4.2.2 Full"}, `"smtps" is a listener`},
		{mailtest.Fault{Protocol: mailtest.Submission, Command: "RCPT", Reply: "452 4.2.2 Full"}, `"submission" is a listener`},
		{mailtest.Fault{Protocol: mailtest.IMAPS, Command: "FETCH"}, `"imaps" is a listener`},
		{mailtest.Fault{Protocol: mailtest.POP3S, Command: "RETR"}, `"pop3s" is a listener`},
	} {
		rec := &fatalRecorder{TB: t}
		clear := srv.Inject(rec, tc.f)
		if len(rec.fatal) != 1 || !strings.HasPrefix(rec.fatal[0], "mailtest: fault ") || !strings.Contains(rec.fatal[0], tc.want) {
			t.Errorf("Inject(%v) failed the test with %q, want one message containing %q", tc.f, rec.fatal, tc.want)
		}
		clear() // a no-op, but callable
	}
	// None of them was added: mail goes through.
	if err := netsmtp.SendMail(srv.SMTPAddr(), nil, "a@example.com", []string{"b@example.com"}, []byte("Subject: ok\r\n\r\nx\r\n")); err != nil {
		t.Error(err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

// fatalRecorder is a testing.TB whose Fatal records the message and
// returns, so a test can check what would have failed it.
type fatalRecorder struct {
	testing.TB
	fatal []string
}

func (r *fatalRecorder) Helper()           {}
func (r *fatalRecorder) Fatal(args ...any) { r.fatal = append(r.fatal, fmt.Sprint(args...)) }
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.fatal = append(r.fatal, fmt.Sprintf(format, args...))
}

func TestCapabilitySwitches(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t,
		mailtest.WithUser("bob@example.com", "pw"),
		mailtest.WithHiddenSMTPExtensions("STARTTLS", "SMTPUTF8", "AUTH"),
		mailtest.WithHiddenPOP3Capabilities("TOP", "UIDL", "STLS", "SASL"))

	c, err := smtp.Dial(srv.SubmissionAddr())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"STARTTLS", "SMTPUTF8", "AUTH"} {
		if ok, _ := c.Extension(ext); ok {
			t.Errorf("SMTP still advertises %s", ext)
		}
	}
	c.Close()
	s := dialSMTP(t, srv.SubmissionAddr())
	s.smtp("EHLO client.example", "250")
	s.smtp("STARTTLS", "502 5.5.1")
	s.smtp("AUTH PLAIN "+b64("\x00bob@example.com\x00pw"), "502 5.7.0")
	s.smtp("MAIL FROM:<jörg@example.com> SMTPUTF8", "504 5.5.4")

	p := dialPOP3(t, srv.POP3Addr(), nil)
	p.pop3("CAPA", "+OK")
	capa := string(p.pop3Multi())
	for _, hidden := range []string{"TOP", "UIDL", "STLS", "SASL"} {
		if strings.Contains(capa, hidden) {
			t.Errorf("CAPA still lists %s:\n%s", hidden, capa)
		}
	}
	p.pop3("STLS", "-ERR")
	p.pop3("AUTH PLAIN", "-ERR")
	p.pop3Login("bob@example.com", "pw")
	p.pop3("UIDL", "-ERR")
	p.pop3("TOP 1 0", "-ERR")
	p.pop3("STAT", "+OK 0 0")

	if _, err := mailtest.New(mailtest.WithHiddenSMTPExtensions("ENHANCEDSTATUSCODES")); err == nil {
		t.Error("hiding ENHANCEDSTATUSCODES was accepted")
	}
	// Names match case-insensitively; a misspelt one is an error on every
	// protocol, never silently ignored.
	if s, err := mailtest.New(mailtest.WithHiddenIMAPCapabilities("move", "Literal+", "imap4rev2"),
		mailtest.WithHiddenSMTPExtensions("smtputf8"), mailtest.WithHiddenPOP3Capabilities("top")); err != nil {
		t.Error(err)
	} else {
		s.Close()
	}
	for _, opt := range []struct {
		name string
		o    mailtest.Option
	}{
		{`SMTP "8BITMIMES"`, mailtest.WithHiddenSMTPExtensions("8BITMIMES")},
		{`IMAP "MOOVE"`, mailtest.WithHiddenIMAPCapabilities("MOOVE")},
		{`POP3 "UIDLE"`, mailtest.WithHiddenPOP3Capabilities("UIDLE")},
	} {
		s, err := mailtest.New(opt.o)
		if err == nil {
			s.Close()
			t.Errorf("hiding %s was accepted", opt.name)
		} else if !strings.HasPrefix(err.Error(), "mailtest: cannot hide ") {
			t.Errorf("hiding %s: %v", opt.name, err)
		}
	}

	// The extensions go-smtp always advertises: hidden on every listener,
	// before and after STARTTLS, and refused.
	hidden := []string{"PIPELINING", "SIZE", "CHUNKING", "8BITMIME"}
	srv = mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithHiddenSMTPExtensions(hidden...))
	tlsConfig := srv.ClientTLSConfig()
	checkEHLO := func(where string, c *smtp.Client) {
		t.Helper()
		if err := c.Hello("client.example"); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for _, ext := range hidden {
			if ok, _ := c.Extension(ext); ok {
				t.Errorf("%s still advertises %s", where, ext)
			}
		}
		if ok, _ := c.Extension("ENHANCEDSTATUSCODES"); !ok {
			t.Errorf("%s does not advertise ENHANCEDSTATUSCODES", where)
		}
	}
	c, err = smtp.Dial(srv.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	checkEHLO("SMTP", c)
	c.Close()
	c, err = smtp.Dial(srv.SubmissionAddr())
	if err != nil {
		t.Fatal(err)
	}
	checkEHLO("submission before STARTTLS", c)
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("submission does not advertise STARTTLS")
	}
	c.Close()
	c, err = smtp.DialStartTLS(srv.SubmissionAddr(), tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	checkEHLO("submission after STARTTLS", c)
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("submission advertises STARTTLS under TLS")
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		t.Error("submission does not advertise AUTH under TLS")
	}
	c.Close()
	c, err = smtp.DialTLS(srv.SMTPSAddr(), tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	checkEHLO("SMTPS", c)
	c.Close()

	s = dialSMTP(t, srv.SMTPAddr())
	s.smtp("EHLO client.example", "250")
	s.smtp("MAIL FROM:<a@example.com> SIZE=100", "555 5.5.4")
	s.smtp("MAIL FROM:<a@example.com> BODY=8BITMIME", "555 5.5.4")
	s.smtp("MAIL FROM:<a@example.com>", "250")
	s.smtp("RCPT TO:<x@example.com>", "250")
	// go-smtp reads a BDAT's chunk before anything can refuse it.
	fmt.Fprint(s.conn, "BDAT 4 LAST\r\nabcd")
	if got := s.smtpReply(); !strings.HasPrefix(got, "502 5.5.1") {
		t.Errorf("BDAT without CHUNKING: %q", got)
	}
	s.smtp("NOOP", "250")
	s.smtp("RSET", "250")

	// Complete sends still work, through net/smtp and go-smtp's client.
	msg := func(to string) string {
		return "From: a@example.com\r\nTo: " + to + "\r\nSubject: fallback\r\n\r\nHello.\r\n"
	}
	sends := []struct {
		to   string
		tls  bool
		send func(to string) error
	}{
		{"netsmtp-smtp@example.com", false, func(to string) error {
			return netsmtp.SendMail(srv.SMTPAddr(), nil, "a@example.com", []string{to}, []byte(msg(to)))
		}},
		{"netsmtp-submission@example.com", true, func(to string) error {
			c, err := netsmtp.Dial(srv.SubmissionAddr())
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.StartTLS(tlsConfig); err != nil {
				return err
			}
			host, _, _ := net.SplitHostPort(srv.SubmissionAddr())
			if err := c.Auth(netsmtp.PlainAuth("", "bob@example.com", "pw", host)); err != nil {
				return err
			}
			return netsmtpSend(c, to, msg(to))
		}},
		{"netsmtp-smtps@example.com", true, func(to string) error {
			conn, err := tls.Dial("tcp", srv.SMTPSAddr(), tlsConfig)
			if err != nil {
				return err
			}
			c, err := netsmtp.NewClient(conn, "localhost")
			if err != nil {
				conn.Close()
				return err
			}
			defer c.Close()
			return netsmtpSend(c, to, msg(to))
		}},
		{"gosmtp-smtp@example.com", false, func(to string) error {
			c, err := smtp.Dial(srv.SMTPAddr())
			if err != nil {
				return err
			}
			defer c.Close()
			return c.SendMail("a@example.com", []string{to}, strings.NewReader(msg(to)))
		}},
		{"gosmtp-submission@example.com", true, func(to string) error {
			c, err := smtp.DialStartTLS(srv.SubmissionAddr(), tlsConfig)
			if err != nil {
				return err
			}
			defer c.Close()
			return c.SendMail("a@example.com", []string{to}, strings.NewReader(msg(to)))
		}},
		{"gosmtp-smtps@example.com", true, func(to string) error {
			c, err := smtp.DialTLS(srv.SMTPSAddr(), tlsConfig)
			if err != nil {
				return err
			}
			defer c.Close()
			return c.SendMail("a@example.com", []string{to}, strings.NewReader(msg(to)))
		}},
	}
	for _, send := range sends {
		if err := send.send(send.to); err != nil {
			t.Errorf("send to %s: %v", send.to, err)
			continue
		}
		got := srv.Messages(mailtest.To(send.to))
		if len(got) != 1 {
			t.Errorf("%s: %d messages stored", send.to, len(got))
			continue
		}
		if env := got[0].Envelope(); env.TLS != send.tls {
			t.Errorf("%s: envelope TLS %v, want %v", send.to, env.TLS, send.tls)
		}
	}
}

// netsmtpSend sends one message over c and quits.
func netsmtpSend(c *netsmtp.Client, to, msg string) error {
	if err := c.Mail("a@example.com"); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func TestMaxConnectionsIMAPAndPOP3(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithMaxConnections(1))
	for _, tc := range []struct{ addr, want string }{
		{srv.IMAPAddr(), "* BYE [UNAVAILABLE] Too many connections, try again later"},
		{srv.POP3Addr(), "-ERR [SYS/TEMP] too many connections, try again later"},
	} {
		first, err := net.Dial("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		bufio.NewReader(first).ReadString('\n') // the slot is taken once greeted
		if got := readGreeting(t, tc.addr); got != tc.want {
			t.Errorf("%s: second connection greeted %q, want %q", tc.addr, got, tc.want)
		}
		first.Close()
	}
}

// TestFailedLoginDelay: every protocol waits before it answers a wrong
// password, and only then.
func TestFailedLoginDelay(t *testing.T) {
	t.Parallel()
	const delay = 150 * time.Millisecond
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithFailedLoginDelay(delay))
	timed := func(name string, f func()) time.Duration {
		start := time.Now()
		f()
		return time.Since(start)
	}
	s := dialSMTP(t, srv.SMTPAddr())
	s.smtp("EHLO client.example", "250")
	p := dialPOP3(t, srv.POP3Addr(), nil)
	p.pop3("USER bob@example.com", "+OK")
	checks := map[string]func(){
		"SMTP": func() { s.smtp("AUTH PLAIN "+b64("\x00bob@example.com\x00wrong"), "535 5.7.8") },
		"POP3": func() { p.pop3("PASS wrong", "-ERR [AUTH]") },
		"IMAP": func() {
			c, err := imapclient.DialInsecure(srv.IMAPAddr(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Login("bob@example.com", "wrong").Wait(); err == nil {
				t.Error("IMAP login with a wrong password succeeded")
			}
		},
	}
	for name, f := range checks {
		if d := timed(name, f); d < delay {
			t.Errorf("%s answered a wrong password after %s, want ≥ %s", name, d, delay)
		}
	}
	s.smtp("AUTH PLAIN "+b64("\x00bob@example.com\x00pw"), "235 2.0.0")
}
