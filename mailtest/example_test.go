package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/mailrig/mailrig/mailtest"
	"github.com/mailrig/mailrig/memstore"
)

// The usual test: the application sends through SMTPAddr with no
// configuration, the test waits for the message and checks it. In a test,
// use mailtest.NewServer(t) and srv.WaitForMessage(t, ...), which fail the
// test for you; examples have no *testing.T, so this one uses New and Wait.
func Example() {
	srv, err := mailtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// The application under test:
	body := "From: shop@example.com\r\nTo: bob@example.com\r\nSubject: Welcome\r\n\r\nConfirm: https://shop.example/confirm?t=42\r\n"
	if err := smtp.SendMail(srv.SMTPAddr(), nil, "shop@example.com", []string{"bob@example.com"}, []byte(body)); err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msgs, err := srv.Wait(ctx, 1, mailtest.To("bob@example.com"))
	if err != nil {
		log.Fatal(err)
	}
	msg := msgs[0]
	fmt.Println(msg.Subject())
	fmt.Println(msg.Links()[0])
	fmt.Println(msg.Envelope().Rcpts)
	// Output:
	// Welcome
	// https://shop.example/confirm?t=42
	// [bob@example.com]
}

// Bcc recipients are in the SMTP envelope, not in the header.
func ExampleServer_Send() {
	srv, err := mailtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	m, err := sendForExample(srv, mailtest.Draft{
		From:    "Alerts <alerts@example.com>",
		To:      []string{"ops@example.com"},
		Bcc:     []string{"audit@example.com"},
		Subject: "Disk 91% full",
		Text:    "Host db-1",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.From(), m.To(), m.Envelope().Rcpts)
	// Output: alerts@example.com [ops@example.com] [ops@example.com audit@example.com]
}

// sendForExample is Send for code without a *testing.T.
func sendForExample(srv *mailtest.Server, d mailtest.Draft) (*mailtest.Message, error) {
	raw, err := d.Bytes()
	if err != nil {
		return nil, err
	}
	if err := smtp.SendMail(srv.SMTPAddr(), nil, d.Sender(), d.Recipients(), raw); err != nil {
		return nil, err
	}
	return srv.Messages()[0], nil
}

// IMAPView shows what an IMAP client of a user would see, without logging in.
func ExampleServer_IMAPView() {
	srv, err := mailtest.New(mailtest.WithUser("bob@example.com", "secret"))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	body := "Subject: Invoice 7\r\n\r\nsee attachment\r\n"
	if err := smtp.SendMail(srv.SMTPAddr(), nil, "billing@example.com", []string{"bob@example.com"}, []byte(body)); err != nil {
		log.Fatal(err)
	}
	view := srv.IMAPView("bob@example.com")
	for _, mb := range view.Mailboxes {
		fmt.Println(mb.Name, mb.Attributes, len(mb.Messages))
	}
	inbox, _ := view.Mailbox("INBOX")
	fmt.Println(inbox.Messages[0].UID, inbox.Messages[0].Flags, inbox.Messages[0].Message.Subject())
	// Output:
	// INBOX [\HasNoChildren] 1
	// Archive [\Archive \HasNoChildren] 0
	// Drafts [\Drafts \HasNoChildren] 0
	// Junk [\Junk \HasNoChildren] 0
	// Sent [\Sent \HasNoChildren] 0
	// Trash [\Trash \HasNoChildren] 0
	// 1 [] Invoice 7
}

// Inject makes the server fail on purpose, so a test can check how the
// application copes: here the first RCPT TO is refused with a temporary
// error, as a full mailbox would be.
func ExampleServer_Inject() {
	srv, err := mailtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	t := exampleT{} // in a test, the *testing.T: a malformed Fault fails it
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.SMTP, Command: "RCPT", Times: 1, Reply: "452 4.2.2 Mailbox full"})
	body := []byte("Subject: retry me\r\n\r\nx\r\n")
	err = smtp.SendMail(srv.SMTPAddr(), nil, "app@example.com", []string{"bob@example.com"}, body)
	var reply *textproto.Error
	if errors.As(err, &reply) {
		fmt.Println("first try:", reply.Code, reply.Msg)
	}
	err = smtp.SendMail(srv.SMTPAddr(), nil, "app@example.com", []string{"bob@example.com"}, body)
	fmt.Println("second try:", err, len(srv.Messages()))
	// Output:
	// first try: 452 4.2.2 Mailbox full
	// second try: <nil> 1
}

