package imapfront

import (
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/mailrig/mailrig/memstore"
)

// messageEnvelope is the ENVELOPE of a message, computed once. Unlike
// go-imap's ExtractEnvelope it keeps groups (RFC 3501 §7.4.2 encodes them
// as start and end markers) and passes ASCII header text through raw, so
// encoded words reach the client as sent.
func messageEnvelope(m *memstore.Message) *imap.Envelope {
	return m.Cached(envelopeKey{}, func() any {
		return extractEnvelope(m.Header())
	}).(*imap.Envelope)
}

func extractEnvelope(h textproto.Header) *imap.Envelope {
	mh := mail.Header{Header: gomessage.Header{Header: h}}
	env := &imap.Envelope{
		Subject: rawOrDecoded(mh, "Subject"),
		From:    addressList(h.Get("From")),
		Sender:  addressList(h.Get("Sender")),
		ReplyTo: addressList(h.Get("Reply-To")),
		To:      addressList(h.Get("To")),
		Cc:      addressList(h.Get("Cc")),
		Bcc:     addressList(h.Get("Bcc")),
	}
	env.Date, _ = mh.Date()
	env.InReplyTo, _ = mh.MsgIDList("In-Reply-To")
	env.MessageID, _ = mh.MessageID()
	return env
}

// sentDate is the Date header, or the internal date when it has none (the
// usual fallback for SENTBEFORE and friends).
func sentDate(m *memstore.Message) time.Time {
	return m.Cached(sentDateKey{}, func() any {
		h := m.Header()
		// The common RFC 5322 form first: net/mail tries several layouts
		// and builds an error for each miss, which SORT and THREAD pay
		// for every message of a mailbox.
		if t, err := time.Parse(time.RFC1123Z, strings.TrimSpace(h.Get("Date"))); err == nil {
			return t
		}
		mh := mail.Header{Header: gomessage.Header{Header: h}}
		if t, err := mh.Date(); err == nil && !t.IsZero() {
			return t
		}
		return m.ReceivedAt()
	}).(time.Time)
}

type sentDateKey struct{}

// rawOrDecoded returns the unfolded raw field when it is ASCII (go-imap
// sends it unchanged), or else the decoded text, which go-imap encodes as
// UTF-8 encoded words.
func rawOrDecoded(mh mail.Header, key string) string {
	raw := unfold(mh.Get(key))
	if isASCII(raw) {
		return raw
	}
	dec, err := mh.Text(key)
	if err != nil {
		return raw
	}
	return dec
}

func unfold(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return strings.TrimSpace(s)
	}
	s = strings.ReplaceAll(s, "\r\n", "")
	return strings.TrimSpace(strings.ReplaceAll(s, "\n", ""))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// addressList parses an address-list header into ENVELOPE addresses, with
// group start ({Mailbox: name}) and end ({}) markers. Display names stay raw.
func addressList(value string) []imap.Address {
	value = unfold(value)
	if value == "" {
		return nil
	}
	var out []imap.Address
	inGroup := false
	var cur strings.Builder
	flush := func() {
		if a, ok := parseMailbox(cur.String()); ok {
			out = append(out, a)
		}
		cur.Reset()
	}
	quoted, escaped, comment, angle := false, false, 0, false
	for _, r := range value {
		switch {
		case escaped:
			escaped = false
		case quoted:
			switch r {
			case '\\':
				escaped = true
			case '"':
				quoted = false
			}
		case comment > 0:
			switch r {
			case '\\':
				escaped = true
			case '(':
				comment++
			case ')':
				comment--
			}
		case r == '"':
			quoted = true
		case r == '(':
			comment++
		case r == '<':
			angle = true
		case r == '>':
			angle = false
		case angle:
		case r == ',':
			flush()
			continue
		case r == ':' && !inGroup:
			out = append(out, imap.Address{Mailbox: phrase(cur.String())})
			cur.Reset()
			inGroup = true
			continue
		case r == ';' && inGroup:
			flush()
			out = append(out, imap.Address{})
			inGroup = false
			continue
		}
		cur.WriteRune(r)
	}
	flush()
	if inGroup {
		out = append(out, imap.Address{}) // unterminated group
	}
	return out
}

// parseMailbox splits `Name <local@host>` or `local@host (comment)`.
func parseMailbox(s string) (imap.Address, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return imap.Address{}, false
	}
	var name, addr string
	if lt := strings.LastIndexByte(s, '<'); lt >= 0 && strings.HasSuffix(s, ">") {
		name = phrase(s[:lt])
		addr = s[lt+1 : len(s)-1]
		if i := strings.LastIndexByte(addr, ':'); i >= 0 {
			addr = addr[i+1:] // drop an obsolete source route
		}
	} else {
		addr = stripComments(s)
	}
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return imap.Address{}, false
	}
	return imap.Address{Name: name, Mailbox: unquote(addr[:at]), Host: addr[at+1:]}, true
}

// phrase cleans a display name: comments dropped, quotes removed.
func phrase(s string) string {
	s = strings.TrimSpace(stripComments(s))
	return unquote(s)
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var b strings.Builder
		esc := false
		for _, r := range s[1 : len(s)-1] {
			if r == '\\' && !esc {
				esc = true
				continue
			}
			esc = false
			b.WriteRune(r)
		}
		return b.String()
	}
	return s
}

func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth, quoted, esc := 0, false, false
	for _, r := range s {
		switch {
		case esc:
			esc = false
		case r == '\\':
			esc = true
		case quoted:
			if r == '"' {
				quoted = false
			}
		case r == '"' && depth == 0:
			quoted = true
		case r == '(':
			depth++
			continue
		case r == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}
