package mailtest_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	netsmtp "net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/mailrig/mailrig/mailtest"
	"github.com/mailrig/mailrig/memstore"
)

const plainMessage = "From: Alice <alice@example.com>\r\n" +
	"To: Bob <bob@example.com>\r\n" +
	"Subject: Hello\r\n" +
	"Message-ID: <hello-1@example.com>\r\n" +
	"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n" +
	"\r\n" +
	"Hi Bob,\r\n" +
	".leading dot\r\n" +
	"bye\r\n"

// TestNetSMTPSendMailWorksUnchanged is the first thing every user does:
// point net/smtp.SendMail at SMTPAddr with no configuration.
func TestNetSMTPSendMailWorksUnchanged(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	err := netsmtp.SendMail(srv.SMTPAddr(), nil, "alice@example.com",
		[]string{"bob@example.com", "carol@example.com"}, []byte(plainMessage))
	if err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	msg := srv.WaitForMessage(t, mailtest.To("bob@example.com"))
	if got := msg.Subject(); got != "Hello" {
		t.Errorf("Subject = %q, want Hello", got)
	}
	env := msg.Envelope()
	if env.MailFrom != "alice@example.com" {
		t.Errorf("MailFrom = %q", env.MailFrom)
	}
	if want := []string{"bob@example.com", "carol@example.com"}; strings.Join(env.Rcpts, ",") != strings.Join(want, ",") {
		t.Errorf("Rcpts = %v, want %v (carol is a Bcc: in the envelope, not the header)", env.Rcpts, want)
	}
	if env.TLS || env.AuthUser != "" {
		t.Errorf("TLS=%v AuthUser=%q, want plain and anonymous", env.TLS, env.AuthUser)
	}
	if got := msg.To(); len(got) != 1 || got[0] != "bob@example.com" {
		t.Errorf("To() = %v", got)
	}
	if !strings.Contains(msg.Text(), ".leading dot") {
		t.Errorf("dot-stuffed line not restored: %q", msg.Text())
	}
	// One transaction is one message, filed once in each recipient's INBOX.
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("Messages() = %d, want 1", n)
	}
	for _, rcpt := range []string{"bob@example.com", "carol@example.com"} {
		inbox, _ := srv.IMAPView(rcpt).Mailbox("INBOX")
		if len(inbox.Messages) != 1 || inbox.Messages[0].UID != 1 {
			t.Errorf("%s INBOX = %+v, want one message with UID 1", rcpt, inbox.Messages)
		}
	}
}

// TestStoredBytes checks the documented rule: the stored bytes are the DATA
// payload normalised to CRLF, after the trace headers the server prepends.
func TestStoredBytes(t *testing.T) {
	t.Parallel()
	payload := "Subject: bare\nFrom: a@example.com\n\nline one\nline two\rline three"
	want := "Subject: bare\r\nFrom: a@example.com\r\n\r\nline one\r\nline two\r\nline three\r\n"

	t.Run("without trace headers", func(t *testing.T) {
		t.Parallel()
		srv := mailtest.NewServer(t, mailtest.WithTraceHeaders(false))
		sendRaw(t, srv.SMTPAddr(), "a@example.com", []string{"b@example.com"}, payload)
		msg := srv.WaitForMessage(t)
		if got := string(msg.Raw()); got != want {
			t.Errorf("stored bytes:\n%q\nwant\n%q", got, want)
		}
		if msg.Size() != int64(len(want)) {
			t.Errorf("Size = %d, want %d", msg.Size(), len(want))
		}
	})
	t.Run("with trace headers", func(t *testing.T) {
		t.Parallel()
		srv := mailtest.NewServer(t)
		sendRaw(t, srv.SMTPAddr(), "a@example.com", []string{"b@example.com"}, payload)
		msg := srv.WaitForMessage(t)
		raw := string(msg.Raw())
		if !strings.HasPrefix(raw, "Return-Path: <a@example.com>\r\nReceived: from client.example (") {
			t.Errorf("trace headers missing: %q", raw[:min(len(raw), 120)])
		}
		if !strings.HasSuffix(raw, want) {
			t.Errorf("payload after trace headers differs:\n%q", raw)
		}
		if msg.Envelope().Helo != "client.example" {
			t.Errorf("Helo = %q", msg.Envelope().Helo)
		}
	})
}

