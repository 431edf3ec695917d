package pop3

import (
	"fmt"
	"net"
	"strings"
)

// Response codes (RFC 2449 §8, RFC 3206) the server puts in brackets after
// "-ERR". Intercept hooks may use them in a reply.
const (
	CodeInUse      = "IN-USE"      // the maildrop is locked by another session
	CodeLoginDelay = "LOGIN-DELAY" // logging in again too soon
	CodeAuth       = "AUTH"        // the credentials, or their transport, are unacceptable
	CodeSysTemp    = "SYS/TEMP"    // transient system problem; retrying may work
	CodeSysPerm    = "SYS/PERM"    // permanent system problem
)

// State is a POP3 session state (RFC 1939 §3).
type State int

// The session states.
const (
	StateAuthorization State = iota // greeting sent, no user logged in
	StateTransaction                // logged in, maildrop locked
	StateUpdate                     // QUIT received in TRANSACTION; committing
)

// String returns the RFC 1939 name of the state.
func (s State) String() string {
	switch s {
	case StateAuthorization:
		return "AUTHORIZATION"
	case StateTransaction:
		return "TRANSACTION"
	case StateUpdate:
		return "UPDATE"
	}
	return "UNKNOWN"
}

// ParseReply splits a fault's reply, "-ERR [SYS/TEMP] text" or "+OK
// text", into its parts; the code and text are optional.
func ParseReply(reply string) (ok bool, code, text string, err error) {
	rest := strings.TrimSpace(reply)
	switch {
	case strings.HasPrefix(rest, "+OK"):
		ok, rest = true, rest[len("+OK"):]
	case strings.HasPrefix(rest, "-ERR"):
		rest = rest[len("-ERR"):]
	default:
		return false, "", "", fmt.Errorf("pop3: reply %q must start with -ERR or +OK", reply)
	}
	if rest != "" && rest[0] != ' ' {
		return false, "", "", fmt.Errorf("pop3: reply %q must start with -ERR or +OK", reply)
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return false, "", "", fmt.Errorf("pop3: reply %q: unterminated response code", reply)
		}
		code, rest = rest[1:end], strings.TrimSpace(rest[end+1:])
	}
	return ok, code, rest, nil
}

// SessionInfo describes a session to an [Options.Intercept] hook.
type SessionInfo struct {
	ID         string   // the session ID also given to Transcript and ConnInfo
	RemoteAddr net.Addr // the client's address
	TLS        bool     // the connection is TLS (implicit or after STLS)
	State      State    // the session state the command arrives in
	Username   string   // the logged-in user in TRANSACTION, else ""
}
