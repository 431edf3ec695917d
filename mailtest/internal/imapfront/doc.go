// Package imapfront is mailrig's IMAP4rev1/IMAP4rev2 front-end. It puts the
// protocol engine of go-imap's imapserver in front of a [memstore.Store],
// with its own Session so that several sessions on one mailbox see each
// other's changes at the points RFC 9051 allows.
//
// # Views and updates
//
// A selected session keeps its own view of the mailbox: the sequence
// number → UID list the client knows, with each message's flags as last
// reported. The view is fed by a memstore watcher registered atomically with
// the snapshot taken at SELECT, and changes only when updates may be sent:
// after each command (go-imap's Poll; EXPUNGE is held back after FETCH, STORE
// and SEARCH) and while idling. Changes a session makes itself are answered
// by the command and never echoed back.
//
// A deleted selected mailbox ends the session: the next update point sends
// "* BYE" and closes the connection, as the session has no sane view left.
//
// # Concurrency
//
// No memstore lock is held while writing to the network: memstore methods
// return copies (snapshots, entries, drained events) and responses are
// written afterwards. A client that stops reading blocks only its own
// session.
package imapfront