// TestSMTPReplies checks the codes and enhanced codes an application sees
// when the server says no.
func TestSMTPReplies(t *testing.T) {
	t.Parallel()
	auth := func(user, pass string) string {
		return "AUTH PLAIN " + b64("\x00"+user+"\x00"+pass)
	}
	tests := []struct {
		name   string
		opts   []mailtest.Option
		script [][2]string // line, expected reply prefix
	}{
		{"unknown recipient refused", []mailtest.Option{mailtest.WithOnlyKnownRecipients(true), mailtest.WithUser("bob@example.com", "pw")}, [][2]string{
			{"MAIL FROM:<a@example.com>", "250 2.0.0"},
			{"RCPT TO:<nobody@example.com>", "550 5.1.1"},
			{"RCPT TO:<BOB@example.com>", "250 2.0.0"},
		}},
		{"wrong password", []mailtest.Option{mailtest.WithUser("bob@example.com", "pw")}, [][2]string{
			{auth("bob@example.com", "nope"), "535 5.7.8"},
			{auth("bob@example.com", "pw"), "235 2.0.0"},
		}},
		{"auth required", []mailtest.Option{mailtest.WithRequireAuth(true), mailtest.WithUser("bob@example.com", "pw")}, [][2]string{
			{"MAIL FROM:<a@example.com>", "530 5.7.0"},
			{auth("bob@example.com", "pw"), "235 2.0.0"},
			{"MAIL FROM:<a@example.com>", "250 2.0.0"},
		}},
		{"SIZE parameter too large", []mailtest.Option{mailtest.WithMaxMessageBytes(1000)}, [][2]string{
			{"MAIL FROM:<a@example.com> SIZE=1001", "552 5.3.4"},
			{"MAIL FROM:<a@example.com> SIZE=1000", "250 2.0.0"},
		}},
		{"too many recipients", []mailtest.Option{mailtest.WithMaxRecipients(2)}, [][2]string{
			{"MAIL FROM:<a@example.com>", "250 2.0.0"},
			{"RCPT TO:<r1@example.com>", "250 2.0.0"},
			{"RCPT TO:<r2@example.com>", "250 2.0.0"},
			{"RCPT TO:<r3@example.com>", "452 4.5.3"},
		}},
		{"DATA before RCPT", nil, [][2]string{
			{"MAIL FROM:<a@example.com>", "250 2.0.0"},
			{"DATA", "503 5.5.1 Bad sequence of commands"},
		}},
		{"SMTPUTF8", nil, [][2]string{
			{"MAIL FROM:<jörg@example.com> SMTPUTF8", "250 2.0.0"},
			{"RCPT TO:<zoë@example.com>", "250 2.0.0"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := mailtest.NewServer(t, tt.opts...)
			c := dialSMTP(t, srv.SMTPAddr())
			c.smtp("EHLO client.example", "250 ")
			for _, step := range tt.script {
				c.smtp(step[0], step[1])
			}
		})
	}
}

func TestEHLOAdvertises(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	for _, tc := range []struct {
		addr     string
		want     []string
		startTLS bool
	}{
		{srv.SMTPAddr(), []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "SIZE 26214400", "AUTH PLAIN LOGIN", "CHUNKING"}, false},
		{srv.SubmissionAddr(), []string{"STARTTLS", "AUTH PLAIN LOGIN"}, true},
	} {
		c, err := smtp.Dial(tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello("client.example"); err != nil {
			t.Fatal(err)
		}
		for _, ext := range tc.want {
			name, param, _ := strings.Cut(ext, " ")
			ok, got := c.Extension(name)
			if !ok || (param != "" && got != param) {
				t.Errorf("%s: extension %s = %v %q, want %q", tc.addr, name, ok, got, param)
			}
		}
		if ok, _ := c.Extension("STARTTLS"); ok != tc.startTLS {
			t.Errorf("%s: STARTTLS offered = %v, want %v", tc.addr, ok, tc.startTLS)
		}
		c.Close()
	}
}

func TestDataTooLargeStoresNothing(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithMaxMessageBytes(100))
	c := dialSMTP(t, srv.SMTPAddr())
	c.smtp("EHLO client.example", "250")
	c.smtp("MAIL FROM:<a@example.com>", "250")
	c.smtp("RCPT TO:<b@example.com>", "250")
	c.smtp("DATA", "354")
	c.smtp("Subject: big\r\n\r\n"+strings.Repeat("x", 200)+"\r\n.", "552 5.3.4")
	// The session survives and a small message still goes through.
	c.smtp("MAIL FROM:<a@example.com>", "250")
	c.smtp("RCPT TO:<b@example.com>", "250")
	c.smtp("DATA", "354")
	c.smtp("Subject: small\r\n\r\nok\r\n.", "250")
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].Subject() != "small" {
		t.Fatalf("stored %v, want only the small message", msgs)
	}
}

