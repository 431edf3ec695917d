package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Query is a parsed search query in Mailpit's syntax: terms separated by
// spaces, all of which must match. A term is a plain word, a "quoted
// phrase", or field:value (value quoted if it has spaces), each optionally
// negated by a leading "-". Text matches are case-insensitive substrings.
//
// Fields: to:, from:, cc:, bcc:, reply-to:, addressed: (to, cc or bcc),
// subject:, message-id:, filename:, is:read, is:unread, has:attachment,
// after:DATE and before:DATE (YYYY-MM-DD or RFC 3339; after is inclusive,
// before exclusive, on the received time), larger:SIZE and smaller:SIZE
// (bytes, or with a k/m suffix). A plain word matches the subject, the
// addresses and names, the Message-ID, the text body and attachment file
// names. A field this server does not know is taken as a plain word, so
// "foo:bar" finds the text "foo:bar".
type Query struct {
	terms []term
}

type field int

const (
	fieldText field = iota
	fieldTo
	fieldFrom
	fieldCc
	fieldBcc
	fieldReplyTo
	fieldAddressed
	fieldSubject
	fieldMessageID
	fieldFilename
	fieldIs
	fieldHas
	fieldAfter
	fieldBefore
	fieldLarger
	fieldSmaller
	fieldTag
)

var fieldNames = map[string]field{
	"to": fieldTo, "from": fieldFrom, "cc": fieldCc, "bcc": fieldBcc,
	"reply-to": fieldReplyTo, "addressed": fieldAddressed, "subject": fieldSubject,
	"message-id": fieldMessageID, "filename": fieldFilename, "is": fieldIs, "has": fieldHas,
	"after": fieldAfter, "before": fieldBefore, "larger": fieldLarger, "smaller": fieldSmaller,
	"tag": fieldTag,
}

type term struct {
	neg   bool
	field field
	value string // lower-cased
	time  time.Time
	size  int64
}

// maxQueryTerms bounds the work one query can ask for.
const maxQueryTerms = 64

// ParseQuery parses s. It fails on a malformed date or size and on more
// than 64 terms; anything else parses.
func ParseQuery(s string) (Query, error) {
	var q Query
	for _, tok := range tokenize(s) {
		t, ok, err := parseTerm(tok)
		if err != nil {
			return Query{}, err
		}
		if !ok {
			continue
		}
		if len(q.terms) == maxQueryTerms {
			return Query{}, fmt.Errorf("more than %d search terms", maxQueryTerms)
		}
		q.terms = append(q.terms, t)
	}
	return q, nil
}

// token is one space-separated piece of a query: its key (before an
// unquoted colon) and value, with quotes removed.
type token struct {
	neg      bool
	key      string
	hasKey   bool
	value    string
	original string
}

func tokenize(s string) []token {
	var out []token
	i := 0
	for i < len(s) {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		var t token
		if s[i] == '-' && i+1 < len(s) && !isSpace(s[i+1]) {
			t.neg = true
			i++
		}
		var b strings.Builder
		quoted := false
		for i < len(s) {
			c := s[i]
			if c == '"' {
				quoted = !quoted
				i++
				continue
			}
			if !quoted && isSpace(c) {
				break
			}
			if c == ':' && !quoted && !t.hasKey && b.Len() > 0 {
				t.key, t.hasKey = b.String(), true
				b.Reset()
				i++
				continue
			}
			b.WriteByte(c)
			i++
		}
		t.value = b.String()
		t.original = strings.TrimPrefix(s[start:i], "-")
		out = append(out, t)
	}
	return out
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func parseTerm(tok token) (term, bool, error) {
	t := term{neg: tok.neg}
	if tok.hasKey {
		if f, ok := fieldNames[strings.ToLower(tok.key)]; ok {
			t.field = f
			t.value = strings.ToLower(tok.value)
			switch f {
			case fieldAfter, fieldBefore:
				d, err := parseDate(tok.value)
				if err != nil {
					return term{}, false, err
				}
				t.time = d
			case fieldLarger, fieldSmaller:
				n, err := parseSize(tok.value)
				if err != nil {
					return term{}, false, err
				}
				t.size = n
			}
			return t, true, nil
		}
		// Unknown field: the whole thing is a word.
		t.value = strings.ToLower(strings.ReplaceAll(tok.original, `"`, ""))
		return t, t.value != "", nil
	}
	t.value = strings.ToLower(tok.value)
	return t, t.value != "", nil
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, time.RFC3339, "2006-01-02T15:04", time.DateTime} {
		if d, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return d, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid date %q: want YYYY-MM-DD or RFC 3339", s)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes, optionally with k or m", s)
	}
	return n * mult, nil
}

