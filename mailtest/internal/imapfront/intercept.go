package imapfront

import (
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailrig/mailrig/mailtest/internal/fault"
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

// ParseReply splits a fault's reply, "NO [OVERQUOTA] text", into its
// parts. The type is NO, BAD or BYE; the code and text are optional.
func ParseReply(reply string) (typ imap.StatusResponseType, code imap.ResponseCode, text string, err error) {
	t, rest, _ := strings.Cut(strings.TrimSpace(reply), " ")
	typ = imap.StatusResponseType(strings.ToUpper(t))
	switch typ {
	case imap.StatusResponseTypeNo, imap.StatusResponseTypeBad, imap.StatusResponseTypeBye:
	default:
		return "", "", "", fmt.Errorf("imapfront: reply %q must start with NO, BAD or BYE", reply)
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return "", "", "", fmt.Errorf("imapfront: reply %q: unterminated response code", reply)
		}
		code, rest = imap.ResponseCode(rest[1:end]), strings.TrimSpace(rest[end+1:])
	}
	return typ, code, rest, nil
}

// replyOf parses a fault's reply; one that does not parse (Options.Intercept
// is not mailtest's) becomes a NO.
func (s *Server) replyOf(act *fault.Action) (imap.StatusResponseType, imap.ResponseCode, string) {
	typ, code, text, err := ParseReply(act.Reply)
	if err != nil {
		s.log.Error("imapfront: bad fault reply; answering NO", "err", err)
		return imap.StatusResponseTypeNo, "", ""
	}
	return typ, code, text
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
	if !s.srv.sleep(act.Delay) {
		return errConnClosed
	}
	if act.Drop {
		_ = s.conn.NetConn().Close()
		return errConnClosed
	}
	if act.Reply == "" {
		return nil
	}
	typ, code, text := s.srv.replyOf(act)
	if typ == imap.StatusResponseTypeBye {
		if text == "" {
			text = "Closing connection"
		}
		if code != "" {
			text = fmt.Sprintf("[%s] %s", code, text)
		}
		_ = s.conn.Bye(text)
		return errConnClosed
	}
	if text == "" {
		text = name + " refused"
	}
	return &imap.Error{Type: typ, Code: code, Text: text}
}

// admit decides whether a new connection is greeted: when a CONNECT
// intercept says so, it gets "* BYE" instead (go-imap sends a BYE error
// from NewSession as the greeting).
func (s *Server) admit(sess *session) error {
	if s.opts.Intercept == nil {
		return nil
	}
	act := s.opts.Intercept(Command{Name: "CONNECT", ConnID: sess.id})
	if act == nil {
		return nil
	}
	if !s.sleep(act.Delay) {
		return errConnClosed
	}
	if !act.Drop && act.Reply == "" {
		return nil
	}
	var code imap.ResponseCode
	text := ""
	if act.Reply != "" {
		_, code, text = s.replyOf(act)
	}
	if text == "" {
		text = "Service not available"
	}
	return &imap.Error{Type: imap.StatusResponseTypeBye, Code: code, Text: text}
}