func TestDisconnectMidDataStoresNothing(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	c := dialSMTP(t, srv.SMTPAddr())
	c.smtp("EHLO client.example", "250")
	c.smtp("MAIL FROM:<a@example.com>", "250")
	c.smtp("RCPT TO:<b@example.com>", "250")
	c.smtp("DATA", "354")
	fmt.Fprintf(c.conn, "Subject: half\r\n\r\nhalf a mess")
	c.conn.Close()
	// RSET mid-transaction, then a complete message on a new connection:
	// when that one is stored, the first connection has long been handled.
	c2 := dialSMTP(t, srv.SMTPAddr())
	c2.smtp("EHLO client.example", "250")
	c2.smtp("MAIL FROM:<a@example.com>", "250")
	c2.smtp("RCPT TO:<b@example.com>", "250")
	c2.smtp("RSET", "250")
	c2.smtp("MAIL FROM:<a@example.com>", "250")
	c2.smtp("RCPT TO:<b@example.com>", "250")
	c2.smtp("DATA", "354")
	c2.smtp("Subject: whole\r\n\r\nall of it\r\n.", "250")
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].Subject() != "whole" {
		t.Fatalf("stored %v, want only the whole message", msgs)
	}
	if inbox, _ := srv.IMAPView("b@example.com").Mailbox("INBOX"); len(inbox.Messages) != 1 {
		t.Fatalf("INBOX has %d messages, want 1", len(inbox.Messages))
	}
}

func TestAuthRecordsIdentity(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("app@example.com", "s3cret"))
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		c, err := smtp.Dial(srv.SMTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		var client sasl.Client
		if mech == "PLAIN" {
			client = sasl.NewPlainClient("", "app@example.com", "s3cret")
		} else {
			client = sasl.NewLoginClient("app@example.com", "s3cret")
		}
		if err := c.Auth(client); err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		if err := c.SendMail("app@example.com", []string{"user@example.com"}, strings.NewReader("Subject: "+mech+"\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
		c.Quit()
		msg := srv.WaitForMessage(t, mailtest.Subject(mech))
		if got := msg.Envelope().AuthUser; got != "app@example.com" {
			t.Errorf("%s: AuthUser = %q", mech, got)
		}
	}
}

func TestQuotaRefusesDelivery(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithTraceHeaders(false), mailtest.WithUser("full@example.com", "pw"))
	u, _ := srv.Store().User("full@example.com")
	u.SetQuota(50)
	c := dialSMTP(t, srv.SMTPAddr())
	c.smtp("EHLO client.example", "250")
	c.smtp("MAIL FROM:<a@example.com>", "250")
	c.smtp("RCPT TO:<full@example.com>", "250")
	c.smtp("DATA", "354")
	c.smtp("Subject: big\r\n\r\n"+strings.Repeat("y", 60)+"\r\n.", "552 5.2.2")
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages stored, want 0", n)
	}
}

