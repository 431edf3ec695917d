package imapfront

import (
	"strings"

	"github.com/mailrig/mailrig/memstore"
)

// baseSubject extracts the base subject of RFC 5256 §2.1, step by step,
// from a Subject field value. isReply says whether the subject marked a
// reply or forward: step 2 removed "(fwd)", step 3 a "Re:"/"Fw:"/"Fwd:"
// leader, or step 6 a "[fwd: ...]" wrapper; REFERENCES threading (§3)
// needs it.
func baseSubject(subject string) (base string, isReply bool) {
	// (1) Decode encoded words; tabs and continuations become spaces, runs
	// of spaces one space.
	if strings.Contains(subject, "=?") {
		if dec, err := wordDecoder.DecodeHeader(subject); err == nil {
			subject = dec
		}
	}
	s := collapseSpaces(subject)
	for {
		// (2) Remove trailing "(fwd)" and WSP, as often as they occur.
		for {
			if n := len(s); n >= 5 && strings.EqualFold(s[n-5:], "(fwd)") {
				s, isReply = s[:n-5], true
			} else if strings.HasSuffix(s, " ") {
				s = s[:len(s)-1]
			} else {
				break
			}
		}
		// (5) Repeat (3) and (4) until neither matches.
		for {
			changed := false
			// (3) Remove leading subj-leader: *subj-blob subj-refwd, or WSP.
			for {
				if strings.HasPrefix(s, " ") {
					s, changed = s[1:], true
					continue
				}
				if n := leaderLen(s); n > 0 {
					s, changed, isReply = s[n:], true, true
					continue
				}
				break
			}
			// (4) Remove a leading subj-blob if a non-empty subj-base
			// remains.
			if n := blobLen(s); n > 0 && n < len(s) {
				s, changed = s[n:], true
			}
			if !changed {
				break
			}
		}
		// (6) "[fwd:" ... "]" around the rest: remove, repeat from (2).
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && strings.HasSuffix(s, "]") {
			s, isReply = s[5:len(s)-1], true
			continue
		}
		return s, isReply
	}
}

// collapseSpaces turns tabs, CR and LF into spaces and runs of spaces into
// one.
func collapseSpaces(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// blobLen is the length of a subj-blob at the start of s:
// "[" *BLOBCHAR "]" *WSP, where BLOBCHAR is any octet but "[" and "]".
// It is 0 if there is none.
func blobLen(s string) int {
	if !strings.HasPrefix(s, "[") {
		return 0
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return 0
	}
	n := end + 2
	for n < len(s) && s[n] == ' ' {
		n++
	}
	return n
}

// leaderLen is the length of *subj-blob subj-refwd at the start of s, where
// subj-refwd is ("re" / "fw" ["d"]) *WSP [subj-blob] ":"; 0 if there is
// none. Blobs start with "[" and subj-refwd with a letter, so taking blobs
// greedily loses no match.
func leaderLen(s string) int {
	n := 0
	for {
		b := blobLen(s[n:])
		if b == 0 {
			break
		}
		n += b
	}
	rest := s[n:]
	var word int
	switch {
	case hasPrefixFold(rest, "re"):
		word = 2
	case hasPrefixFold(rest, "fwd"):
		word = 3
	case hasPrefixFold(rest, "fw"):
		word = 2
	default:
		return 0
	}
	if m := refwdTail(rest[word:]); m > 0 {
		return n + word + m
	}
	return 0 // "fwd" that fails cannot match as "fw": "d" starts no tail
}

// refwdTail matches *WSP [subj-blob] ":" and returns its length, 0 if none.
func refwdTail(s string) int {
	n := 0
	for n < len(s) && s[n] == ' ' {
		n++
	}
	n += blobLen(s[n:])
	if n < len(s) && s[n] == ':' {
		return n + 1
	}
	return 0
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

type baseSubjectKey struct{}

// subjectInfo is a message's base subject, upper-cased for the
// i;ascii-casemap comparison, and whether its subject marks a reply or
// forward.
type subjectInfo struct {
	key     string
	isReply bool
}

// messageSubject computes a message's subjectInfo once.
func messageSubject(m *memstore.Message) subjectInfo {
	return m.Cached(baseSubjectKey{}, func() any {
		h := m.Header()
		base, reply := baseSubject(h.Get("Subject"))
		return subjectInfo{key: asciiUpper(base), isReply: reply}
	}).(subjectInfo)
}

// asciiUpper upper-cases ASCII letters only: the i;ascii-casemap collation
// RFC 5256 sorts with.
func asciiUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
