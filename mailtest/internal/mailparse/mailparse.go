// Package mailparse decodes received messages into the pieces tests assert
// on: addresses, subject, text and HTML bodies, attachments and links.
//
// It is deliberately forgiving. Test suites feed it whatever the code under
// test produced, and a half-broken message should still show what was in it
// rather than fail the assertion with a parse error.
package mailparse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // registers ISO-8859-*, Windows-125x, etc.
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// maxDepth bounds multipart and message nesting so hostile input cannot
// exhaust the stack.
const maxDepth = 32

// Parsed is a decoded message.
type Parsed struct {
	// Header is the top-level header, with raw (undecoded) field values.
	Header mail.Header
	// From, To, Cc and ReplyTo are the parsed address lists; entries that
	// could not be parsed are skipped or salvaged, never fatal.
	From, To, Cc, ReplyTo []*mail.Address
	// Subject is the subject with RFC 2047 encoded words decoded.
	Subject string
	// Date is the Date field, or the zero time if it is missing or invalid.
	Date time.Time
	// MessageID is the Message-ID without the angle brackets.
	MessageID string
	// Text is the first text/plain body part that is not an attachment,
	// transfer-decoded and converted to UTF-8 with CRLF turned into LF.
	Text string
	// HTML is the first text/html body part, decoded like Text.
	HTML string
	// Attachments are the attached files and inline non-text parts, in
	// message order.
	Attachments []Attachment
	// Links are the href targets of <a> and <area> elements in HTML
	// (entity-decoded, deduplicated, without "#fragment" links) or, when
	// the message has no HTML body, the http(s) URLs found in Text.
	Links []string
}

// Attachment is a file attached to the message or an inline non-text part.
type Attachment struct {
	// Filename is the decoded file name, or empty if the part has none.
	Filename string
	// ContentType is the lower-case media type without parameters.
	ContentType string
	// ContentID is the Content-ID without angle brackets, for cid: references.
	ContentID string
	// Inline reports whether the part is meant to be displayed in the body
	// (Content-Disposition inline, or a Content-ID without a disposition).
	Inline bool
	// Data is the transfer-decoded content, byte for byte as sent.
	Data []byte
}

// Parse decodes raw, an RFC 5322 message with LF or CRLF line endings.
//
// Parse never gives up on a partly broken message: a bad part, an unknown
// charset or a wrong multipart boundary costs only that piece. The returned
// *Parsed is never nil. The error is non-nil only when no header field at
// all could be read, in which case the input is not a message; whatever
// could be salvaged from it as a body is still filled in.
func Parse(raw []byte) (*Parsed, error) {
	h, body, err := readHeader(raw)
	p := &Parsed{Header: mail.Header{Header: message.Header{Header: h}}}
	p.fillHeaderFields()

	w := walker{p: p}
	w.entity(h, body, 0)

	if strings.TrimSpace(p.HTML) != "" {
		p.Links = htmlLinks(p.HTML)
	} else {
		p.Links = textLinks(p.Text)
	}
	if h.Len() == 0 {
		if err == nil {
			err = errors.New("no header fields")
		}
		return p, fmt.Errorf("mailparse: not a message: %w", err)
	}
	return p, nil
}

// readHeader splits raw into its header and body. When the header is
// malformed it keeps the valid fields before the first bad line and treats
// the rest as body, which is how a lenient MUA would display it. The error
// reports why the header was cut short, if it was.
func readHeader(raw []byte) (textproto.Header, []byte, error) {
	// An mbox "From " separator line often leads stored test fixtures.
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		} else {
			raw = nil
		}
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err == nil || errors.Is(err, io.EOF) {
		// EOF: a header-only message without the blank line, or empty input.
		rest, _ := io.ReadAll(br)
		return h, rest, nil
	}
	end := validHeaderPrefix(raw)
	h2, err2 := textproto.ReadHeader(bufio.NewReader(io.MultiReader(
		bytes.NewReader(raw[:end]), strings.NewReader("\r\n"))))
	if err2 != nil && !errors.Is(err2, io.EOF) {
		return textproto.Header{}, raw, fmt.Errorf("read header: %w", err)
	}
	return h2, raw[end:], fmt.Errorf("read header: %w", err)
}

