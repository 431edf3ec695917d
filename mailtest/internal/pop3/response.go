package pop3

import "net"

// Response codes (RFC 2449 §8, RFC 3206) the server puts in brackets after
// "-ERR". Intercept hooks may use them in a Reply.
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

// Reply is what an [Options.Intercept] hook returns to override the server.
//
// The zero Reply is "-ERR" with no text. Fields combine as follows:
//   - DropAfter > 0: the command runs normally, but the connection is cut
//     once DropAfter octets of its response (status line included) have
//     been written — e.g. a RETR that dies halfway. OK, Code and Text are
//     ignored.
//   - Drop: the reply (if Code or Text is set) is sent and the connection is
//     closed without entering the UPDATE state, so nothing is deleted.
//   - otherwise: the reply is sent instead of running the command.
type Reply struct {
	OK        bool   // "+OK" rather than "-ERR"
	Code      string // optional response code without brackets, e.g. CodeSysTemp
	Text      string // human-readable text
	Drop      bool   // close the connection after the (optional) reply
	DropAfter int64  // run the command but cut the connection after this many octets
}

// SessionInfo describes a session to an [Options.Intercept] hook.
type SessionInfo struct {
	ID         string   // the session ID also given to Transcript and ConnInfo
	RemoteAddr net.Addr // the client's address
	TLS        bool     // the connection is TLS (implicit or after STLS)
	State      State    // the session state the command arrives in
	Username   string   // the logged-in user in TRANSACTION, else ""
}
