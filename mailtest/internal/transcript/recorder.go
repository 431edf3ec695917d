// Package transcript records the protocol lines of mail sessions, in both
// directions, with secrets masked and message bodies summarised, within
// fixed memory bounds.
//
// A Recorder keeps the sessions of one server. The SMTP and IMAP
// front-ends feed it through a Writer (SMTP or IMAP), used as the
// protocol library's per-connection debug writer: the library tees both
// directions of the plaintext stream into one writer, and the Writer tells
// them apart by protocol rules (see SMTP and IMAP). POP3, which is ours,
// reports whole lines with their direction and calls Session.Add.
package transcript

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Limits bound a Recorder's memory.
type Limits struct {
	// Sessions is how many sessions are kept; the oldest are forgotten.
	Sessions int
	// Lines is how many lines a session keeps: the first quarter and the
	// most recent rest, with one "<N lines omitted>" line between.
	Lines int
	// LineBytes is where a line is cut.
	LineBytes int
}

// DefaultLimits are the limits used when a field of Limits is 0.
var DefaultLimits = Limits{Sessions: 500, Lines: 2000, LineBytes: 1000}

// Line is one protocol line.
type Line struct {
	Time       time.Time
	FromClient bool
	Text       string
}

// Snapshot is a copy of a session's transcript.
type Snapshot struct {
	ID         string
	Protocol   string
	RemoteAddr string
	Start      time.Time
	Lines      []Line
	// Truncated reports that lines were omitted or cut.
	Truncated bool
	// Ended reports that the connection has closed.
	Ended bool
}

// Recorder keeps the transcripts of a server's sessions. It is safe for
// concurrent use.
type Recorder struct {
	limits Limits
	onEnd  func(Snapshot)

	mu        sync.Mutex
	byID      map[string]*Session
	order     []*Session // oldest first; at most limits.Sessions
	forgotten int
}

// NewRecorder returns a recorder within limits. onEnd, if not nil, is
// called with each session's transcript once its connection has closed.
func NewRecorder(limits Limits, onEnd func(Snapshot)) *Recorder {
	if limits.Sessions <= 0 {
		limits.Sessions = DefaultLimits.Sessions
	}
	if limits.Lines <= 0 {
		limits.Lines = DefaultLimits.Lines
	}
	if limits.Lines < 4 {
		limits.Lines = 4
	}
	if limits.LineBytes <= 0 {
		limits.LineBytes = DefaultLimits.LineBytes
	}
	return &Recorder{limits: limits, onEnd: onEnd, byID: make(map[string]*Session)}
}

// Start begins the transcript of a new session. Starting an ID that is
// already recorded returns the existing session.
func (r *Recorder) Start(id, protocol, remoteAddr string) *Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.byID[id]; ok {
		return s
	}
	s := &Session{r: r, id: id, protocol: protocol, remote: remoteAddr, start: time.Now()}
	if len(r.order) >= r.limits.Sessions {
		old := r.order[0]
		delete(r.byID, old.id)
		s.reuse(old)
		r.order[0] = nil
		r.order = r.order[1:] // append reallocates now and then: O(1) amortised
		r.forgotten++
	}
	r.order = append(r.order, s)
	r.byID[id] = s
	return s
}

// reuse takes the line buffers of old, a session just forgotten, if it has
// ended: a server that opens a connection per message then records each
// new transcript into the buffers of the one it pushes out. (A forgotten
// session that a caller still holds reads as empty afterwards.)
func (s *Session) reuse(old *Session) {
	old.mu.Lock()
	defer old.mu.Unlock()
	if !old.ended || old.head == nil {
		return
	}
	s.head, s.arena = old.head[:0], old.arena[:0]
	old.head, old.arena = nil, nil
}

// Session returns the recorded session id, or nil.
func (r *Recorder) Session(id string) *Session {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// Note adds a line the server itself wants in a session's transcript, such
// as the effect of an injected fault. Unknown sessions are ignored.
func (r *Recorder) Note(id, text string) {
	if s := r.Session(id); s != nil {
		s.Add(false, text)
	}
}

// Forgotten returns how many sessions were dropped to stay within Limits.
func (r *Recorder) Forgotten() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.forgotten
}

// Snapshots returns every kept session's transcript, oldest first.
func (r *Recorder) Snapshots() []Snapshot {
	r.mu.Lock()
	sessions := append([]*Session(nil), r.order...)
	r.mu.Unlock()
	out := make([]Snapshot, len(sessions))
	for i, s := range sessions {
		out[i] = s.Snapshot()
	}
	return out
}

// Session is one session's transcript.
type Session struct {
	r        *Recorder
	id       string
	protocol string
	remote   string
	start    time.Time

	mu      sync.Mutex
	head    []headLine // the first limits.Lines/4 lines, text in arena
	arena   []byte     // text of head lines, so recording a line does not allocate
	tail    []tailLine // ring of the most recent lines
	next    int        // next slot of tail once it is full
	omitted int        // lines pushed out of tail
	cut     bool       // some line was cut at LineBytes
	ended   bool
}

// headLine is a Line whose text lives in Session.arena. Its time is kept
// as an offset from the session's start, which leaves the struct without
// pointers: small, and not scanned by the garbage collector.
type headLine struct {
	at         time.Duration // since Session.start
	off, n     int32
	fromClient bool
}