// validHeaderPrefix returns the length of the longest prefix of raw made of
// well-formed header lines (a field name and colon, or a continuation line).
func validHeaderPrefix(raw []byte) int {
	off := 0
	for off < len(raw) {
		line := raw[off:]
		n := bytes.IndexByte(line, '\n')
		if n < 0 {
			n = len(line)
		} else {
			n++
		}
		line = bytes.TrimRight(line[:n], "\r\n")
		if len(line) == 0 {
			return off
		}
		if line[0] == ' ' || line[0] == '\t' {
			if off == 0 {
				return 0
			}
		} else if !isFieldLine(line) {
			return off
		}
		off += n
	}
	return off
}

// isFieldLine reports whether line starts with an RFC 5322 field name and a
// colon (trailing spaces before the colon are tolerated, as in the wild).
func isFieldLine(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// fillHeaderFields decodes the convenience fields from p.Header.
func (p *Parsed) fillHeaderFields() {
	h := &p.Header
	p.From = addressList(h, "From")
	p.To = addressList(h, "To")
	p.Cc = addressList(h, "Cc")
	p.ReplyTo = addressList(h, "Reply-To")

	// On a decoding error Subject still returns the raw value, which beats
	// an empty subject.
	subj, _ := h.Subject()
	p.Subject = toUTF8(subj, "")

	if d, err := h.Date(); err == nil {
		p.Date = d
	}

	if id, err := h.MessageID(); err == nil {
		p.MessageID = id
	} else {
		p.MessageID = strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>")
	}
}

// addressList parses an address field, falling back to entry-by-entry
// salvage when the list as a whole is not valid RFC 5322.
func addressList(h *mail.Header, key string) []*mail.Address {
	if list, err := h.AddressList(key); err == nil {
		return list
	}
	var out []*mail.Address
	for _, item := range splitAddressList(h.Get(key)) {
		if a, err := mail.ParseAddress(item); err == nil {
			out = append(out, a)
		} else if a := salvageAddress(item); a != nil {
			out = append(out, a)
		}
	}
	return out
}

// splitAddressList splits on commas that are outside quotes, comments and
// angle brackets.
func splitAddressList(s string) []string {
	var (
		out               []string
		quoted            bool
		angle, paren, beg int
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			angle++
		case c == '>' && angle > 0:
			angle--
		case c == '(':
			paren++
		case c == ')' && paren > 0:
			paren--
		case c == ',' && angle == 0 && paren == 0:
			out = append(out, s[beg:i])
			beg = i + 1
		}
	}
	out = append(out, s[beg:])
	trimmed := out[:0]
	for _, item := range out {
		if item = strings.TrimSpace(item); item != "" {
			trimmed = append(trimmed, item)
		}
	}
	return trimmed
}

// salvageAddress extracts something address-like from an entry that
// net/mail rejected, such as `Bob Smith <bob@exa mple>` or an unquoted
// display name with specials.
func salvageAddress(item string) *mail.Address {
	name, addr := "", item
	if lt := strings.LastIndexByte(item, '<'); lt >= 0 {
		gt := strings.IndexByte(item[lt:], '>')
		if gt < 0 {
			return nil
		}
		addr = item[lt+1 : lt+gt]
		name = strings.Trim(strings.TrimSpace(item[:lt]), `"`)
	}
	addr = strings.TrimSpace(addr)
	if !strings.Contains(addr, "@") || strings.ContainsAny(addr, " \t<>") {
		return nil
	}
	if decoded, err := wordDecoder.DecodeHeader(name); err == nil {
		name = decoded
	}
	return &mail.Address{Name: toUTF8(name, ""), Address: addr}
}

// walker accumulates the body parts of one message into p.
type walker struct {
	p *Parsed
}

// entity processes one MIME entity (the message itself or a part).
func (w *walker) entity(h textproto.Header, body []byte, depth int) {
	ct := parseParams(h.Get("Content-Type"))
	if strings.HasPrefix(ct.value, "multipart/") && depth < maxDepth {
		if parts := splitMultipart(body, ct.params["boundary"]); len(parts) > 0 {
			for _, part := range parts {
				w.entity(part.header, part.body, depth+1)
			}
			return
		}
		// No part could be found even with a guessed boundary: show the
		// raw body as text rather than lose it.
		ct = params{value: "text/plain"}
	}
	w.leaf(h, ct, body)
}

