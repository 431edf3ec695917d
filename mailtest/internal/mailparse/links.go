package mailparse

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// htmlLinks returns the href of every <a> and <area> element in doc,
// in document order. Values are entity-decoded and trimmed; empty values and
// same-page "#fragment" links are skipped, and duplicates keep their first
// position. Relative and non-http links (mailto:, tel:) are kept as written.
func htmlLinks(doc string) []string {
	var links []string
	seen := map[string]bool{}
	z := html.NewTokenizer(strings.NewReader(doc))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			// io.EOF or a tokenizer error: either way there is no more
			// input it can make sense of.
			return links
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		if !hasAttr || (string(name) != "a" && string(name) != "area") {
			continue
		}
		for more := true; more; {
			var key, val []byte
			key, val, more = z.TagAttr()
			if string(key) != "href" {
				continue
			}
			href := cleanHref(string(val))
			if href != "" && !strings.HasPrefix(href, "#") && !seen[href] {
				seen[href] = true
				links = append(links, href)
			}
			break // browsers use the first href attribute only
		}
	}
}

// cleanHref trims the surrounding whitespace and drops tabs and newlines
// inside the value, as the URL parser in browsers does; they show up when
// generators wrap long attributes.
func cleanHref(v string) string {
	v = strings.TrimSpace(v)
	if strings.ContainsAny(v, "\t\r\n") {
		v = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, v)
	}
	return v
}

// textLinks returns the http and https URLs in plain text, in order
// of appearance and without duplicates.
//
// A URL ends at whitespace, a control character or one of <>"`. Trailing
// sentence punctuation is then dropped, as is a closing ), ] or } that has
// no opening partner inside the URL, so "(see https://x.test/a_(b))."
// yields "https://x.test/a_(b)".
func textLinks(text string) []string {
	var links []string
	seen := map[string]bool{}
	lower := strings.ToLower(text)
	for i := 0; i < len(text); {
		start := nextScheme(lower, i)
		if start < 0 {
			break
		}
		end := start
		for end < len(text) {
			r, size := utf8.DecodeRuneInString(text[end:])
			if r == utf8.RuneError && size <= 1 || unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("<>\"`", r) {
				break
			}
			end += size
		}
		u := trimURL(text[start:end])
		if hasHost(u) && !seen[u] {
			seen[u] = true
			links = append(links, u)
		}
		i = end
		if i == start {
			i++
		}
	}
	return links
}

// nextScheme returns the index in lower of the next "http://" or "https://"
// at or after from that is not glued to a preceding word character, or -1.
func nextScheme(lower string, from int) int {
	for {
		j := strings.Index(lower[from:], "http")
		if j < 0 {
			return -1
		}
		j += from
		rest := lower[j+4:]
		if strings.HasPrefix(rest, "://") || strings.HasPrefix(rest, "s://") {
			if j == 0 || !isWordByte(lower[j-1]) {
				return j
			}
		}
		from = j + 4
	}
}

func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c >= utf8.RuneSelf
}

// trimURL removes trailing punctuation that belongs to the surrounding
// sentence rather than the URL.
func trimURL(u string) string {
	for u != "" {
		last := u[len(u)-1]
		switch last {
		case '.', ',', ';', ':', '!', '?', '\'', '*', '>':
			u = u[:len(u)-1]
			continue
		case ')', ']', '}':
			open := map[byte]byte{')': '(', ']': '[', '}': '{'}[last]
			if strings.Count(u, string(open)) < strings.Count(u, string(last)) {
				u = u[:len(u)-1]
				continue
			}
		}
		return u
	}
	return u
}

// hasHost reports whether u has something after the scheme separator.
func hasHost(u string) bool {
	_, rest, ok := strings.Cut(u, "://")
	return ok && rest != "" && rest[0] != '/'
}