// tailLine is a line of the ring; its text buffer is reused when the slot
// is overwritten, so a long session records without allocating.
type tailLine struct {
	at         time.Duration // since Session.start
	fromClient bool
	text       []byte
}

func (s *Session) tailLine(l tailLine) Line {
	return Line{Time: s.start.Add(l.at), FromClient: l.fromClient, Text: string(l.text)}
}

// since returns the time since the session started, which is how lines
// keep their time: one monotonic clock reading where time.Now takes two.
func (s *Session) since() time.Duration { return time.Since(s.start) }

// ID returns the session's ID.
func (s *Session) ID() string { return s.id }

// Add appends a line.
func (s *Session) Add(fromClient bool, text string) {
	s.add(fromClient, text, 0)
}

// add appends a line whose text was already cut from full bytes (if full
// is not 0), or is cut here if too long.
func (s *Session) add(fromClient bool, text string, full int) {
	at := s.since()
	max := s.r.limits.LineBytes
	cut := false
	switch {
	case full > 0:
		text = cutText(text, min(len(text), max), full)
		cut = true
	case len(text) > max:
		text = cutText(text, max, len(text))
		cut = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = s.cut || cut
	s.store(at, fromClient, text, nil)
}

// addBytes is add for a line held in a buffer the caller reuses: the bytes
// are copied into the session's arena, so the common case allocates
// nothing per line.
func (s *Session) addBytes(fromClient bool, text []byte) {
	s.addBytesAt(s.since(), fromClient, text)
}

// addBytesAt is addBytes with the time the line was seen, as s.since
// gives it (the lines of one read or write share it).
func (s *Session) addBytesAt(at time.Duration, fromClient bool, text []byte) {
	if len(text) > s.r.limits.LineBytes {
		s.add(fromClient, string(text[:s.r.limits.LineBytes]), len(text))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store(at, fromClient, "", text)
}

// store keeps a line given as text or, if b is not nil, as bytes. Callers
// hold s.mu.
func (s *Session) store(at time.Duration, fromClient bool, text string, b []byte) {
	headMax := s.r.limits.Lines / 4
	tailMax := s.r.limits.Lines - headMax - 1 // one line for the omission marker
	if len(s.head) < headMax {
		if s.head == nil {
			// Enough for a typical SMTP session (EHLO, MAIL, RCPT,
			// DATA, QUIT: about 22 lines, 700 bytes) without growing.
			s.head = make([]headLine, 0, 24)
			s.arena = make([]byte, 0, 1024)
		}
		off := len(s.arena)
		if b != nil {
			s.arena = append(s.arena, b...)
		} else {
			s.arena = append(s.arena, text...)
		}
		s.head = append(s.head, headLine{at: at, off: int32(off), n: int32(len(s.arena) - off), fromClient: fromClient})
		return
	}
	var slot *tailLine
	if len(s.tail) < tailMax {
		s.tail = append(s.tail, tailLine{})
		slot = &s.tail[len(s.tail)-1]
	} else {
		slot = &s.tail[s.next]
		s.next = (s.next + 1) % tailMax
		s.omitted++
	}
	slot.at, slot.fromClient = at, fromClient
	if b != nil {
		slot.text = append(slot.text[:0], b...)
	} else {
		slot.text = append(slot.text[:0], text...)
	}
}

// cutText cuts s to at most max bytes, on a UTF-8 boundary, and says how
// long the whole line was.
func cutText(s string, max, full int) string {
	head := s[:min(max, len(s))]
	// Step back over a character the cut (here, or by the caller) split.
	for j := len(head) - 1; j >= 0 && j >= len(head)-utf8.UTFMax; j-- {
		if utf8.RuneStart(head[j]) {
			if !utf8.FullRuneInString(head[j:]) {
				head = head[:j]
			}
			break
		}
	}
	return head + "… (" + strconv.Itoa(full) + " bytes)"
}

// End marks the session as ended and reports it to the recorder's onEnd
// once.
func (s *Session) End() {
	s.mu.Lock()
	was := s.ended
	s.ended = true
	s.mu.Unlock()
	if !was && s.r.onEnd != nil {
		s.r.onEnd(s.Snapshot())
	}
}

// Snapshot returns a copy of the transcript so far.
func (s *Session) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{
		ID: s.id, Protocol: s.protocol, RemoteAddr: s.remote, Start: s.start,
		Truncated: s.cut || s.omitted > 0, Ended: s.ended,
	}
	n := len(s.head) + len(s.tail)
	if s.omitted > 0 {
		n++
	}
	snap.Lines = make([]Line, 0, n)
	for _, h := range s.head {
		snap.Lines = append(snap.Lines, Line{Time: s.start.Add(h.at), FromClient: h.fromClient, Text: string(s.arena[h.off : h.off+h.n])})
	}
	if s.omitted > 0 {
		snap.Lines = append(snap.Lines, Line{Time: s.start.Add(s.tail[s.next].at), Text: "<" + strconv.Itoa(s.omitted) + " lines omitted>"})
	}
	for _, l := range s.tail[s.next:] {
		snap.Lines = append(snap.Lines, s.tailLine(l))
	}
	for _, l := range s.tail[:s.next] {
		snap.Lines = append(snap.Lines, s.tailLine(l))
	}
	return snap
}
