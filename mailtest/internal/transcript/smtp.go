package transcript

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
)

// SMTP turns the debug stream of one SMTP connection (smtpfront's
// Trace.Debug: what the server reads and what it writes, in the order it
// happens, into one writer) into transcript lines.
//
// Direction follows from SMTP's rules. go-smtp writes each reply line with
// one flush (smtpfront's edits keep whole lines), so server output always
// arrives as whole lines that start
// with a three-digit code and a space or dash; a client's command line
// never starts that way. Outside commands the client sends raw octets: the
// message after a 354 reply, up to CRLF.CRLF, and the n octets after
// "BDAT n". The server writes nothing while those are read (go-smtp reads
// a whole message or chunk before it answers), so they are the client's.
//
// AUTH arguments and every client line that answers a 334 challenge are
// masked; a message or chunk becomes one "<message N octets>" or
// "<chunk N octets>" line.
type SMTP struct {
	s   *Session
	max int

	mu       sync.Mutex
	line     lineBuf
	mode     int
	octets   int64 // of the message or chunk being read
	match    int   // bytes of "\r\n.\r\n" matched at the end of the data so far
	left     int64 // BDAT octets still to come
	maskNext bool  // the next client line answers a 334 challenge
	closed   bool
}

const (
	smtpCommand = iota
	smtpData
	smtpBDAT
)

// NewSMTP returns a writer that records into s.
func NewSMTP(s *Session) *SMTP {
	return &SMTP{s: s, max: s.r.limits.LineBytes}
}

// Session returns the session the writer records into.
func (w *SMTP) Session() *Session { return w.s }

// Write takes one read or write of the connection. It never fails.
func (w *SMTP) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	if w.mode == smtpCommand && isReplyChunk(p) {
		w.server(p)
	} else {
		w.client(p)
	}
	return len(p), nil
}

// Close records what is left of an unfinished line, message or chunk. Later
// writes are ignored.
func (w *SMTP) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	switch w.mode {
	case smtpData:
		w.s.Add(true, "<message "+strconv.FormatInt(w.octets, 10)+" octets, unterminated>")
	case smtpBDAT:
		w.s.Add(true, "<chunk "+strconv.FormatInt(w.octets, 10)+" of "+strconv.FormatInt(w.octets+w.left, 10)+" octets, incomplete>")
	}
	if !w.line.empty() {
		w.clientLine()
	}
	return nil
}

// isReplyChunk reports whether p is one or more whole SMTP reply lines.
func isReplyChunk(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	for len(p) > 0 {
		if len(p) < 5 || !isDigit(p[0]) || !isDigit(p[1]) || !isDigit(p[2]) || (p[3] != ' ' && p[3] != '-') {
			return false
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return false
		}
		p = p[i+1:]
	}
	return true
}

func (w *SMTP) server(p []byte) {
	at := w.s.since() // one write, one time: a multi-line reply comes at once
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		line := p[:i+1]
		p = p[i+1:]
		text := trimEOL(line)
		if text[3] == ' ' {
			switch string(text[:3]) {
			case "334":
				w.maskNext = true
			case "354":
				w.mode, w.octets, w.match = smtpData, 0, 2 // the DATA line's CRLF counts
			}
		}
		if len(text) > w.max {
			w.s.add(false, string(text[:w.max]), len(text))
		} else {
			w.s.addBytesAt(at, false, text)
		}
	}
}

func (w *SMTP) client(p []byte) {
	for len(p) > 0 {
		switch w.mode {
		case smtpData:
			end, found := w.scanData(p)
			if !found {
				w.octets += int64(len(p))
				return
			}
			w.octets += int64(end)
			w.mode = smtpCommand
			// The final ".\r\n" is not part of the message; its CRLF before is.
			w.s.Add(true, "<message "+strconv.FormatInt(max(w.octets-3, 0), 10)+" octets>")
			p = p[end:]
		case smtpBDAT:
			k := int(min(w.left, int64(len(p))))
			w.left -= int64(k)
			w.octets += int64(k)
			p = p[k:]
			if w.left == 0 {
				w.mode = smtpCommand
				w.s.Add(true, "<chunk "+strconv.FormatInt(w.octets, 10)+" octets>")
			}
		default:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				w.line.write(p, w.max)
				return
			}
			w.line.write(p[:i+1], w.max)
			p = p[i+1:]
			w.clientLine()
		}
	}
}

// clientLine records the assembled client line, masked, and starts a BDAT
// chunk if it announces one.
func (w *SMTP) clientLine() {
	if b := trimEOL(w.line.b); !w.maskNext && len(w.line.b) == w.line.n &&
		!(len(b) >= 5 && (equalFoldASCII(b[:5], "AUTH ") || equalFoldASCII(b[:5], "BDAT "))) {
		// The common case, recorded from the line buffer without a copy.
		w.s.addBytes(true, b)
		w.line.reset()
		return
	}
	text, full := w.line.text()
	w.line.reset()
	switch {
	case w.maskNext:
		w.maskNext = false
		text, full = "***", 0
	case hasPrefixFold(text, "AUTH "):
		f := strings.Fields(text)
		if len(f) > 2 {
			text, full = f[0]+" "+f[1]+" ***", 0
		}
	case hasPrefixFold(text, "BDAT ") && full == 0:
		// As go-smtp: "BDAT <size> [LAST]"; no chunk follows a malformed one.
		f := strings.Fields(text[5:])
		if len(f) == 0 || len(f) > 2 || (len(f) == 2 && !equalFoldASCII(f[1], "LAST")) {
			break
		}
		n, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			break
		}
		if n > 0 {
			w.mode, w.left, w.octets = smtpBDAT, int64(n), 0
		} else {
			w.s.Add(true, text)
			w.s.Add(true, "<chunk 0 octets>")
			return
		}
	}
	w.s.add(true, text, full)
}

const endOfData = "\r\n.\r\n"

// dataFail is the failure function of endOfData for a KMP match.
var dataFail = [5]int{0, 0, 0, 0, 1}

func dataStep(m int, c byte) int {
	for {
		if c == endOfData[m] {
			return m + 1
		}
		if m == 0 {
			return 0
		}
		m = dataFail[m]
	}
}

// scanData looks for the end of the message in p, carrying a partial match
// over from the previous chunk. It returns the offset just after the final
// CRLF.
func (w *SMTP) scanData(p []byte) (end int, found bool) {
	m := w.match
	head := min(len(p), len(endOfData)-1)
	for i := 0; i < head; i++ {
		m = dataStep(m, p[i])
		if m == len(endOfData) {
			return i + 1, true
		}
	}
	if i := bytes.Index(p, []byte(endOfData)); i >= 0 {
		return i + len(endOfData), true
	}
	if len(p) > head {
		m = 0
		for _, c := range p[len(p)-head:] {
			m = dataStep(m, c)
		}
	}
	w.match = m
	return 0, false
}
