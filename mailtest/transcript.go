package mailtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/mailrig/mailrig/mailtest/internal/fault"
	"github.com/mailrig/mailrig/mailtest/internal/pop3"
	"github.com/mailrig/mailrig/mailtest/internal/smtpfront"
	"github.com/mailrig/mailrig/mailtest/internal/transcript"
)

// Transcript is the protocol exchange of one session (one connection), as
// the server saw it: every line in both directions, with timestamps.
// Passwords and SASL responses are masked ("***"); a message body is one
// line such as "<message 1234 octets>" (SMTP DATA, POP3 RETR), "<chunk
// 1234 octets>" (SMTP BDAT) or "<literal 1234 octets>" (IMAP; a literal of
// up to 100 printable octets is shown as it is); the server's own notes,
// such as an injected fault, are server lines in angle brackets. Lines are
// cut at 1,000 bytes, and a session keeps its first 500 and last 1,499
// lines, with a "<N lines omitted>" line between; Truncated tells.
type Transcript struct {
	// ID names the session. For SMTP it is the session ID of the
	// messages the session delivered (Message.Envelope().SessionID).
	ID string
	// Listener is the listener the session came in on.
	Listener   Listener
	RemoteAddr string
	Start      time.Time
	Lines      []TranscriptLine
	// Truncated reports that lines were omitted or cut.
	Truncated bool
}

// TranscriptLine is one line of a Transcript, without its line ending.
type TranscriptLine struct {
	Time       time.Time
	FromClient bool
	Text       string
}

// String renders the transcript: a heading, then one line per protocol
// line, "C: " for the client and "S: " for the server, after the time
// since the session started.
func (t Transcript) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s session %s from %s at %s", t.Listener, t.ID, t.RemoteAddr, t.Start.Format("15:04:05.000"))
	if t.Truncated {
		b.WriteString(" (truncated)")
	}
	for _, l := range t.Lines {
		b.WriteString("\n  ")
		b.WriteString(fmt.Sprintf("%+8.3fs ", l.Time.Sub(t.Start).Seconds()))
		if l.FromClient {
			b.WriteString("C: ")
		} else {
			b.WriteString("S: ")
		}
		b.WriteString(l.Text)
	}
	return b.String()
}

// WithTranscripts says whether the server keeps session transcripts: see
// Transcript, Server.Transcripts and NewServer. They are on by default for
// NewServer, whose cleanup shows them when a test fails, and off by
// default for New, where nothing reads them unless asked (WithTranscriptLog
// turns them on); recording costs a few percent of SMTP throughput. Off,
// no protocol line is recorded.
func WithTranscripts(on bool) Option {
	return func(c *config) { c.transcripts, c.transcriptsSet = on, true }
}

// WithTranscriptLog logs each session's transcript to l, at level Info,
// when the session ends: a "session ended" record, then one record per
// line whose message is the line ("C: ..." or "S: ..."), each with the
// session's ID. The dev server's -v flag uses it.
func WithTranscriptLog(l *slog.Logger) Option {
	return func(c *config) {
		c.transcriptLog = l
		if l != nil {
			c.transcripts, c.transcriptsSet = true, true
		}
	}
}

// Transcripts returns the transcripts of the server's recent sessions
// (the last 500), oldest first. Sessions still open are included, with
// the lines so far.
func (s *Server) Transcripts() []Transcript {
	if s.transcripts == nil {
		return nil
	}
	snaps := s.transcripts.Snapshots()
	out := make([]Transcript, len(snaps))
	for i, snap := range snaps {
		out[i] = toTranscript(snap)
	}
	return out
}

// Transcript returns the transcript of the session id (a Transcript.ID,
// or the Envelope().SessionID of a message received over SMTP).
func (s *Server) Transcript(id string) (Transcript, bool) {
	sess := s.transcripts.Session(id)
	if sess == nil {
		return Transcript{}, false
	}
	return toTranscript(sess.Snapshot()), true
}

func toTranscript(snap transcript.Snapshot) Transcript {
	t := Transcript{
		ID: snap.ID, Listener: Listener(snap.Protocol), RemoteAddr: snap.RemoteAddr,
		Start: snap.Start, Truncated: snap.Truncated,
		Lines: make([]TranscriptLine, len(snap.Lines)),
	}
	for i, l := range snap.Lines {
		t.Lines[i] = TranscriptLine(l)
	}
	return t
}

// setupTranscripts makes the recorder, unless transcripts are off.
func (s *Server) setupTranscripts() {
	if !s.cfg.transcripts {
		return
	}
	var onEnd func(transcript.Snapshot)
	if l := s.cfg.transcriptLog; l != nil {
		onEnd = func(snap transcript.Snapshot) { logTranscript(l, toTranscript(snap)) }
	}
	s.transcripts = transcript.NewRecorder(transcript.Limits{}, onEnd)
}

