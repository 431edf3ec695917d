package mailtest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrig/mailrig/mailtest/internal/fault"
	"github.com/mailrig/mailrig/mailtest/internal/imapfront"
	"github.com/mailrig/mailrig/mailtest/internal/pop3"
	"github.com/mailrig/mailrig/mailtest/internal/smtpfront"
)

// Fault is one deterministic failure the server plays when a command
// arrives. Add it with Server.Inject; it fires for matching commands until
// Times is used up or it is cleared.
//
// What a Fault does, in order: wait Delay; then, if Drop, close the
// connection; else, if Reply is set, answer with it instead of running the
// command. A Fault with only Delay slows the command down and then runs it.
type Fault struct {
	// Protocol is SMTP (every SMTP listener: SMTP, Submission, SMTPS), IMAP
	// (IMAP and IMAPS) or POP3 (POP3 and POP3S). Any other value, a
	// listener such as SMTPS included, makes Inject fail.
	Protocol Protocol
	// Command is the command to act on, upper case:
	//   - SMTP: CONNECT (instead of the greeting), HELO (HELO and EHLO),
	//     AUTH, MAIL, RCPT, DATA (after the final dot, before the message is
	//     stored; with Drop the message IS stored and the connection closes
	//     before the reply, so the client cannot know it was taken).
	//   - IMAP: CONNECT (greeting), LOGIN, AUTHENTICATE, SELECT, EXAMINE,
	//     CREATE, DELETE, RENAME, LIST, STATUS, APPEND, IDLE, FETCH, STORE,
	//     SEARCH, COPY, MOVE, EXPUNGE, "UID FETCH", ID, GETQUOTA,
	//     GETQUOTAROOT, SETQUOTA, SORT, "UID SORT", THREAD, "UID THREAD", ...
	//   - POP3: CONNECT (greeting), USER, PASS, APOP, AUTH, STAT, LIST,
	//     UIDL, RETR, TOP, DELE, RSET, QUIT.
	Command string
	// Arg narrows the fault to commands whose argument contains Arg,
	// case-insensitively: the address of MAIL and RCPT, the mailbox of an
	// IMAP command, the user of LOGIN/USER, the message number of RETR.
	Arg string
	// Times is how many commands the fault acts on before it clears
	// itself; 0 means until cleared.
	Times int
	// Reply is what the server answers instead, in the protocol's own form:
	// "452 4.2.2 Mailbox full" (SMTP), "NO [OVERQUOTA] Quota exceeded" or
	// "BYE [UNAVAILABLE] Going down" (IMAP), "-ERR [SYS/TEMP] Try later"
	// (POP3).
	Reply string
	// Delay is waited before the command is answered.
	Delay time.Duration
	// Drop closes the connection instead of answering.
	Drop bool
	// DropAfterBytes, for POP3 RETR and TOP, runs the command but cuts the
	// connection after this many octets of the response.
	DropAfterBytes int64
}

// String describes the fault, as transcripts and logs show it.
func (f Fault) String() string {
	s := fmt.Sprintf("%s %s", f.Protocol, f.Command)
	if f.Arg != "" {
		s += fmt.Sprintf(" %q", f.Arg)
	}
	switch {
	case f.Drop:
		s += " → drop"
	case f.DropAfterBytes > 0:
		s += fmt.Sprintf(" → drop after %d octets", f.DropAfterBytes)
	case f.Reply != "":
		s += " → " + f.Reply
	}
	if f.Delay > 0 {
		s += fmt.Sprintf(" after %s", f.Delay)
	}
	return s
}

// faultSet holds the injected faults; safe for concurrent use.
type faultSet struct {
	mu     sync.Mutex
	faults []*activeFault
	lastID int
}

type activeFault struct {
	Fault
	id   int // numbers the faults of a server from 1, for the HTTP API
	left int // remaining uses; -1 = unlimited
}

// Inject adds a fault and returns a function that removes it. Faults are
// checked in the order they were added; the first that matches acts. A
// malformed Fault (a Protocol other than SMTP, IMAP or POP3, no Command, or
// a Reply not in the protocol's form) is a bug in the test: Inject fails t
// with t.Fatal and adds nothing.
func (s *Server) Inject(t testing.TB, f Fault) (clear func()) {
	t.Helper()
	clear, err := s.inject(f)
	if err != nil {
		t.Fatal(err)
		return func() {}
	}
	return clear
}