// POP3View shows what a POP3 client would download: the INBOX only,
// numbered from 1, with the sizes LIST reports and the UIDLs.
func ExampleServer_POP3View() {
	srv, err := mailtest.New(mailtest.WithUser("bob@example.com", "secret"), mailtest.WithTraceHeaders(false))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	for _, subject := range []string{"one", "two"} {
		body := "Subject: " + subject + "\r\n\r\nhello\r\n"
		if err := smtp.SendMail(srv.SMTPAddr(), nil, "a@example.com", []string{"bob@example.com"}, []byte(body)); err != nil {
			log.Fatal(err)
		}
	}
	view := srv.POP3View("bob@example.com")
	for _, m := range view.Messages {
		fmt.Println(m.Number, m.Size, m.Message.Subject())
	}
	fmt.Println("locked:", view.Locked)
	// Output:
	// 1 23 one
	// 2 23 two
	// locked: false
}

// DeliverTo files a message straight into a mailbox, with flags, for tests
// of applications that read mail.
func ExampleServer_DeliverTo() {
	srv, err := mailtest.New(mailtest.WithUser("bob@example.com", "secret"))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	uid, err := deliverForExample(srv, "bob@example.com", "Archive", mailtest.Draft{
		From:    "billing@example.com",
		To:      []string{"bob@example.com"},
		Subject: "Invoice 41",
		Text:    "Paid.",
		Attachments: []mailtest.Attachment{
			{Filename: "invoice-41.pdf", Data: []byte("%PDF-1.4 ...")},
		},
	}, `\Seen`)
	if err != nil {
		log.Fatal(err)
	}
	archive, _ := srv.IMAPView("bob@example.com").Mailbox("Archive")
	m := archive.Messages[0]
	fmt.Println(uid, m.UID, m.Flags, m.Message.Attachments()[0].Filename)
	// Output: 1 1 [\Seen] invoice-41.pdf
}

// deliverForExample is DeliverTo for code without a *testing.T.
func deliverForExample(srv *mailtest.Server, user, mailbox string, d mailtest.Draft, flags ...string) (uint32, error) {
	raw, err := d.Bytes()
	if err != nil {
		return 0, err
	}
	u, err := srv.Store().EnsureUser(user)
	if err != nil {
		return 0, err
	}
	mb, err := u.Mailbox(mailbox)
	if err != nil {
		return 0, err
	}
	return mb.Append(memstore.NewMessage(raw, time.Now(), memstore.Envelope{}), memstore.NewFlags(flags...))
}

// Transcripts shows each session's protocol lines, with passwords masked.
// NewServer keeps them and logs them when a test fails; New keeps them
// when asked.
func ExampleServer_Transcripts() {
	srv, err := mailtest.New(mailtest.WithTranscripts(true))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	body := []byte("Subject: hi\r\n\r\nx\r\n")
	if err := smtp.SendMail(srv.SMTPAddr(), nil, "a@example.com", []string{"b@example.com"}, body); err != nil {
		log.Fatal(err)
	}
	msg := srv.Messages()[0]
	// The server records its last reply just after sending it; Close waits
	// until every session has ended, and transcripts stay readable.
	srv.Close()
	t, _ := srv.Transcript(msg.Envelope().SessionID)
	started := false
	for _, l := range t.Lines {
		// Skip the greeting and EHLO's list of extensions.
		started = started || strings.HasPrefix(l.Text, "MAIL FROM")
		if !started {
			continue
		}
		dir := "S:"
		if l.FromClient {
			dir = "C:"
		}
		fmt.Println(dir, l.Text)
	}
	// Output:
	// C: MAIL FROM:<a@example.com> BODY=8BITMIME SMTPUTF8
	// S: 250 2.0.0 Roger, accepting mail from <a@example.com>
	// C: RCPT TO:<b@example.com>
	// S: 250 2.0.0 I'll make sure <b@example.com> gets this
	// C: DATA
	// S: 354 Go ahead. End your data with <CR><LF>.<CR><LF>
	// C: <message 18 octets>
	// S: 250 2.0.0 OK: queued
	// C: QUIT
	// S: 221 2.0.0 Bye
}

// exampleT stands in for the *testing.T that an Example does not have.
type exampleT struct{ testing.TB }

func (exampleT) Helper()           {}
func (exampleT) Fatal(args ...any) { log.Fatal(args...) }
