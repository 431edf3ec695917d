package imapfront

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// syntaxError is a malformed argument of one of the layer's commands,
// answered "BAD [CLIENTBUG] Syntax error: ..." like go-imap's.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return "imapfront: syntax error: " + e.msg }

func syntaxErr(msg string) error { return &syntaxError{msg: msg} }

// argReader reads the arguments of one of the layer's commands: the
// command's bytes with literals inlined, as readOwn collected them.
type argReader struct {
	b   []byte
	pos int
}

func newArgReader(raw []byte, skip int) *argReader {
	return &argReader{b: raw, pos: min(skip, len(raw))}
}

func (a *argReader) peek() byte {
	if a.pos >= len(a.b) {
		return 0
	}
	return a.b[a.pos]
}

// sp expects one space.
func (a *argReader) sp() error {
	if a.peek() != ' ' {
		return syntaxErr("expected SP")
	}
	a.pos++
	return nil
}

// end expects the CRLF that ends the command.
func (a *argReader) end() error {
	rest := string(a.b[a.pos:])
	if rest != "\r\n" && rest != "\n" {
		return syntaxErr("expected CRLF")
	}
	a.pos = len(a.b)
	return nil
}

// atEnd reports whether only the CRLF is left.
func (a *argReader) atEnd() bool {
	return a.peek() == '\r' || a.peek() == '\n' || a.pos >= len(a.b)
}

func (a *argReader) special(c byte) error {
	if a.peek() != c {
		return syntaxErr("expected '" + string(c) + "'")
	}
	a.pos++
	return nil
}

// atomWith reads 1* chars accepted by ok.
func (a *argReader) atomWith(ok func(byte) bool) (string, error) {
	start := a.pos
	for a.pos < len(a.b) && ok(a.b[a.pos]) {
		a.pos++
	}
	if a.pos == start {
		return "", syntaxErr("expected atom")
	}
	return string(a.b[start:a.pos]), nil
}

func (a *argReader) atom() (string, error) { return a.atomWith(isAtomChar) }

// astring is an atom (with ']' allowed), a quoted string or a literal.
func (a *argReader) astring() (string, error) {
	switch a.peek() {
	case '"', '{', '~':
		return a.str()
	}
	return a.atomWith(func(c byte) bool { return isAtomChar(c) || c == ']' })
}

// nstring is a string or NIL.
func (a *argReader) nstring() (s string, isNil bool, err error) {
	if c := a.peek(); c == 'N' || c == 'n' {
		word, err := a.atom()
		if err != nil || !strings.EqualFold(word, "NIL") {
			return "", false, syntaxErr("expected string or NIL")
		}
		return "", true, nil
	}
	s, err = a.str()
	return s, false, err
}

// str is a quoted string or a literal.
func (a *argReader) str() (string, error) {
	switch a.peek() {
	case '"':
		return a.quoted()
	case '{', '~':
		return a.literal()
	}
	return "", syntaxErr("expected string")
}

func (a *argReader) quoted() (string, error) {
	a.pos++ // the opening quote
	var b strings.Builder
	for a.pos < len(a.b) {
		c := a.b[a.pos]
		a.pos++
		switch c {
		case '"':
			if !utf8.ValidString(b.String()) {
				return "", syntaxErr("quoted string is not UTF-8")
			}
			return b.String(), nil
		case '\\':
			if a.pos >= len(a.b) || (a.b[a.pos] != '"' && a.b[a.pos] != '\\') {
				return "", syntaxErr("bad escape in quoted string")
			}
			b.WriteByte(a.b[a.pos])
			a.pos++
		case '\r', '\n', 0:
			return "", syntaxErr("unterminated quoted string")
		default:
			b.WriteByte(c)
		}
	}
	return "", syntaxErr("unterminated quoted string")
}

