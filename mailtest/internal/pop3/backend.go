package pop3

import (
	"context"
	"errors"
	"net"
)

// Backend is what the POP3 server needs from the mail store.
type Backend interface {
	// Login checks the credentials and, on success, locks and returns the user's maildrop.
	// It returns ErrAuthFailed for bad credentials and ErrInUse when another POP3 session holds the maildrop.
	Login(ctx context.Context, username, password string, info ConnInfo) (Maildrop, error)
	// LoginAPOP is Login for APOP: digest is the lowercase hex MD5 of timestamp+password (RFC 1939 §7).
	LoginAPOP(ctx context.Context, username, timestamp, digest string, info ConnInfo) (Maildrop, error)
}

// ConnInfo describes the connection a login came from.
type ConnInfo struct {
	RemoteAddr net.Addr
	TLS        bool
	SessionID  string
}

// MessageInfo is one message of the maildrop as listed at login.
type MessageInfo struct {
	Key  uint32 // opaque to the server; handed back to Open, Retrieved and Commit
	Size int64  // exact octets of the bytes Open returns, before byte-stuffing
	UIDL string // unique-id listing (RFC 1939 §7): 1 to 70 characters 0x21-0x7E
}

// Maildrop is a locked maildrop for one session.
type Maildrop interface {
	// List is called once after login; the result is frozen for the session
	// and message number n is List()[n-1].
	List() []MessageInfo
	// Open returns the message's CRLF-normalised bytes, not byte-stuffed. It
	// returns ErrGone if the message was expunged meanwhile.
	Open(key uint32) ([]byte, error)
	// Retrieved is called after a RETR sent the whole message.
	Retrieved(key uint32)
	// Commit deletes the given messages; it is called on QUIT in the
	// TRANSACTION state.
	Commit(deleted []uint32) error
	// Close releases the lock. It is called exactly once per successful
	// login, whatever happens to the session.
	Close()
}

// Sentinel errors a Backend or Maildrop returns; the server maps them to
// RFC 3206 / RFC 2449 response codes.
var (
	// ErrAuthFailed means the credentials are wrong ("-ERR [AUTH]").
	ErrAuthFailed = errors.New("pop3: authentication failed")
	// ErrInUse means another session holds the maildrop lock ("-ERR [IN-USE]").
	ErrInUse = errors.New("pop3: maildrop in use")
	// ErrGone means a message disappeared from the store after login.
	ErrGone = errors.New("pop3: message no longer exists")
)
