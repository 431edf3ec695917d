package mailtest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mailrig/mailrig/memstore"
)

// Send composes d and sends it through the server's plain SMTP listener,
// as an application would: MAIL FROM is d's From address and RCPT TO every
// To, Cc and Bcc address. It returns the received message and fails t if
// the server refuses it.
func (s *Server) Send(t testing.TB, d Draft) *Message {
	t.Helper()
	m, err := s.send(d)
	if err != nil {
		t.Fatalf("mailtest: Send: %v", err)
		return nil
	}
	return m
}

func (s *Server) send(d Draft) (*Message, error) {
	raw, err := d.Bytes()
	if err != nil {
		return nil, err
	}
	if s.SMTPAddr() == "" {
		return nil, fmt.Errorf("the SMTP listener is off")
	}
	before := len(s.store.Received())
	if err := sendPlain(s.SMTPAddr(), d.Sender(), d.Recipients(), raw); err != nil {
		return nil, fmt.Errorf("send through %s: %w", s.SMTPAddr(), err)
	}
	// SMTP stores the message before it answers the final dot, so it is
	// already in the received list; find ours by its Message-ID.
	id := messageIDOf(raw)
	received := s.store.Received()
	for i := len(received) - 1; i >= before; i-- {
		if m := wrap(received[i]); m.MessageID() == id {
			return m, nil
		}
	}
	return nil, fmt.Errorf("sent message <%s> is not in the store", id)
}

func messageIDOf(raw []byte) string {
	m := memstore.NewMessage(raw, time.Time{}, memstore.Envelope{})
	return wrap(m).MessageID()
}

// DeliverTo composes d and files it straight into mailbox of user,
// bypassing SMTP, with the given flags (e.g. `\Seen`) and d.Date as its
// internal date. The user is created if needed; the mailbox must exist.
// It returns the message's UID in the mailbox. Messages filed this way are
// not SMTP transactions, so Messages and Wait do not count them.
func (s *Server) DeliverTo(t testing.TB, user, mailbox string, d Draft, flags ...string) uint32 {
	t.Helper()
	uid, err := s.deliverTo(user, mailbox, d, flags)
	if err != nil {
		t.Fatalf("mailtest: DeliverTo(%q, %q): %v", user, mailbox, err)
	}
	return uid
}

func (s *Server) deliverTo(user, mailbox string, d Draft, flags []string) (uint32, error) {
	if d.Date.IsZero() {
		d.Date = time.Now()
	}
	raw, err := d.Bytes()
	if err != nil {
		return 0, err
	}
	u, err := s.store.EnsureUser(user)
	if err != nil {
		return 0, err
	}
	mb, err := u.Mailbox(mailbox)
	if err != nil {
		return 0, err
	}
	return mb.Append(memstore.NewMessage(raw, d.Date, memstore.Envelope{}), memstore.NewFlags(flags...))
}

// sendPlain runs one SMTP transaction without TLS.
//
// workaround(go-smtp v0.25.1): smtp.SendMail insists on STARTTLS (it dials
// with DialStartTLS), which the plain listener does not offer, so this uses
// the Client directly; remove when SendMail can send without TLS.
func sendPlain(addr, from string, to []string, raw []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}