// literal reads "{n}" or "{n+}" (or literal8's "~{n}"), CRLF and n octets.
func (a *argReader) literal() (string, error) {
	if a.peek() == '~' {
		a.pos++
	}
	if err := a.special('{'); err != nil {
		return "", err
	}
	digits, err := a.atomWith(func(c byte) bool { return c >= '0' && c <= '9' })
	if err != nil {
		return "", syntaxErr("expected literal size")
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return "", syntaxErr("bad literal size")
	}
	if a.peek() == '+' {
		a.pos++
	}
	if err := a.special('}'); err != nil {
		return "", err
	}
	if a.peek() == '\r' {
		a.pos++
	}
	if err := a.special('\n'); err != nil {
		return "", syntaxErr("expected CRLF after literal size")
	}
	if n > len(a.b)-a.pos {
		return "", syntaxErr("short literal")
	}
	s := string(a.b[a.pos : a.pos+n])
	a.pos += n
	return s, nil
}

// number reads a non-negative decimal number.
func (a *argReader) number64() (int64, error) {
	digits, err := a.atomWith(func(c byte) bool { return c >= '0' && c <= '9' })
	if err != nil {
		return 0, syntaxErr("expected number")
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, syntaxErr("number too large")
	}
	return n, nil
}

// mailbox reads a mailbox name: INBOX in any case, or else modified UTF-7
// (RFC 3501 §5.1.3), which go-imap also decodes. It returns the name
// decoded and as the client spelled it.
func (a *argReader) mailbox() (name, spelled string, err error) {
	spelled, err = a.astring()
	if err != nil {
		return "", "", err
	}
	if strings.EqualFold(spelled, "INBOX") {
		return "INBOX", spelled, nil
	}
	name, err = decodeUTF7(spelled)
	if err != nil {
		return "", "", syntaxErr("bad mailbox name: " + err.Error())
	}
	return name, spelled, nil
}

