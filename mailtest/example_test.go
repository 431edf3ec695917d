package mailtest_test

import (
	"context"
	"fmt"
	"log"
	"net/smtp"
	"time"

	"github.com/mailrig/mailrig/mailtest"
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
