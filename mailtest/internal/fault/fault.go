// Package fault holds the one type the three front-ends' Intercept hooks
// return: what to do instead of (or before) answering a command.
package fault

import "time"

// Action replaces, delays or cuts the answer to a command. The zero Action
// lets the command run normally. In order: Delay is waited (the server's
// Close cuts it short and drops the connection); then Drop closes the
// connection, or else DropAfter lets the command run and cuts its
// response, or else Reply is sent instead of running the command.
type Action struct {
	// Delay is waited before anything else.
	Delay time.Duration
	// Drop closes the connection without a reply. For SMTP DATA the
	// message is stored first: the client cannot know whether it was taken.
	Drop bool
	// Reply, if not empty, is the reply line sent instead of running the
	// command, in the protocol's own form, which the front-end's
	// ParseReply accepts: "452 4.2.2 Mailbox full" (SMTP); "NO
	// [OVERQUOTA] Quota exceeded", "BAD text" or "BYE [UNAVAILABLE] text"
	// (IMAP; BYE is sent untagged and the connection closed); "-ERR
	// [SYS/TEMP] Try later" or "+OK text" (POP3).
	Reply string
	// DropAfter, if positive, runs the command but cuts the connection
	// once this many octets of its response have been written (POP3 RETR
	// and TOP).
	DropAfter int64
}
