// Package memstore is mailrig's in-memory mail model: users, mailboxes,
// messages, flags, UIDs and change events. It has no sockets and parses no
// protocol; the SMTP, IMAP and POP3 front-ends in package mailtest translate
// their commands into calls on a Store. The few things it keeps for them
// are listed under "For front-ends" below.
//
// # Model
//
// A [Store] holds users. A [User] has a login address, an optional password,
// optional alias addresses and a set of mailboxes. INBOX always exists;
// Sent, Drafts, Trash, Junk and Archive are created with their RFC 6154
// special-use attributes. The hierarchy delimiter is "/".
//
// A [Message] is immutable: its raw bytes are normalised to CRLF line endings
// when it enters the store (see [NormalizeCRLF]) and never change. One SMTP
// transaction is one Message; [Store.Deliver] files the same Message (shared,
// not copied) into the INBOX of every recipient. A mailbox holds entries that
// pair a Message with its UID and flags in that mailbox.
//
// A user may have a quota over all its mailboxes: a limit on bytes
// ([User.SetQuota]) and one on the number of messages
// ([User.SetMessageQuota]), each 0 for none. A message filed in two
// mailboxes counts twice; a move between the user's mailboxes changes
// nothing; expunging, deleting a mailbox and [Store.Purge] give the usage
// back. A delivery, append or copy that would go over either limit stores
// nothing and fails with [ErrOverQuota].
//
// UIDs are strictly increasing per mailbox and never reused. Every mailbox has
// a UIDVALIDITY taken from a store-wide counter, so a mailbox that is deleted
// and created again gets a new one.
//
// # Concurrency
//
// All methods are safe for concurrent use. Locks are taken in this order and
// never the other way round:
//
//  1. Store.mu (users and addresses)
//  2. User.mu (the mailbox names of one user)
//  3. Mailbox.mu, and when an operation touches two mailboxes (copy, move,
//     INBOX rename) the one with the lower ID first
//  4. watcher queues and a user's quota counters (leaf locks)
//
// No lock is held while calling user code or doing I/O. Readers take a
// [Snapshot], which is immutable and costs O(1) to take.
//
// # Events
//
// Every change to a mailbox is published as an [Event] to the [Watcher]s of
// that mailbox and to store-wide watchers. A watcher's queue is unbounded, so
// a slow reader (an IMAP client that stopped reading) never blocks a
// delivery. [Mailbox.SnapshotAndWatch] returns a snapshot and a watcher
// registered atomically with it, so no change can fall between "look at the
// state" and "start waiting".
//
// # For front-ends
//
// Four parts of the API exist for protocol front-ends. Each is state that
// every session of the store must share, or a cache, that has to live and
// die with the mail it belongs to, so it lives here rather than in any one
// front-end:
//
//   - [Mailbox.ClaimRecent]: IMAP's \Recent belongs to the first session
//     that sees a message (RFC 3501 §2.3.2), so which UIDs are claimed is
//     mailbox state, kept under the mailbox lock next to UIDNEXT.
//   - [User.TryLockMaildrop] and [User.MaildropLocked]: a POP3 session holds
//     the user's maildrop exclusively (RFC 1939 §8), whichever listener it
//     came in on.
//   - [Message.Cached]: views derived from a message's bytes (an IMAP
//     ENVELOPE, a decoded body) are computed once per message, not once per
//     session, and go away with the message.
//   - [Event.Origin]: a value a front-end passes to a change (SetFlags,
//     Expunge, CopyTo, ...) and gets back in the events, so a session can
//     tell its own changes from others' and report each one once.
//
// None of them is needed to use the store as a mail model.
package memstore