// inject is Inject for callers without a test, such as an HTTP endpoint:
// a malformed Fault is an error.
func (s *Server) inject(f Fault) (clear func(), err error) {
	af, err := s.faults.add(f)
	if err != nil {
		return nil, err
	}
	return func() { s.faults.remove(af) }, nil
}

// add validates f and appends it, numbered.
func (fs *faultSet) add(f Fault) (*activeFault, error) {
	f.Command = strings.ToUpper(strings.TrimSpace(f.Command))
	if err := validateFault(f); err != nil {
		return nil, fmt.Errorf("mailtest: fault %v: %w", f, err)
	}
	af := &activeFault{Fault: f, left: f.Times}
	if f.Times <= 0 {
		af.left = -1
	}
	fs.mu.Lock()
	fs.lastID++
	af.id = fs.lastID
	fs.faults = append(fs.faults, af)
	fs.mu.Unlock()
	return af, nil
}

// active returns copies of the faults in play, in order, with Times set
// to the uses left (0 for unlimited).
func (fs *faultSet) active() []activeFault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]activeFault, len(fs.faults))
	for i, af := range fs.faults {
		out[i] = *af
		out[i].Times = max(af.left, 0)
	}
	return out
}

// removeID removes the fault numbered id and reports whether it was there.
func (fs *faultSet) removeID(id int) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, x := range fs.faults {
		if x.id == id {
			fs.faults = append(fs.faults[:i:i], fs.faults[i+1:]...)
			return true
		}
	}
	return false
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	s.faults.faults = nil
	s.faults.mu.Unlock()
}

func (fs *faultSet) remove(af *activeFault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, x := range fs.faults {
		if x == af {
			fs.faults = append(fs.faults[:i:i], fs.faults[i+1:]...)
			return
		}
	}
}

// take returns the first fault matching the command and uses it up once.
func (fs *faultSet) take(p Protocol, command, arg string) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, af := range fs.faults {
		if af.Protocol != p || af.Command != command {
			continue
		}
		if af.Arg != "" && !strings.Contains(strings.ToLower(arg), strings.ToLower(af.Arg)) {
			continue
		}
		if af.left > 0 {
			af.left--
			if af.left == 0 {
				fs.faults = append(fs.faults[:i:i], fs.faults[i+1:]...)
			}
		}
		return af.Fault, true
	}
	return Fault{}, false
}

func validateFault(f Fault) error {
	switch f.Protocol {
	case SMTP:
		if f.Reply != "" {
			if _, _, _, err := smtpfront.ParseReply(f.Reply); err != nil {
				return err
			}
		}
	case IMAP:
		if f.Reply != "" {
			if _, _, _, err := imapfront.ParseReply(f.Reply); err != nil {
				return err
			}
		}
	case POP3:
		if f.Reply != "" {
			if _, _, _, err := pop3.ParseReply(f.Reply); err != nil {
				return err
			}
		}
	case Submission, SMTPS, IMAPS, POP3S:
		return fmt.Errorf("%q is a listener, not a protocol: a Fault targets SMTP, IMAP or POP3 on every listener that speaks it", f.Protocol)
	default:
		return fmt.Errorf("protocol %q: want SMTP, IMAP or POP3", f.Protocol)
	}
	if f.Command == "" {
		return fmt.Errorf("no Command")
	}
	return nil
}

// action is what the front-ends do for f: the one place a Fault becomes
// their fault.Action.
func (f Fault) action() *fault.Action {
	return &fault.Action{Delay: f.Delay, Drop: f.Drop, Reply: f.Reply, DropAfter: f.DropAfterBytes}
}

// smtpIntercept is the SMTP front-end's hook: injected faults first, then
// the recipient-address convention (see AddressFaults).
func (s *Server) smtpIntercept(cmd smtpfront.Command) *fault.Action {
	f, ok := s.faults.take(SMTP, cmd.Name, cmd.Arg)
	if !ok {
		switch {
		case !s.cfg.addressFaults:
			return nil
		case cmd.Name == "RCPT":
			return s.addressFault(cmd)
		case cmd.Name == "DATA" && cmd.Deferred != nil:
			s.log.Info("address fault", "command", "DATA", "session", cmd.SessionID)
			s.noteAddressFault(cmd.SessionID, cmd.Deferred, "(DATA)")
			return cmd.Deferred
		}
		return nil
	}
	s.log.Info("fault injected", "fault", f.String(), "session", cmd.SessionID)
	s.noteFault(cmd.SessionID, f)
	return f.action()
}

