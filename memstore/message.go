package memstore

import (
	"bufio"
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-message/textproto"
)

// Envelope is the SMTP envelope of a message: what the sending client said
// outside the message header. It is kept apart from the header so tests can
// check Bcc recipients and the authenticated identity.
type Envelope struct {
	// MailFrom is the reverse path of MAIL FROM, without angle brackets
	// ("" for the null sender <>).
	MailFrom string
	// Rcpts lists every RCPT TO of the transaction, in order.
	Rcpts []string
	// Helo is the name the client gave in HELO or EHLO.
	Helo string
	// TLS reports whether the transaction ran over TLS.
	TLS bool
	// AuthUser is the identity the client authenticated as ("" if none).
	AuthUser string
	// RemoteAddr is the client's address.
	RemoteAddr string
	// SessionID names the SMTP session that delivered the message, so its
	// transcript can be found.
	SessionID string
}

// Message is one immutable message. Its bytes are CRLF-normalised. The same
// Message may be filed in several mailboxes; it is never copied.
type Message struct {
	id       atomic.Uint64 // set once, when first stored; see Store.assignID
	raw      []byte
	date     time.Time
	envelope Envelope

	parseOnce  sync.Once
	header     textproto.Header
	bodyOffset int

	derived sync.Map // front-end specific cached views, see Cached
}

// NewMessage makes a Message from raw bytes, normalising line endings to CRLF
// (see NormalizeCRLF). The zero date means now. It is mostly useful to
// front-ends and tests that append messages themselves.
func NewMessage(raw []byte, date time.Time, env Envelope) *Message {
	if date.IsZero() {
		date = time.Now()
	}
	env.Rcpts = append([]string(nil), env.Rcpts...)
	b := NormalizeCRLF(raw)
	if len(b) > 0 && &b[0] == &raw[0] {
		// raw was already normal and NormalizeCRLF returned it as is. Keep a
		// copy of our own, sized to fit: the caller may reuse its buffer, and
		// a buffer grown by appending (bytes.Buffer) can hold up to twice
		// the message's size, all of it kept alive by the store.
		b = bytes.Clone(b)
	}
	return &Message{raw: b, date: date, envelope: env}
}

// ID is a store-wide number of the message, unique within its Store and
// increasing in the order messages entered the store. It is 0 for a message
// not yet stored.
func (m *Message) ID() uint64 { return m.id.Load() }

// Raw returns the message bytes. The slice is shared: callers must not modify it.
func (m *Message) Raw() []byte { return m.raw }

// Size is the length of Raw in octets, the size IMAP and POP3 report.
func (m *Message) Size() int64 { return int64(len(m.raw)) }

// ReceivedAt is the time the message was received (or the date given to APPEND).
func (m *Message) ReceivedAt() time.Time { return m.date }

// Envelope returns the SMTP envelope. Messages appended over IMAP or filed
// directly have an empty envelope.
func (m *Message) Envelope() Envelope {
	env := m.envelope
	env.Rcpts = append([]string(nil), env.Rcpts...)
	return env
}

// Header returns the parsed top-level header. It is parsed once, on first
// use, and shared: callers must not modify it (use Copy first).
func (m *Message) Header() textproto.Header {
	m.parse()
	return m.header
}

// Body returns the bytes after the header and its blank line.
// The slice is shared: callers must not modify it.
func (m *Message) Body() []byte {
	m.parse()
	return m.raw[m.bodyOffset:]
}

// HeaderBytes returns the header including the blank line that ends it.
func (m *Message) HeaderBytes() []byte {
	m.parse()
	return m.raw[:m.bodyOffset]
}

func (m *Message) parse() {
	m.parseOnce.Do(func() {
		m.bodyOffset = headerEnd(m.raw)
		// A malformed header still yields the fields read before the
		// error, so the error is deliberately ignored.
		h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(m.raw[:m.bodyOffset])))
		m.header = h
	})
}

// Cached is for front-ends (see "For front-ends" in the package doc). It
// returns the value cached under key for this message, computing it with
// compute on first use, so that a view derived from the bytes (an IMAP
// ENVELOPE or BODYSTRUCTURE, a decoded body) is computed once per message
// however many sessions ask, and is freed with the message. Keys should
// be of an unexported type of the caller's package, as with context values.
// compute may run more than once if called concurrently; one result wins.
func (m *Message) Cached(key any, compute func() any) any {
	if v, ok := m.derived.Load(key); ok {
		return v
	}
	v, _ := m.derived.LoadOrStore(key, compute())
	return v
}

// headerEnd returns the offset just after the blank line that ends the
// header, or len(raw) if there is none (a header-only message). raw is
// CRLF-normalised.
func headerEnd(raw []byte) int {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return 2
	}
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return len(raw)
}

// NormalizeCRLF returns b with every bare LF and bare CR turned into CRLF
// and a CRLF appended if b does not end with one (an empty b stays empty).
// It is the rule every message entering the store follows, so that the
// sizes IMAP and POP3 report agree with the bytes they send. It returns b
// itself when it is already normal.
func NormalizeCRLF(b []byte) []byte {
	if isNormal(b) {
		return b
	}
	// Size the output exactly, so that a message with many short lines is
	// not left with the spare capacity of repeated growth.
	n := len(b)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			} else {
				n++
			}
		case '\n':
			n++
		}
	}
	if c := b[len(b)-1]; c != '\r' && c != '\n' {
		n += 2
	}
	out := make([]byte, 0, n)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

func isNormal(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		return false
	}
	// Every LF must follow a CR; then each LF accounts for one CR, and b is
	// normal if there is no other CR. IndexByte and Count are vectorised,
	// unlike IndexAny, which matters for messages of many megabytes.
	lines := 0
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		if i == 0 || b[i-1] != '\r' {
			return false
		}
		lines++
		i++
	}
	return bytes.Count(b, []byte{'\r'}) == lines
}
