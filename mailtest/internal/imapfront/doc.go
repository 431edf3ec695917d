// Package imapfront is mailrig's IMAP4rev1/IMAP4rev2 front-end. It puts the
// protocol engine of go-imap's imapserver in front of a [memstore.Store],
// with its own Session so that several sessions on one mailbox see each
// other's changes at the points RFC 9051 allows.
//
// # The command layer
//
// go-imap's imapserver has a fixed command set and works out the
// capability list itself, listing before login only what it needs to log
// in; clients that read the list once (Python's imaplib) then miss IDLE,
// and commands it does not know (ID, QUOTA, SORT, THREAD) are "BAD Unknown
// command". frontConn (command_layer.go) is the one place that answers what
// imapserver cannot. It is the net.Conn go-imap reads and writes, and it:
//
//   - hands go-imap every command it knows, byte for byte, following its
//     literals, its "+" continuation requests, IDLE's DONE and
//     AUTHENTICATE's responses, so go-imap stays the protocol engine;
//   - answers its own commands in go-imap's goroutine while go-imap waits
//     in Read, so their responses are in order with go-imap's and never
//     inside one of them; their arguments, literals included (with the
//     "+" a synchronising literal waits for), are parsed by args.go;
//   - owns the capability list (caps.go): the greeting, CAPABILITY and the
//     tagged OK of LOGIN and AUTHENTICATE carry the same list, before
//     login every capability that does not depend on the user, and
//     Options.Disable hides a capability everywhere;
//   - owns STARTTLS, as it must keep reading commands after the upgrade
//     (go-imap therefore never sees a *tls.Conn; the session refuses
//     plaintext logins under RequireTLS);
//   - sets read deadlines from what it is reading (a command, a literal,
//     the DONE of IDLE), as go-imap's are fixed.
//
// Its commands are CAPABILITY, STARTTLS, ID (id.go), GETQUOTA,
// GETQUOTAROOT and SETQUOTA (quota.go), SORT and UID SORT (sort.go,
// basesubject.go), THREAD and UID THREAD (thread.go). They go through
// Options.Intercept by name, like go-imap's, are recorded by
// Options.Trace, and select messages through the SEARCH code
// (searchHits), so a search key means the same everywhere. A command
// whose capability is hidden goes to go-imap, which answers it as
// unknown. The next extension go-imap lacks is added here: a handler in
// frontConn.handler, its capability in caps.go.
//
// go-imap sends unsolicited updates (EXISTS, EXPUNGE, FETCH FLAGS) after
// its own commands only: its UpdateWriter cannot be made outside
// imapserver. After one of the layer's commands they wait for the next
// command go-imap handles (NOOP, FETCH, ...); the session's numbering does
// not change in between, so SORT and THREAD answer in the numbers the
// client knows.
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