// Empty reports whether the query has no terms, so matches everything.
func (q Query) Empty() bool { return len(q.terms) == 0 }

// usesRead reports whether the result depends on read state, which can
// change without a new message.
func (q Query) usesRead() bool {
	for _, t := range q.terms {
		if t.field == fieldIs {
			return true
		}
	}
	return false
}

// Match reports whether it matches every term.
func (q Query) Match(it Item) bool {
	for _, t := range q.terms {
		if t.match(it) == t.neg {
			return false
		}
	}
	return true
}

func (t term) match(it Item) bool {
	m := it.Mail
	switch t.field {
	case fieldTo:
		return addrsContain(m.To, t.value)
	case fieldFrom:
		return m.From != nil && addrContains(*m.From, t.value)
	case fieldCc:
		return addrsContain(m.Cc, t.value)
	case fieldBcc:
		return addrsContain(m.Bcc, t.value)
	case fieldReplyTo:
		return addrsContain(m.ReplyTo, t.value)
	case fieldAddressed:
		return addrsContain(m.To, t.value) || addrsContain(m.Cc, t.value) || addrsContain(m.Bcc, t.value)
	case fieldSubject:
		return containsFold(m.Subject, t.value)
	case fieldMessageID:
		return containsFold(m.MessageID, strings.Trim(t.value, "<>"))
	case fieldFilename:
		return partsContain(m.Attachments, t.value) || partsContain(m.Inline, t.value)
	case fieldIs:
		switch t.value {
		case "read":
			return it.Read
		case "unread":
			return !it.Read
		}
		return false
	case fieldHas:
		switch t.value {
		case "attachment", "attachments":
			return len(m.Attachments) > 0
		}
		return false
	case fieldAfter:
		return !m.Created.Before(t.time)
	case fieldBefore:
		return m.Created.Before(t.time)
	case fieldLarger:
		return m.Size > t.size
	case fieldSmaller:
		return m.Size < t.size
	case fieldTag:
		return false // no tags
	}
	return containsFold(m.Subject, t.value) ||
		(m.From != nil && addrContains(*m.From, t.value)) ||
		addrsContain(m.To, t.value) || addrsContain(m.Cc, t.value) || addrsContain(m.Bcc, t.value) ||
		containsFold(m.MessageID, t.value) ||
		partsContain(m.Attachments, t.value) ||
		containsFold(m.Text, t.value) || (m.Text == "" && containsFold(m.HTML, t.value))
}

func addrContains(a Address, v string) bool {
	return containsFold(a.Address, v) || containsFold(a.Name, v)
}

func addrsContain(list []Address, v string) bool {
	for _, a := range list {
		if addrContains(a, v) {
			return true
		}
	}
	return false
}

func partsContain(list []Part, v string) bool {
	for _, p := range list {
		if containsFold(p.FileName, v) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains sub, which is lower case,
// ignoring case. It does not allocate when both are ASCII.
func containsFold(s, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	if !isASCII(sub) || !isASCII(s) {
		return strings.Contains(strings.ToLower(s), sub)
	}
	first, alt := sub[0], sub[0]
	if 'a' <= first && first <= 'z' {
		alt = first - ('a' - 'A')
	}
	for i := 0; i+n <= len(s); i++ {
		if c := s[i]; (c == first || c == alt) && equalLowerASCII(s[i+1:i+n], sub[1:]) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func equalLowerASCII(s, lower string) bool {
	for i := 0; i < len(lower); i++ {
		if lowerASCII(s[i]) != lower[i] {
			return false
		}
	}
	return true
}