func logTranscript(l *slog.Logger, t Transcript) {
	ctx := context.Background()
	l.LogAttrs(ctx, slog.LevelInfo, "session ended", slog.String("session", t.ID),
		slog.String("protocol", string(t.Listener)), slog.String("remote", t.RemoteAddr),
		slog.Int("lines", len(t.Lines)), slog.Bool("truncated", t.Truncated))
	for _, line := range t.Lines {
		dir := "S: "
		if line.FromClient {
			dir = "C: "
		}
		l.LogAttrs(ctx, slog.LevelInfo, dir+line.Text, slog.String("session", t.ID))
	}
}

// maxFailureTranscripts is how many sessions a failed test's log shows.
const maxFailureTranscripts = 50

// reportTranscripts writes the transcripts of the server's sessions with
// logf when failed is true; NewServer's cleanup calls it after Close with
// tb.Failed() and tb.Log.
func (s *Server) reportTranscripts(failed bool, log func(args ...any)) {
	if !failed || s.transcripts == nil {
		return
	}
	ts := s.Transcripts()
	if len(ts) == 0 {
		return
	}
	skipped := s.transcripts.Forgotten()
	if len(ts) > maxFailureTranscripts {
		skipped += len(ts) - maxFailureTranscripts
		ts = ts[len(ts)-maxFailureTranscripts:]
	}
	head := fmt.Sprintf("mailtest: the test failed; transcripts of its %d sessions on the server:", len(ts))
	if skipped > 0 {
		head = fmt.Sprintf("mailtest: the test failed; transcripts of the last %d sessions on the server (%d earlier ones not shown):", len(ts), skipped)
	}
	log(head)
	for _, t := range ts {
		log(t.String())
	}
}

// smtpTrace is smtpfront's Options.Trace for the listeners of p (SMTP and
// SMTPS share one front-end).
func (s *Server) smtpTrace(p Listener) func(id, remote string, implicitTLS bool) smtpfront.Trace {
	if s.transcripts == nil {
		return nil
	}
	return func(id, remote string, implicitTLS bool) smtpfront.Trace {
		l := p
		if implicitTLS {
			l = SMTPS
		}
		sess := s.transcripts.Start(id, string(l), remote)
		w := transcript.NewSMTP(sess)
		return smtpfront.Trace{
			Debug: w,
			Note:  func(text string) { sess.Add(false, text) },
			End:   func() { w.Close(); sess.End() },
		}
	}
}

// imapSessionID is the transcript ID of the IMAP connection connID.
func imapSessionID(connID uint64) string { return "imap-" + strconv.FormatUint(connID, 10) }

// imapTraceFunc returns imapfront's Options.Trace, nil if transcripts are off.
func (s *Server) imapTraceFunc() func(uint64, string, bool) (io.Writer, func()) {
	if s.transcripts == nil {
		return nil
	}
	return s.imapTrace
}

// imapTrace is imapfront's Options.Trace.
func (s *Server) imapTrace(connID uint64, remote string, implicitTLS bool) (io.Writer, func()) {
	proto := IMAP
	if implicitTLS {
		proto = IMAPS
	}
	sess := s.transcripts.Start(imapSessionID(connID), string(proto), remote)
	w := transcript.NewIMAP(sess)
	return w, func() { w.Close(); sess.End() }
}

// pop3TraceFunc returns the POP3 front-end's Options.Trace, nil if
// transcripts are off. Its lines come masked.
func (s *Server) pop3TraceFunc() func(id, remote string, implicitTLS bool) pop3.Trace {
	if s.transcripts == nil {
		return nil
	}
	return func(id, remote string, implicitTLS bool) pop3.Trace {
		proto := POP3
		if implicitTLS {
			proto = POP3S
		}
		sess := s.transcripts.Start(id, string(proto), remote)
		return pop3.Trace{Line: sess.Add, End: sess.End}
	}
}

// noteFault writes what an injected fault does into the session's
// transcript, before it does it.
func (s *Server) noteFault(id string, f Fault) {
	if s.transcripts == nil || id == "" {
		return
	}
	var did []string
	if f.Delay > 0 {
		did = append(did, "delayed "+f.Delay.String())
	}
	switch {
	case f.Drop:
		did = append(did, "dropped")
	case f.DropAfterBytes > 0:
		did = append(did, "cut after "+strconv.FormatInt(f.DropAfterBytes, 10)+" octets")
	case f.Reply != "":
		did = append(did, "answered "+f.Reply)
	}
	if len(did) == 0 {
		return
	}
	what := f.Command
	if f.Arg != "" {
		what += fmt.Sprintf(" %q", f.Arg)
	}
	s.transcripts.Note(id, "<"+strings.Join(did, ", then ")+" by fault "+string(f.Protocol)+" "+what+">")
}

// noteAddressFault records a failure asked for by a recipient address.
func (s *Server) noteAddressFault(id string, act *fault.Action, addr string) {
	if s.transcripts == nil || act == nil {
		return
	}
	did := "dropped"
	if !act.Drop {
		code, _, _ := strings.Cut(act.Reply, " ")
		did = "answered " + code
	}
	s.transcripts.Note(id, "<"+did+" by address fault "+addr+">")
}
