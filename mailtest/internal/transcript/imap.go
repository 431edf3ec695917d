package transcript

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
)

// IMAP turns go-imap's debug stream of one connection
// (imapserver.Options.DebugWriter: reads and writes, in order, into one
// writer) into transcript lines.
//
// Each direction is a stream of lines and literals: a line ending in {n}
// (client also {n+}) is followed by n raw octets, which may span several
// writes. A write continues the server's stream while that stream is in
// the middle of a line or literal (go-imap flushes at the end of each
// response line, so only a long line or a literal is split), except for a
// client's DONE ending IDLE, which another goroutine reads while updates
// are written. A write continues a client literal once it has begun, or
// once the server invited it with "+". Otherwise a write is the server's
// if it starts like a response: "+", "* " and a response keyword, or a
// tag the client sent followed by OK, NO, BAD, BYE or PREAUTH.
//
// The password of LOGIN (quoted, atom or literal), the initial response of
// AUTHENTICATE and every client line of an AUTHENTICATE exchange are
// masked. A literal of up to 100 printable octets is shown as it is, a
// longer one as "<literal N octets>"; literal content starts a new
// transcript line, continued by the rest of the command or response.
type IMAP struct {
	s   *Session
	max int

	mu      sync.Mutex
	c, sv   imapSide
	tags    []string // client tags awaiting their tagged response
	idleTag string   // IDLE running: the client will send DONE
	authTag string   // AUTHENTICATE running: client lines are secrets
	cmdTag  string   // the client command being read
	cmdName string
	login   int // LOGIN: 0 user next, 1 user is the next literal, 2 rest secret
	closed  bool
}

// imapSide is one direction's stream state.
type imapSide struct {
	line     lineBuf
	cont     bool  // the current line continues after a literal
	left     int64 // literal octets still to come
	size     int64
	got      int64
	sync     bool // client literal waiting for "+"
	invited  bool // the server sent "+" for it
	secret   bool
	show     bool // the literal so far is short and printable
	small    []byte
	rendered int // length of the rendered literal at the start of line
}

func (sd *imapSide) partial() bool { return !sd.line.empty() || sd.left > 0 || sd.cont }

const maxShownLiteral = 100

// NewIMAP returns a writer that records into s.
func NewIMAP(s *Session) *IMAP {
	return &IMAP{s: s, max: s.r.limits.LineBytes}
}

// Session returns the session the writer records into.
func (w *IMAP) Session() *Session { return w.s }

// Write takes one read or write of the connection. It never fails.
func (w *IMAP) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || len(p) == 0 {
		return len(p), nil
	}
	c := &w.c
	var server bool
	switch {
	case w.sv.partial():
		server = !(w.idleTag != "" && isDone(p))
	case c.left > 0 && (c.got > 0 || c.invited):
		server = false
	default:
		// A client line split over reads may go on with something that
		// looks like a response; only believe it if one is due.
		server = w.looksServer(p) && (c.line.empty() || len(w.tags) > 0 || w.idleTag != "")
	}
	if server {
		w.feed(&w.sv, false, p)
	} else {
		w.feed(c, true, p)
	}
	return len(p), nil
}

// Close records what is left of unfinished lines and literals. Later
// writes are ignored.
func (w *IMAP) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	for _, fromClient := range []bool{false, true} {
		sd := &w.sv
		if fromClient {
			sd = &w.c
		}
		if sd.left > 0 {
			if sd.got > 0 {
				w.s.Add(fromClient, "<literal "+strconv.FormatInt(sd.got, 10)+" of "+strconv.FormatInt(sd.size, 10)+" octets, incomplete>")
			}
			sd.left = 0
		}
		if !sd.line.empty() {
			w.endLine(sd, fromClient)
		}
	}
	return nil
}

func isDone(p []byte) bool {
	return len(p) <= 6 && p[len(p)-1] == '\n' && equalFoldASCII(trimEOL(p), "DONE")
}

