// Package memstore is mailrig's in-memory mail model: users, mailboxes,
// messages, flags, UIDs and change events. It knows nothing about sockets or
// protocols; the SMTP, IMAP and POP3 front-ends in package mailtest translate
// their commands into calls on a Store.
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
//  4. watcher queues (leaf locks)
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
package memstore