// TestMessageQuotaRefusesDelivery: net/smtp against a user limited to two
// messages. A transaction that finds the mailbox full at DATA, and one that
// finds it full at RCPT, both get 552 5.2.2 and store nothing; another
// recipient of the same transaction still gets the mail.
func TestMessageQuotaRefusesDelivery(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithTraceHeaders(false), mailtest.WithUser("full@example.com", "pw"))
	u, _ := srv.Store().User("full@example.com")
	u.SetMessageQuota(2)
	if err := netsmtp.SendMail(srv.SMTPAddr(), nil, "a@example.com", []string{"full@example.com"}, []byte("Subject: one\r\n\r\nhi\r\n")); err != nil {
		t.Fatalf("first message: %v", err)
	}
	wantCode := func(what string, err error) {
		t.Helper()
		var te *textproto.Error
		if !errors.As(err, &te) || te.Code != 552 || !strings.HasPrefix(te.Msg, "5.2.2 ") {
			t.Fatalf("%s: %v, want 552 5.2.2", what, err)
		}
	}
	c, err := netsmtp.Dial(srv.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("full@example.com"); err != nil {
		t.Fatalf("RCPT with room for one more: %v", err)
	}
	// Another client files the last message the quota allows meanwhile.
	sent, _ := u.Mailbox("Sent")
	if _, err := sent.Append(memstore.NewMessage([]byte("Subject: sent\r\n\r\nx\r\n"), time.Now(), memstore.Envelope{}), memstore.Flags{}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "Subject: two\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	wantCode("DATA with the mailbox filled meanwhile", w.Close())

	// Full now: refused at RCPT, while another recipient gets the mail.
	if err := c.Mail("a@example.com"); err != nil {
		t.Fatal(err)
	}
	wantCode("RCPT to a full mailbox", c.Rcpt("full@example.com"))
	if err := c.Rcpt("other@example.com"); err != nil {
		t.Fatal(err)
	}
	w, err = c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "Subject: three\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA to the other recipient: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}

	msgs := srv.Messages()
	if len(msgs) != 2 || msgs[0].Subject() != "one" || msgs[1].Subject() != "three" || !slices.Equal(msgs[1].Envelope().Rcpts, []string{"other@example.com"}) {
		t.Fatalf("received %d messages: %+v", len(msgs), msgs)
	}
	if limit, used := u.MessageQuota(); limit != 2 || used != 2 || len(u.Inbox().Snapshot().Entries) != 1 {
		t.Fatalf("full@: %d of %d messages, INBOX %d", used, limit, len(u.Inbox().Snapshot().Entries))
	}
}

// TestConcurrentSenders: 20 senders × 50 messages to overlapping recipients;
// every message ends up exactly once in each of its recipients' INBOX.
func TestConcurrentSenders(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithTraceHeaders(false))
	const senders, perSender = 20, 50
	rcpts := []string{"r0@example.com", "r1@example.com", "r2@example.com", "r3@example.com"}
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(srv.SMTPAddr())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := range perSender {
				to := []string{rcpts[s%4], rcpts[(s+i)%4]}
				if to[0] == to[1] {
					to = to[:1]
				}
				body := fmt.Sprintf("Subject: s%d-m%d\r\n\r\nbody\r\n", s, i)
				if err := c.SendMail("sender@example.com", to, strings.NewReader(body)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	msgs := srv.WaitForMessages(t, senders*perSender)
	want := make(map[string]map[string]int) // rcpt -> subject -> count expected
	for _, m := range msgs {
		for _, r := range m.Envelope().Rcpts {
			if want[r] == nil {
				want[r] = map[string]int{}
			}
			want[r][m.Subject()]++
		}
	}
	for _, r := range rcpts {
		inbox, _ := srv.IMAPView(r).Mailbox("INBOX")
		got := map[string]int{}
		var lastUID uint32
		for _, m := range inbox.Messages {
			got[m.Message.Subject()]++
			if m.UID <= lastUID {
				t.Fatalf("%s: UIDs not increasing: %d after %d", r, m.UID, lastUID)
			}
			lastUID = m.UID
		}
		if len(got) != len(want[r]) {
			t.Errorf("%s: %d distinct messages, want %d", r, len(got), len(want[r]))
		}
		for subj, n := range want[r] {
			if got[subj] != n || n != 1 {
				t.Errorf("%s: %q present %d times, want exactly once", r, subj, got[subj])
			}
		}
	}
}

func TestWaitTimeoutListsArrivals(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	sendRaw(t, srv.SMTPAddr(), "a@example.com", []string{"b@example.com"}, "Subject: the wrong one\r\n\r\nx")
	ctx, cancel := contextWithTimeout(50 * time.Millisecond)
	defer cancel()
	_, err := srv.Wait(ctx, 1, mailtest.Subject("the right one"))
	if !errors.Is(err, mailtest.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	for _, want := range []string{`Subject("the right one")`, `subject "the wrong one"`, "1 received"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestWaitWakesOnDelivery starts waiting before the message is sent.
func TestWaitWakesOnDelivery(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	got := make(chan *mailtest.Message, 1)
	go func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		msgs, err := srv.Wait(ctx, 1, mailtest.SubjectContains("later"))
		if err != nil {
			got <- nil
			return
		}
		got <- msgs[0]
	}()
	sendRaw(t, srv.SMTPAddr(), "a@example.com", []string{"b@example.com"}, "Subject: sent later\r\n\r\nx")
	if m := <-got; m == nil || m.Subject() != "sent later" {
		t.Fatalf("waiter got %v", m)
	}
}

func TestMatchers(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	sendRaw(t, srv.SMTPAddr(), "bounce@example.com", []string{"x@example.com", "hidden@example.com"},
		"From: Shop <shop@example.com>\r\nTo: x@example.com\r\nCc: y@example.com\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nX-Campaign: spring\r\n\r\nHello there")
	cases := []struct {
		m    mailtest.Matcher
		want bool
	}{
		{mailtest.To("x@example.com"), true},
		{mailtest.To("Y@example.com"), true},
		{mailtest.To("hidden@example.com"), true},
		{mailtest.To("z@example.com"), false},
		{mailtest.From("shop@example.com"), true},
		{mailtest.From("bounce@example.com"), true},
		{mailtest.Subject("Grüße"), true},
		{mailtest.SubjectContains("rü"), true},
		{mailtest.Subject("Grusse"), false},
		{mailtest.Header("X-Campaign", "spring"), true},
		{mailtest.HeaderContains("x-campaign", "pri"), true},
		{mailtest.BodyContains("Hello"), true},
		{mailtest.Match("big", func(m *mailtest.Message) bool { return m.Size() > 1<<20 }), false},
	}
	for _, c := range cases {
		if got := len(srv.Messages(c.m)) == 1; got != c.want {
			t.Errorf("%s matched = %v, want %v", c.m, got, c.want)
		}
	}
	srv.Purge()
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("after Purge: %d messages", n)
	}
	if inbox, _ := srv.IMAPView("x@example.com").Mailbox("INBOX"); len(inbox.Messages) != 0 {
		t.Errorf("after Purge: INBOX holds %d", len(inbox.Messages))
	}
}

func TestDeliverToAndViews(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	uid := srv.DeliverTo(t, "bob@example.com", "Archive", mailtest.Draft{
		From: "alice@example.com", To: []string{"bob@example.com"}, Subject: "old news", Text: "x", Date: date,
	}, `\seen`, "$Important")
	if uid != 1 {
		t.Errorf("uid = %d", uid)
	}
	v := srv.IMAPView("bob@example.com")
	if got := strings.Join(v.Names(), ","); got != "INBOX,Archive,Drafts,Junk,Sent,Trash" {
		t.Errorf("mailboxes = %s", got)
	}
	archive, _ := v.Mailbox("Archive")
	if len(archive.Messages) != 1 {
		t.Fatalf("Archive = %+v", archive)
	}
	m := archive.Messages[0]
	if strings.Join(m.Flags, " ") != `\Seen $Important` || !m.ReceivedAt.Equal(date) || m.Message.Subject() != "old news" {
		t.Errorf("message = %+v", m)
	}
	if archive.Attributes[0] != memstore.SpecialArchive {
		t.Errorf("attributes = %v", archive.Attributes)
	}
	if len(srv.Messages()) != 0 {
		t.Errorf("DeliverTo must not count as an SMTP transaction")
	}
	// A POP3 client sees INBOX only.
	srv.DeliverTo(t, "bob@example.com", "INBOX", mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: "new", Text: "y"})
	pv := srv.POP3View("bob@example.com")
	if len(pv.Messages) != 1 || pv.Messages[0].Message.Subject() != "new" || pv.Locked {
		t.Errorf("POP3 view = %+v", pv)
	}
	if pv.Messages[0].Size != pv.Messages[0].Message.Size() || pv.Size() != pv.Messages[0].Size {
		t.Errorf("sizes disagree: %+v", pv.Messages[0])
	}
}

func TestSendHelper(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	sent := srv.Send(t, mailtest.Draft{
		From: "Shop <shop@example.com>", To: []string{"bob@example.com"}, Bcc: []string{"audit@example.com"},
		Subject: "Your order", Text: "Thanks!", HTML: `<p>Thanks! <a href="https://shop.example/o/1">order</a></p>`,
		Attachments: []mailtest.Attachment{{Filename: "invoice.pdf", Data: []byte("%PDF-1.4 test")}},
	})
	if sent.Subject() != "Your order" || sent.Text() == "" || len(sent.Links()) != 1 || sent.Links()[0] != "https://shop.example/o/1" {
		t.Errorf("sent = %v text=%q links=%v", sent, sent.Text(), sent.Links())
	}
	atts := sent.Attachments()
	if len(atts) != 1 || atts[0].Filename != "invoice.pdf" || !bytes.Equal(atts[0].Data, []byte("%PDF-1.4 test")) {
		t.Errorf("attachments = %+v", atts)
	}
	if got := sent.Envelope().Rcpts; len(got) != 2 || got[1] != "audit@example.com" {
		t.Errorf("rcpts = %v", got)
	}
	if bytes.Contains(sent.Raw(), []byte("audit@example.com")) {
		t.Errorf("Bcc leaked into the message:\n%s", sent.Raw())
	}
}
