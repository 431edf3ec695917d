package mailtest

import (
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/mailrig/mailrig/mailtest/internal/mailparse"
	"github.com/mailrig/mailrig/memstore"
)

// Envelope is the SMTP envelope of a received message: MAIL FROM, every
// RCPT TO (so Bcc recipients are visible), the HELO name, whether TLS was
// used and the AUTH identity.
type Envelope = memstore.Envelope

// Message is a received message with its envelope and decoded content.
// Content is decoded once, on first use, with go-message; charsets other
// than UTF-8 are converted.
type Message struct {
	m      *memstore.Message
	parsed *mailparse.Parsed
	err    error
}

type messageKey struct{}

// wrap returns the Message view of m, cached on m so every helper that
// looks at it shares one parse.
func wrap(m *memstore.Message) *Message {
	return m.Cached(messageKey{}, func() any {
		p, err := mailparse.Parse(m.Raw())
		if p == nil {
			p = &mailparse.Parsed{}
		}
		return &Message{m: m, parsed: p, err: err}
	}).(*Message)
}

// ID is the message's store-wide number, increasing in arrival order.
func (m *Message) ID() uint64 { return m.m.ID() }

// Envelope returns the SMTP envelope.
func (m *Message) Envelope() Envelope { return m.m.Envelope() }

// Raw returns the stored bytes, CRLF-normalised, with the trace headers the
// server prepended (see WithTraceHeaders). These are the bytes IMAP
// BODY[] and POP3 RETR return. The slice must not be modified.
func (m *Message) Raw() []byte { return m.m.Raw() }

// Size is len(Raw()), the size IMAP and POP3 report.
func (m *Message) Size() int64 { return m.m.Size() }

// ReceivedAt is the time the server accepted the message (IMAP INTERNALDATE).
func (m *Message) ReceivedAt() time.Time { return m.m.ReceivedAt() }

// ParseError reports why the content could not be fully decoded, or nil.
// Accessors still return what could be decoded.
func (m *Message) ParseError() error { return m.err }

// Header returns the decoded top-level header.
func (m *Message) Header() mail.Header { return m.parsed.Header }

// From returns the bare address of the first From header address, or "".
func (m *Message) From() string { return firstAddress(m.parsed.From) }

// To returns the bare addresses of the To header.
func (m *Message) To() []string { return bareAddresses(m.parsed.To) }

// Cc returns the bare addresses of the Cc header.
func (m *Message) Cc() []string { return bareAddresses(m.parsed.Cc) }

// ReplyTo returns the bare addresses of the Reply-To header.
func (m *Message) ReplyTo() []string { return bareAddresses(m.parsed.ReplyTo) }

// FromName returns the display name of the first From address, decoded.
func (m *Message) FromName() string {
	if len(m.parsed.From) == 0 {
		return ""
	}
	return m.parsed.From[0].Name
}

// Subject returns the subject with RFC 2047 encoded words decoded.
func (m *Message) Subject() string { return m.parsed.Subject }

// Date returns the Date header, or the zero time if it is missing or invalid.
func (m *Message) Date() time.Time { return m.parsed.Date }

// MessageID returns the Message-ID without angle brackets.
func (m *Message) MessageID() string { return m.parsed.MessageID }

// Text returns the first text/plain body part that is not an attachment,
// decoded to UTF-8.
func (m *Message) Text() string { return m.parsed.Text }

// HTML returns the first text/html body part that is not an attachment,
// decoded to UTF-8.
func (m *Message) HTML() string { return m.parsed.HTML }

// Attachments returns the attached and inline non-text parts, decoded.
func (m *Message) Attachments() []Attachment {
	out := make([]Attachment, len(m.parsed.Attachments))
	for i, a := range m.parsed.Attachments {
		out[i] = Attachment{Filename: a.Filename, ContentType: a.ContentType, ContentID: a.ContentID, Inline: a.Inline, Data: a.Data}
	}
	return out
}

// Links returns the link targets of the HTML part in document order, or,
// if there is no HTML part, the http and https URLs in the text part.
func (m *Message) Links() []string { return m.parsed.Links }

// String summarises the message for failure messages.
func (m *Message) String() string {
	env := m.m.Envelope()
	return fmt.Sprintf("#%d from <%s> to %v subject %q", m.m.ID(), env.MailFrom, env.Rcpts, m.Subject())
}

func firstAddress(list []*mail.Address) string {
	if len(list) == 0 {
		return ""
	}
	return list[0].Address
}

func bareAddresses(list []*mail.Address) []string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, a.Address)
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
