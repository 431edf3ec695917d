package imapfront

import (
	"bytes"
	"cmp"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
)

// RFC 2971's limits on what a client may send in ID.
const (
	maxIDPairs = 30
	maxIDField = 30
	maxIDValue = 1024
)

// parseID parses ID's argument: SP ("(" [string SP nstring *(SP string SP
// nstring)] ")" / NIL) CRLF. A NIL value is left out of the map; fields
// are kept as sent, their case too.
func parseID(a *argReader) (map[string]string, error) {
	if err := a.sp(); err != nil {
		return nil, err
	}
	params := map[string]string{}
	if a.peek() != '(' {
		if _, isNil, err := a.nstring(); err != nil || !isNil {
			return nil, syntaxErr("expected parameter list or NIL")
		}
		return params, a.end()
	}
	a.pos++
	for n := 0; a.peek() != ')'; n++ {
		if n > 0 {
			if err := a.sp(); err != nil {
				return nil, err
			}
		}
		if n == maxIDPairs {
			return nil, syntaxErr("more than 30 ID parameters")
		}
		field, err := a.str()
		if err != nil {
			return nil, err
		}
		if len(field) > maxIDField {
			return nil, syntaxErr("ID field longer than 30 octets")
		}
		if err := a.sp(); err != nil {
			return nil, err
		}
		value, isNil, err := a.nstring()
		if err != nil {
			return nil, err
		}
		if len(value) > maxIDValue {
			return nil, syntaxErr("ID value longer than 1024 octets")
		}
		if !isNil {
			params[field] = value
		}
	}
	a.pos++
	return params, a.end()
}

// serverVersion is mailrig's module version, "devel" when built from a
// checkout.
var serverVersion = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	mods := append([]*debug.Module{&bi.Main}, bi.Deps...)
	for _, m := range mods {
		if m != nil && m.Path == "github.com/mailrig/mailrig" && m.Version != "" && m.Version != "(devel)" {
			return m.Version
		}
	}
	return "devel"
})

// handleID answers ID (RFC 2971) with the server's name and version and
// keeps what the client said for Server.Sessions.
func (fc *frontConn) handleID(tag, name string, a *argReader) error {
	params, err := parseID(a)
	if err != nil {
		return err
	}
	if err := fc.intercept(name, ""); err != nil {
		return err
	}
	if fc.sess != nil {
		fc.sess.setClientID(params)
	}
	var b bytes.Buffer
	b.WriteString(`* ID ("name" "mailrig" "version" `)
	b.WriteString(quoteString(serverVersion()))
	b.WriteString(` "vendor" "mailrig" "support-url" "https://github.com/mailrig/mailrig")` + "\r\n")
	return fc.writeResp(b.Bytes())
}

// quoteString writes s as an IMAP quoted string.
func quoteString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "")
	return `"` + r.Replace(s) + `"`
}

// SessionInfo describes an open IMAP session, for tests that check what a
// client did: see Server.Sessions.
type SessionInfo struct {
	// ConnID is Command.ConnID of the session's connection.
	ConnID uint64
	// User is the logged-in user's address, "" before login.
	User string
	// Mailbox is the selected mailbox, "" if none.
	Mailbox string
	// ClientID is what the client sent with ID (RFC 2971), fields as
	// sent, NIL values left out; nil if it sent no ID.
	ClientID map[string]string
}

// sessionSet holds the open sessions.
type sessionSet struct {
	mu   sync.Mutex
	open map[*session]struct{}
}

func (ss *sessionSet) add(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.open == nil {
		ss.open = make(map[*session]struct{})
	}
	ss.open[s] = struct{}{}
}

func (ss *sessionSet) remove(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.open, s)
}

// Sessions lists the open sessions in the order of their connections.
func (s *Server) Sessions() []SessionInfo {
	s.live.mu.Lock()
	list := make([]*session, 0, len(s.live.open))
	for sess := range s.live.open {
		list = append(list, sess)
	}
	s.live.mu.Unlock()
	out := make([]SessionInfo, 0, len(list))
	for _, sess := range list {
		out = append(out, sess.info())
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return cmp.Compare(a.ConnID, b.ConnID) })
	return out
}

// setClientID records the client's ID parameters.
func (s *session) setClientID(params map[string]string) {
	s.infoMu.Lock()
	defer s.infoMu.Unlock()
	s.clientID = params
}

// info is the session's SessionInfo. The user and mailbox are published
// under infoMu by the session's goroutine before each tagged reply
// (notePublic).
func (s *session) info() SessionInfo {
	s.infoMu.Lock()
	defer s.infoMu.Unlock()
	return SessionInfo{ConnID: s.id, User: s.pubUser, Mailbox: s.pubMailbox, ClientID: maps.Clone(s.clientID)}
}

// notePublic publishes the user and selected mailbox for info.
func (s *session) notePublic() {
	mailbox := ""
	if s.sel != nil {
		mailbox = s.sel.name
	}
	s.infoMu.Lock()
	s.pubUser, s.pubMailbox = s.username, mailbox
	s.infoMu.Unlock()
}
