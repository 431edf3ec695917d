package mailparse

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"

	"github.com/emersion/go-message/charset"
)

// wordDecoder decodes RFC 2047 encoded words in any charset go-message knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// params is a parsed header value with parameters, such as Content-Type.
type params struct {
	value  string            // lower-case, e.g. "text/plain" or "attachment"
	params map[string]string // keys lower-case
}

// parseParams parses a Content-Type or Content-Disposition value. It uses
// mime.ParseMediaType (which handles RFC 2231) and, when that rejects the
// value, a lenient split so a stray quote does not lose the charset or
// boundary.
func parseParams(v string) params {
	v = strings.TrimSpace(v)
	if v == "" {
		return params{params: map[string]string{}}
	}
	if mt, ps, err := mime.ParseMediaType(v); err == nil {
		return params{value: mt, params: ps}
	}
	fields := strings.Split(v, ";")
	out := params{
		value:  strings.ToLower(strings.TrimSpace(fields[0])),
		params: map[string]string{},
	}
	for _, f := range fields[1:] {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.Trim(strings.TrimSpace(val), `"'`)
		if _, dup := out.params[k]; k != "" && !dup {
			out.params[k] = val
		}
	}
	return out
}

// decodeFilename decodes RFC 2047 words that many clients put in filename
// parameters despite RFC 2231, and makes the result valid UTF-8.
func decodeFilename(s string) string {
	if strings.Contains(s, "=?") {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			s = d
		}
	}
	return toUTF8(strings.TrimSpace(s), "")
}

// decodeTransfer undoes a Content-Transfer-Encoding. It never fails: bad
// input decodes as far as possible and unknown encodings pass through.
func decodeTransfer(enc string, body []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return lenientQP(body)
		}
		return out
	case "base64":
		return lenientBase64(body)
	default:
		return body
	}
}

// lenientQP decodes quoted-printable the way mail clients do: valid escapes
// and soft line breaks are decoded, anything else is kept literally.
func lenientQP(body []byte) []byte {
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		rest := body[i+1:]
		if len(rest) >= 2 && isHex(rest[0]) && isHex(rest[1]) {
			out = append(out, unhex(rest[0])<<4|unhex(rest[1]))
			i += 2
			continue
		}
		// Soft line break: "=" then optional whitespace then end of line.
		j := 0
		for j < len(rest) && (rest[j] == ' ' || rest[j] == '\t') {
			j++
		}
		switch {
		case j < len(rest) && rest[j] == '\n':
			i += j + 1
		case j+1 < len(rest) && rest[j] == '\r' && rest[j+1] == '\n':
			i += j + 2
		case j == len(rest):
			i += j
		default:
			out = append(out, c)
		}
	}
	return out
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// lenientBase64 decodes base64 ignoring whitespace and characters outside
// the alphabet, and decodes as much as it can of truncated input.
func lenientBase64(body []byte) []byte {
	clean := make([]byte, 0, len(body))
scan:
	for _, c := range body {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			clean = append(clean, c)
		case c == '=':
			// Padding ends the data; some encoders concatenate padded
			// chunks, which we cannot decode reliably anyway.
			break scan
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1] // a lone trailing sextet carries no byte
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

// decodeCharset converts a text body in the declared charset to UTF-8.
// Undeclared or unknown charsets are guessed: UTF-8 if valid, else
// Windows-1252.
func decodeCharset(cs string, data []byte) string {
	cs = strings.ToLower(strings.TrimSpace(cs))
	switch cs {
	case "", "us-ascii", "ascii", "utf-8", "utf8":
		if cs == "utf-8" || cs == "utf8" {
			// Declared UTF-8 with bad bytes is more likely damaged UTF-8
			// than Latin-1.
			return strings.ToValidUTF8(string(data), "\uFFFD")
		}
		return toUTF8(string(data), "")
	}
	if out, err := convertCharset(cs, data); err == nil {
		return out
	}
	return toUTF8(string(data), "")
}

// convertCharset decodes data from the named charset to valid UTF-8.
func convertCharset(cs string, data []byte) (string, error) {
	r, err := charset.Reader(cs, bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), nil
}
