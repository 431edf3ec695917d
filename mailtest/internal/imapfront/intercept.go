package imapfront

import (
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Command describes a command about to be handled, as passed to
// Options.Intercept.
//
// Interception happens where go-imap hands a command to the session, or
// the command layer runs one of its own, so commands answered without the
// session (CAPABILITY, NOOP, CHECK, LOGOUT, STARTTLS, ENABLE) and
// commands rejected for syntax or state are never seen. LSUB is reported
// as "LIST". IDLE is seen after the "+" continuation was sent, so its
// reply follows the client's DONE.
type Command struct {
	// Name is the upper-case command name, with "UID " in front for UID
	// commands: "LOGIN", "AUTHENTICATE", "SELECT", "EXAMINE", "CREATE",
	// "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "NAMESPACE",
	// "STATUS", "APPEND", "IDLE", "UNSELECT", "CLOSE", "EXPUNGE",
	// "UID EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", and
	// the command layer's "ID", "GETQUOTA", "GETQUOTAROOT", "SETQUOTA",
	// "SORT", "UID SORT", "THREAD", "UID THREAD", ...
	Name string
	// ConnID numbers the connection, from 1, in the order of acceptance.
	ConnID uint64
	// User is the logged-in user's address, "" before login. For LOGIN it
	// is the name the client gave; for AUTHENTICATE it is "".
	User string
	// Mailbox is the mailbox the command names (SELECT, CREATE, STATUS,
	// APPEND, the destination of COPY and MOVE, ...) or else the selected
	// mailbox, or "".
	Mailbox string
}

// Action replaces or delays a command. The zero Action lets the command run
// normally.
type Action struct {
	// Delay is waited first (Close of the server cuts it short).
	Delay time.Duration
	// Close drops the connection without a reply.
	Close bool
	// Reply, if not empty, is sent instead of running the command: "NO"
	// or "BAD" as the tagged reply, or "BYE", which is sent untagged
	// before the connection is closed.
	Reply imap.StatusResponseType
	// Code is an optional response code, such as imap.ResponseCodeOverQuota.
	Code imap.ResponseCode
	// Text is the human-readable reply text.
	Text string
}

// errConnClosed ends a command after the session closed the connection;
// go-imap stops quietly on net.ErrClosed.
var errConnClosed = fmt.Errorf("imapfront: connection closed by the session: %w", net.ErrClosed)

// intercept asks Options.Intercept about a command and carries out its
// answer. A non-nil error is the command's result.
func (s *session) intercept(name, mailbox string) error {
	return s.interceptAs(name, mailbox, s.username)
}

// interceptAs is intercept with the user named explicitly (LOGIN).
func (s *session) interceptAs(name, mailbox, user string) error {
	hook := s.srv.opts.Intercept
	if hook == nil {
		return nil
	}
	act := hook(Command{Name: name, ConnID: s.id, User: user, Mailbox: mailbox})
	if act == nil {
		return nil
	}
	if act.Delay > 0 {
		t := time.NewTimer(act.Delay)
		select {
		case <-t.C:
		case <-s.srv.done:
			t.Stop()
			return errConnClosed
		}
	}
	switch {
	case act.Close:
		_ = s.conn.NetConn().Close()
		return errConnClosed
	case act.Reply == imap.StatusResponseTypeBye:
		text := act.Text
		if text == "" {
			text = "Closing connection"
		}
		if act.Code != "" {
			text = fmt.Sprintf("[%s] %s", act.Code, text)
		}
		_ = s.conn.Bye(text)
		return errConnClosed
	case act.Reply != "":
		text := act.Text
		if text == "" {
			text = name + " refused"
		}
		return &imap.Error{Type: act.Reply, Code: act.Code, Text: text}
	}
	return nil
}