// leaf classifies and stores a non-multipart entity.
func (w *walker) leaf(h textproto.Header, ct params, body []byte) {
	p := w.p
	mediaType := ct.value
	if mediaType == "" || !strings.Contains(mediaType, "/") {
		mediaType = "text/plain" // RFC 2045 section 5.2 default
	}
	disp := parseParams(h.Get("Content-Disposition"))
	filename := decodeFilename(disp.params["filename"])
	if filename == "" {
		filename = decodeFilename(ct.params["name"])
	}
	data := decodeTransfer(h.Get("Content-Transfer-Encoding"), body)

	isBody := mediaType == "text/plain" || mediaType == "text/html"
	if isBody && disp.value != "attachment" {
		text := normalizeNewlines(decodeCharset(ct.params["charset"], data))
		switch {
		case mediaType == "text/plain" && p.Text == "":
			p.Text = text
			return
		case mediaType == "text/html" && p.HTML == "":
			p.HTML = text
			return
		case filename == "":
			// A further unnamed text part (a list footer, say) is body
			// text, not a file; only the first one is kept.
			return
		}
	}

	cid := strings.Trim(strings.TrimSpace(h.Get("Content-Id")), "<>")
	p.Attachments = append(p.Attachments, Attachment{
		Filename:    filename,
		ContentType: mediaType,
		ContentID:   cid,
		Inline:      disp.value == "inline" || (disp.value == "" && cid != ""),
		Data:        data,
	})
}

// part is one body part of a multipart entity.
type part struct {
	header textproto.Header
	body   []byte
}

// splitMultipart returns the parts of a multipart body. If the declared
// boundary yields nothing it retries with a boundary guessed from the body,
// since generators that mangle the Content-Type are not rare.
func splitMultipart(body []byte, boundary string) []part {
	if parts := readParts(body, boundary); len(parts) > 0 {
		return parts
	}
	if guess := guessBoundary(body); guess != "" && guess != boundary {
		return readParts(body, guess)
	}
	return nil
}

// readParts reads parts until the closing boundary or the first error,
// keeping everything read before the error.
func readParts(body []byte, boundary string) []part {
	if boundary == "" {
		return nil
	}
	mr := textproto.NewMultipartReader(bytes.NewReader(body), boundary)
	var parts []part
	for {
		p, err := mr.NextPart()
		if err != nil {
			return parts
		}
		data, err := io.ReadAll(p)
		parts = append(parts, part{header: p.Header, body: data})
		if err != nil {
			// Truncated message: the part so far is kept, nothing follows.
			return parts
		}
	}
}

// guessBoundary returns the boundary of the first line that looks like a
// delimiter ("--xyz") and occurs again later, or "" if there is none. Only
// a few candidates are tried so hostile input stays linear.
func guessBoundary(body []byte) string {
	const maxCandidates = 8
	lines := bytes.Split(body, []byte("\n"))
	tried := 0
	for i, line := range lines {
		line = bytes.TrimRight(line, " \t\r")
		if len(line) < 3 || len(line) > 72 || !bytes.HasPrefix(line, []byte("--")) {
			continue
		}
		b := bytes.TrimSuffix(line[2:], []byte("--"))
		if len(b) == 0 {
			continue
		}
		for _, other := range lines[i+1:] {
			if bytes.HasPrefix(other, line[:2+len(b)]) {
				return string(b)
			}
		}
		if tried++; tried == maxCandidates {
			break
		}
	}
	return ""
}

// toUTF8 returns s if it is valid UTF-8, and otherwise decodes it from
// fallback, or Windows-1252 when fallback is empty: raw 8-bit headers and
// mislabelled bodies are almost always Latin-1 or its Windows superset.
func toUTF8(s, fallback string) string {
	if utf8.ValidString(s) {
		return s
	}
	if fallback == "" {
		fallback = "windows-1252"
	}
	if out, err := convertCharset(fallback, []byte(s)); err == nil {
		return out
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// normalizeNewlines turns CRLF (and lone CR) into LF so tests can compare
// bodies against Go string literals.
func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}