// addressPattern is the recipient-address convention: a local part
// "fail-<command>-<code>" or "fail-<command>-drop", optionally followed by
// "+anything", asks the server to fail that command of the transaction.
var addressPattern = regexp.MustCompile(`(?i)^fail-(rcpt|data)-(\d{3}|drop)(\+[^@]*)?@`)

// defaultEnhanced picks the enhanced status code for a reply code used by
// the address convention.
var defaultEnhanced = map[int][3]int{
	421: {4, 3, 2}, 450: {4, 2, 1}, 451: {4, 3, 0}, 452: {4, 2, 2},
	550: {5, 1, 1}, 551: {5, 1, 6}, 552: {5, 2, 2}, 553: {5, 1, 3}, 554: {5, 7, 1},
}

// addressFault answers RCPT for a "fail-rcpt-…" address, and has the
// session keep a "fail-data-…" address's action for the transaction's DATA
// (see smtpIntercept).
func (s *Server) addressFault(cmd smtpfront.Command) *fault.Action {
	if !mayBeAddressFault(cmd.Arg) {
		return nil
	}
	m := addressPattern.FindStringSubmatch(strings.Trim(cmd.Arg, "<>"))
	if m == nil {
		return nil
	}
	act := actionFor(m[2])
	if strings.EqualFold(m[1], "data") {
		cmd.Defer(act)
		return nil
	}
	s.log.Info("address fault", "address", cmd.Arg, "session", cmd.SessionID)
	s.noteAddressFault(cmd.SessionID, act, cmd.Arg)
	return act
}

// mayBeAddressFault is a quick test that spares most addresses the
// regular expression: a local part that starts with "fail-".
func mayBeAddressFault(addr string) bool {
	addr = strings.TrimPrefix(addr, "<")
	return len(addr) > 5 && strings.EqualFold(addr[:5], "fail-")
}

func actionFor(code string) *fault.Action {
	if strings.EqualFold(code, "drop") {
		return &fault.Action{Drop: true}
	}
	n, _ := strconv.Atoi(code)
	enh, ok := defaultEnhanced[n]
	if !ok {
		enh = [3]int{n / 100, 0, 0}
	}
	return &fault.Action{Reply: fmt.Sprintf("%d %d.%d.%d Refused as the address asks (%d)", n, enh[0], enh[1], enh[2], n)}
}

// rateLimiter allows n messages per window per key (sliding window).
type rateLimiter struct {
	n      int
	window time.Duration
	mu     sync.Mutex
	sent   map[string][]time.Time
}

func (r *rateLimiter) allow(key string) bool {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	times := r.sent[key]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= r.window {
		i++
	}
	times = times[i:]
	if len(times) >= r.n {
		r.sent[key] = times
		return false
	}
	r.sent[key] = append(times, now)
	return true
}

// pop3Intercept is the POP3 front-end's hook for injected faults.
func (s *Server) pop3Intercept(info pop3.SessionInfo, cmd string, args []string) *fault.Action {
	name := strings.ToUpper(cmd)
	arg := strings.Join(args, " ")
	if name == "PASS" || name == "APOP" || name == "AUTH" {
		arg = info.Username // never match on secrets
	}
	f, ok := s.faults.take(POP3, name, arg)
	if !ok {
		return nil
	}
	s.log.Info("fault injected", "fault", f.String(), "session", info.ID)
	s.noteFault(info.ID, f)
	return f.action()
}

// imapIntercept is the IMAP front-end's hook for injected faults.
func (s *Server) imapIntercept(cmd imapfront.Command) *fault.Action {
	arg := cmd.Mailbox
	if cmd.Name == "LOGIN" || cmd.Name == "AUTHENTICATE" {
		arg = cmd.User
	}
	f, ok := s.faults.take(IMAP, cmd.Name, arg)
	if !ok {
		return nil
	}
	s.log.Info("fault injected", "fault", f.String(), "conn", cmd.ConnID)
	s.noteFault(imapSessionID(cmd.ConnID), f)
	return f.action()
}