// feed adds p to one direction's stream.
func (w *IMAP) feed(sd *imapSide, fromClient bool, p []byte) {
	for len(p) > 0 {
		if sd.left > 0 {
			k := int(min(sd.left, int64(len(p))))
			lit := p[:k]
			p = p[k:]
			sd.left -= int64(k)
			sd.got += int64(k)
			if sd.show {
				if len(sd.small)+k <= maxShownLiteral && printable(lit) {
					sd.small = append(sd.small, lit...)
				} else {
					sd.show = false
				}
			}
			if sd.left == 0 {
				w.endLiteral(sd)
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			sd.line.write(p, w.max)
			return
		}
		sd.line.write(p[:i+1], w.max)
		p = p[i+1:]
		w.endLine(sd, fromClient)
	}
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// endLiteral puts the rendered literal at the start of the next line.
func (w *IMAP) endLiteral(sd *imapSide) {
	var r string
	switch {
	case sd.secret:
		r = "***"
	case sd.show:
		r = string(sd.small)
	default:
		r = "<literal " + strconv.FormatInt(sd.size, 10) + " octets>"
	}
	sd.line.writeString(r, w.max)
	sd.rendered = len(r)
	sd.small = sd.small[:0]
}

// literalMarker parses the {n} or {n+} ending a line (before CRLF).
func literalMarker(tail []byte) (n int64, nonSync, ok bool) {
	b := trimEOL(tail)
	if len(b) < 3 || b[len(b)-1] != '}' {
		return 0, false, false
	}
	b = b[:len(b)-1]
	if b[len(b)-1] == '+' {
		nonSync = true
		b = b[:len(b)-1]
	}
	i := bytes.LastIndexByte(b, '{')
	if i < 0 || i == len(b)-1 || len(b)-i-1 > 18 {
		return 0, false, false
	}
	for _, c := range b[i+1:] {
		if !isDigit(c) {
			return 0, false, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, nonSync, true
}

// endLine records a finished line and starts the literal it announces.
func (w *IMAP) endLine(sd *imapSide, fromClient bool) {
	n, nonSync, lit := literalMarker(sd.line.last())
	if lit && !bytes.HasSuffix(sd.line.last(), []byte("\n")) {
		lit = false // a line cut short by Close
	}
	text, full := sd.line.text()
	cont, rendered := sd.cont, sd.rendered
	sd.line.reset()
	sd.cont, sd.rendered = false, 0
	secret := false
	if fromClient {
		text, secret = w.clientLine(text, cont, rendered, lit)
	} else {
		w.serverLine(text)
	}
	if full > 0 && secret || strings.HasSuffix(text, "***") {
		full = 0 // masked: its length says nothing
	}
	if text != "" || !cont {
		w.s.add(fromClient, text, full)
	}
	if lit {
		sd.cont = true
		sd.left, sd.size, sd.got = n, n, 0
		sd.sync, sd.invited = fromClient && !nonSync, false
		sd.secret, sd.show = secret, true
		sd.small = sd.small[:0]
		if n == 0 {
			w.endLiteral(sd)
		}
	}
}

// clientLine masks a client line and follows the command state. cont says
// the line continues a command after a literal, whose rendering is the
// first rendered bytes of text. It reports whether a literal that the line
// announces is a secret.
func (w *IMAP) clientLine(text string, cont bool, rendered int, lit bool) (string, bool) {
	if cont {
		switch w.cmdName {
		case "LOGIN":
			return w.maskLogin(text, rendered, lit)
		case "AUTHENTICATE":
			return "***", lit
		}
		return text, false
	}
	if w.authTag != "" {
		return "***", lit // a SASL response
	}
	if w.idleTag != "" && equalFoldASCII(text, "DONE") {
		w.idleTag = ""
		return text, false
	}
	tag, rest, _ := strings.Cut(text, " ")
	name, args, _ := strings.Cut(rest, " ")
	name = strings.ToUpper(name)
	w.cmdTag, w.cmdName, w.login = tag, name, 0
	w.addTag(tag)
	switch name {
	case "LOGIN":
		masked, secret := w.maskLogin(args, 0, lit)
		return tag + " " + rest[:len(rest)-len(args)] + masked, secret
	case "AUTHENTICATE":
		w.authTag = tag
		mech, ir, _ := strings.Cut(args, " ")
		if ir != "" || lit {
			return tag + " " + rest[:len(rest)-len(args)] + mech + " ***", lit
		}
	case "IDLE":
		w.idleTag = tag
	}
	return text, false
}

// maskLogin masks LOGIN arguments after the user name. s starts with the
// rendered user literal (rendered bytes) when w.login is 1.
func (w *IMAP) maskLogin(s string, rendered int, lit bool) (string, bool) {
	var user, rest string
	switch w.login {
	case 2:
		if s == "" {
			return "", lit
		}
		return "***", lit
	case 1:
		user, rest = s[:min(rendered, len(s))], s[min(rendered, len(s)):]
	default:
		switch {
		case strings.HasPrefix(s, "{"):
			w.login = 1 // the user name is the literal that follows
			return s, false
		case strings.HasPrefix(s, `"`):
			i := 1
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			i = min(i+1, len(s))
			user, rest = s[:i], s[i:]
		default:
			i := strings.IndexByte(s, ' ')
			if i < 0 {
				i = len(s)
			}
			user, rest = s[:i], s[i:]
		}
	}
	w.login = 2
	if strings.TrimSpace(rest) == "" {
		return user + rest, lit
	}
	return user + " ***", lit
}

// serverLine follows the command state from a server line.
func (w *IMAP) serverLine(text string) {
	if strings.HasPrefix(text, "+") {
		if w.c.left > 0 && w.c.sync {
			w.c.invited = true
		}
		return
	}
	tag, rest, _ := strings.Cut(text, " ")
	if tag == "*" || !w.removeTag(tag) || !isStatus(rest) {
		return
	}
	if tag == w.authTag {
		w.authTag = ""
	}
	if tag == w.idleTag {
		w.idleTag = ""
	}
	if tag == w.cmdTag && w.c.left > 0 && w.c.got == 0 && !w.c.invited {
		// The command was refused before its literal: none will come.
		w.c.left, w.c.cont = 0, false
		w.c.line.reset()
	}
}

const maxTags = 64

func (w *IMAP) addTag(tag string) {
	if tag == "" {
		return
	}
	if len(w.tags) == maxTags {
		copy(w.tags, w.tags[1:])
		w.tags = w.tags[:maxTags-1]
	}
	w.tags = append(w.tags, tag)
}

func (w *IMAP) hasTag(tag []byte) bool {
	for _, t := range w.tags {
		if t == string(tag) {
			return true
		}
	}
	return false
}

func (w *IMAP) removeTag(tag string) bool {
	for i, t := range w.tags {
		if t == tag {
			w.tags = append(w.tags[:i], w.tags[i+1:]...)
			return true
		}
	}
	return false
}

// isStatus reports whether s starts with a status response word.
func isStatus[T string | []byte](s T) bool {
	i := 0
	for i < len(s) && s[i] != ' ' && s[i] != '\r' && s[i] != '\n' {
		i++
	}
	w := s[:i]
	return equalFoldASCII(w, "OK") || equalFoldASCII(w, "NO") || equalFoldASCII(w, "BAD") ||
		equalFoldASCII(w, "BYE") || equalFoldASCII(w, "PREAUTH")
}

// untagged are the words that may follow "* " (or "* <number> ") in a
// server response.
var untagged = []string{
	"OK", "NO", "BAD", "BYE", "PREAUTH", "CAPABILITY", "FLAGS", "LIST", "LSUB",
	"STATUS", "SEARCH", "ESEARCH", "ENABLED", "NAMESPACE", "ID", "SORT", "THREAD",
	"QUOTA", "QUOTAROOT", "METADATA", "ACL", "MYRIGHTS", "LISTRIGHTS", "VANISHED",
	"EXISTS", "RECENT", "EXPUNGE", "FETCH",
}

// looksServer reports whether p starts like a server response.
func (w *IMAP) looksServer(p []byte) bool {
	if p[0] == '+' {
		return len(p) == 1 || p[1] == ' ' || p[1] == '\r' || p[1] == '\n'
	}
	sp := bytes.IndexByte(p, ' ')
	if sp <= 0 {
		return false
	}
	rest := p[sp+1:]
	if sp != 1 || p[0] != '*' {
		return w.hasTag(p[:sp]) && isStatus(rest)
	}
	if len(rest) > 0 && isDigit(rest[0]) {
		i := 0
		for i < len(rest) && isDigit(rest[i]) {
			i++
		}
		if i == len(rest) || rest[i] != ' ' {
			return false
		}
		rest = rest[i+1:]
	}
	i := 0
	for i < len(rest) && rest[i] != ' ' && rest[i] != '\r' && rest[i] != '\n' && rest[i] != '[' {
		i++
	}
	word := rest[:i]
	for _, u := range untagged {
		if equalFoldASCII(word, u) {
			return true
		}
	}
	return false
}
