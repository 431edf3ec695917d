package transcript

// tailLen is how many final bytes of a line lineBuf keeps even when the
// line is longer than it stores: enough for an IMAP literal marker.
const tailLen = 24

// lineBuf assembles one direction's current line without allocating per
// byte: it keeps the first max bytes, the count, and the last bytes.
type lineBuf struct {
	b    []byte
	n    int // bytes in the line so far, possibly more than len(b)
	tail [tailLen]byte
	tl   int
}

func (l *lineBuf) write(p []byte, max int) {
	l.n += len(p)
	if room := max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	if len(p) >= tailLen {
		copy(l.tail[:], p[len(p)-tailLen:])
		l.tl = tailLen
		return
	}
	if keep := min(l.tl, tailLen-len(p)); keep > 0 {
		copy(l.tail[:keep], l.tail[l.tl-keep:l.tl])
		l.tl = keep
	} else {
		l.tl = 0
	}
	l.tl += copy(l.tail[l.tl:], p)
}

func (l *lineBuf) writeString(s string, max int) {
	// Rendered literals are short; the conversion is not on a hot path.
	l.write([]byte(s), max)
}

func (l *lineBuf) empty() bool { return l.n == 0 }

func (l *lineBuf) reset() {
	l.b = l.b[:0]
	l.n = 0
	l.tl = 0
}

// last returns the line's final bytes (at most tailLen).
func (l *lineBuf) last() []byte { return l.tail[:l.tl] }

// text returns the line without its line ending, and the full length of
// the line without its line ending if it was longer than stored (else 0).
func (l *lineBuf) text() (string, int) {
	if len(l.b) == l.n {
		return string(trimEOL(l.b)), 0
	}
	full := l.n - (len(l.last()) - len(trimEOL(l.last())))
	return string(l.b), full
}

func trimEOL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// equalFoldASCII reports whether b equals the upper-case ASCII word w,
// ignoring case.
func equalFoldASCII[T string | []byte](b T, w string) bool {
	if len(b) != len(w) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

// hasPrefixFold reports whether s starts with the upper-case prefix,
// ignoring case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && equalFoldASCII(s[:len(prefix)], prefix)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