var utf7Encoding = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// decodeUTF7 decodes IMAP's modified UTF-7.
func decodeUTF7(s string) (string, error) {
	if !strings.Contains(s, "&") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errors.New("non-ASCII octet in modified UTF-7")
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", errors.New("unterminated modified UTF-7 shift")
		}
		enc := s[i+1 : i+1+j]
		i += j + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := utf7Encoding.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", errors.New("bad modified UTF-7 shift")
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for _, r := range utf16.Decode(units) {
			if r == utf8.RuneError || r < 0x80 {
				return "", errors.New("bad character in modified UTF-7")
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// seqSet parses a sequence set; "*" is 0, as in go-imap.
func parseNumRanges(s string, add func(start, stop uint32)) error {
	if s == "" {
		return syntaxErr("empty sequence set")
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := seqNumber(lo)
		if err != nil {
			return err
		}
		b := a
		if isRange {
			if b, err = seqNumber(hi); err != nil {
				return err
			}
		}
		add(a, b)
	}
	return nil
}

func seqNumber(s string) (uint32, error) {
	if s == "*" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || (len(s) > 1 && s[0] == '0') {
		return 0, syntaxErr("bad sequence number " + strconv.Quote(s))
	}
	return uint32(n), nil
}

// maxSearchDepth bounds NOT, OR and parentheses, as deep nesting would
// only exhaust the stack.
const maxSearchDepth = 100

// searchKeys reads 1*(search-key) separated by spaces, up to the CRLF,
// into criteria that the SEARCH matcher (search.go) evaluates.
func (a *argReader) searchKeys() (*imap.SearchCriteria, error) {
	var c imap.SearchCriteria
	for {
		if err := a.searchKey(&c, 0); err != nil {
			return nil, err
		}
		if a.atEnd() {
			return &c, nil
		}
		if err := a.sp(); err != nil {
			return nil, err
		}
	}
}

func (a *argReader) searchKey(c *imap.SearchCriteria, depth int) error {
	if depth > maxSearchDepth {
		return syntaxErr("search keys nested too deeply")
	}
	if a.peek() == '(' {
		a.pos++
		for {
			if err := a.searchKey(c, depth+1); err != nil {
				return err
			}
			if a.peek() == ')' {
				a.pos++
				return nil
			}
			if err := a.sp(); err != nil {
				return err
			}
		}
	}
	word, err := a.atomWith(func(ch byte) bool { return ch == '*' || isAtomChar(ch) })
	if err != nil {
		return syntaxErr("expected search key")
	}
	key := strings.ToUpper(word)
	argString := func() (string, error) {
		if err := a.sp(); err != nil {
			return "", err
		}
		return a.astring()
	}
	switch key {
	case "ALL":
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "RECENT", "SEEN":
		c.Flag = append(c.Flag, systemFlag(key))
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		c.NotFlag = append(c.NotFlag, systemFlag(key[2:]))
	case "NEW":
		c.Flag = append(c.Flag, `\Recent`)
		c.NotFlag = append(c.NotFlag, imap.FlagSeen)
	case "OLD":
		c.NotFlag = append(c.NotFlag, `\Recent`)
	case "KEYWORD", "UNKEYWORD":
		if err := a.sp(); err != nil {
			return err
		}
		flag, err := a.atom()
		if err != nil {
			return syntaxErr("expected keyword")
		}
		if key == "KEYWORD" {
			c.Flag = append(c.Flag, imap.Flag(flag))
		} else {
			c.NotFlag = append(c.NotFlag, imap.Flag(flag))
		}
	case "BCC", "CC", "FROM", "SUBJECT", "TO":
		v, err := argString()
		if err != nil {
			return err
		}
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: key[:1] + strings.ToLower(key[1:]), Value: v})
	case "HEADER":
		field, err := argString()
		if err != nil {
			return err
		}
		v, err := argString()
		if err != nil {
			return err
		}
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: field, Value: v})
	case "BODY", "TEXT":
		v, err := argString()
		if err != nil {
			return err
		}
		if key == "BODY" {
			c.Body = append(c.Body, v)
		} else {
			c.Text = append(c.Text, v)
		}
	case "SINCE", "BEFORE", "ON", "SENTSINCE", "SENTBEFORE", "SENTON":
		s, err := argString()
		if err != nil {
			return err
		}
		t, err := time.Parse("2-Jan-2006", s)
		if err != nil {
			return syntaxErr("bad date " + strconv.Quote(s))
		}
		var d imap.SearchCriteria
		switch key {
		case "SINCE":
			d.Since = t
		case "BEFORE":
			d.Before = t
		case "ON":
			d.Since, d.Before = t, t.Add(24*time.Hour)
		case "SENTSINCE":
			d.SentSince = t
		case "SENTBEFORE":
			d.SentBefore = t
		case "SENTON":
			d.SentSince, d.SentBefore = t, t.Add(24*time.Hour)
		}
		c.And(&d)
	case "LARGER", "SMALLER":
		if err := a.sp(); err != nil {
			return err
		}
		n, err := a.number64()
		if err != nil {
			return err
		}
		if key == "LARGER" {
			c.And(&imap.SearchCriteria{Larger: n})
		} else {
			c.And(&imap.SearchCriteria{Smaller: n})
		}
	case "UID":
		if err := a.sp(); err != nil {
			return err
		}
		s, err := a.atomWith(func(ch byte) bool { return ch == '*' || ch == '$' || isAtomChar(ch) })
		if err != nil {
			return syntaxErr("expected UID set")
		}
		if s == "$" {
			c.UID = append(c.UID, imap.SearchRes())
			break
		}
		var set imap.UIDSet
		if err := parseNumRanges(s, func(x, y uint32) { set.AddRange(imap.UID(x), imap.UID(y)) }); err != nil {
			return err
		}
		c.UID = append(c.UID, set)
	case "NOT":
		if err := a.sp(); err != nil {
			return err
		}
		var not imap.SearchCriteria
		if err := a.searchKey(&not, depth+1); err != nil {
			return err
		}
		c.Not = append(c.Not, not)
	case "OR":
		var or [2]imap.SearchCriteria
		for i := range or {
			if err := a.sp(); err != nil {
				return err
			}
			if err := a.searchKey(&or[i], depth+1); err != nil {
				return err
			}
		}
		c.Or = append(c.Or, or)
	case "$":
		c.UID = append(c.UID, imap.SearchRes())
	default:
		if key[0] != '*' && (key[0] < '0' || key[0] > '9') {
			return syntaxErr("unknown search key " + strconv.Quote(word))
		}
		var set imap.SeqSet
		if err := parseNumRanges(word, set.AddRange); err != nil {
			return err
		}
		c.SeqNum = append(c.SeqNum, set)
	}
	return nil
}

func systemFlag(key string) imap.Flag {
	return imap.Flag(`\` + key[:1] + strings.ToLower(key[1:]))
}
