package mailtest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailrig/mailrig/memstore"
)

// IMAPView is what an IMAP client logged in as one user would see now, read
// from the store without logging in.
type IMAPView struct {
	User string
	// Exists is false if the store has no such user; the view is then empty.
	Exists    bool
	Mailboxes []IMAPMailbox
	// Sessions are the user's IMAP sessions open now, logged in as the
	// user, in the order they connected.
	Sessions []IMAPSession
}

// IMAPSession is one open IMAP session as the server sees it.
type IMAPSession struct {
	// TranscriptID names the session's transcript (Server.Transcript).
	TranscriptID string
	// Mailbox is the selected mailbox, "" if none.
	Mailbox string
	// ClientID is what the client said about itself with the ID command
	// (RFC 2971), such as "name" and "version", field names as sent and
	// NIL values left out; nil if it sent no ID. Thunderbird, Apple Mail,
	// Outlook and imapflow send it.
	ClientID map[string]string
}

// IMAPMailbox is one mailbox as LIST, STATUS and SELECT would show it.
type IMAPMailbox struct {
	Name string
	// Attributes are the LIST attributes: the special use (e.g. `\Sent`)
	// and `\HasChildren` or `\HasNoChildren`.
	Attributes  []string
	Subscribed  bool
	UIDValidity uint32
	UIDNext     uint32
	// Messages are in sequence-number order.
	Messages []IMAPMessage
}

// IMAPMessage is one message as FETCH would show it. \Recent is per
// session, so it is not listed.
type IMAPMessage struct {
	SeqNum uint32
	UID    uint32
	Flags  []string // canonical spelling, stable order
	// ReceivedAt is what FETCH shows as INTERNALDATE: Message.ReceivedAt.
	ReceivedAt time.Time
	Size       int64
	Message    *Message
}

// Mailbox returns the named mailbox (INBOX case-insensitively).
func (v IMAPView) Mailbox(name string) (IMAPMailbox, bool) {
	for _, mb := range v.Mailboxes {
		if mb.Name == name || (strings.EqualFold(name, memstore.InboxName) && mb.Name == memstore.InboxName) {
			return mb, true
		}
	}
	return IMAPMailbox{}, false
}

// Names returns the mailbox names in LIST order.
func (v IMAPView) Names() []string {
	out := make([]string, len(v.Mailboxes))
	for i, mb := range v.Mailboxes {
		out[i] = mb.Name
	}
	return out
}

// Unseen counts the messages without \Seen.
func (mb IMAPMailbox) Unseen() int {
	n := 0
	for _, m := range mb.Messages {
		if !slices.Contains(m.Flags, memstore.FlagSeen) {
			n++
		}
	}
	return n
}

// IMAPView returns what an IMAP client of user (an address or alias) would
// see now: every mailbox in LIST order with its messages.
func (s *Server) IMAPView(user string) IMAPView {
	u, ok := s.store.User(user)
	if !ok {
		return IMAPView{User: user}
	}
	v := imapView(u)
	for _, si := range s.imap.Sessions() {
		if si.User == v.User {
			v.Sessions = append(v.Sessions, IMAPSession{TranscriptID: imapSessionID(si.ConnID), Mailbox: si.Mailbox, ClientID: si.ClientID})
		}
	}
	return v
}

func imapView(u *memstore.User) IMAPView {
	v := IMAPView{User: u.Address(), Exists: true}
	mailboxes := u.Mailboxes()
	subscribed := u.Subscriptions()
	for _, mb := range mailboxes {
		snap := mb.Snapshot()
		view := IMAPMailbox{
			Name:        snap.Name,
			Subscribed:  slices.Contains(subscribed, snap.Name),
			UIDValidity: snap.UIDValidity,
			UIDNext:     snap.UIDNext,
		}
		if use := mb.SpecialUse(); use != "" {
			view.Attributes = append(view.Attributes, use)
		}
		if hasChildren(mailboxes, snap.Name) {
			view.Attributes = append(view.Attributes, `\HasChildren`)
		} else {
			view.Attributes = append(view.Attributes, `\HasNoChildren`)
		}
		for i, e := range snap.Entries {
			view.Messages = append(view.Messages, IMAPMessage{
				SeqNum:     uint32(i + 1),
				UID:        e.UID,
				Flags:      e.Flags.List(),
				ReceivedAt: e.Message.ReceivedAt(),
				Size:       e.Message.Size(),
				Message:    wrap(e.Message),
			})
		}
		v.Mailboxes = append(v.Mailboxes, view)
	}
	return v
}

func hasChildren(all []*memstore.Mailbox, name string) bool {
	prefix := name + memstore.Delimiter
	for _, mb := range all {
		if strings.HasPrefix(mb.Name(), prefix) {
			return true
		}
	}
	return false
}

// POP3View is what a POP3 client logged in as one user would download now:
// the user's INBOX, numbered from 1.
type POP3View struct {
	User string
	// Exists is false if the store has no such user; the view is then empty.
	Exists bool
	// Locked reports whether a POP3 session holds the maildrop now, so a
	// new login would get -ERR [IN-USE].
	Locked   bool
	Messages []POP3Message
}

// POP3Message is one message as LIST and UIDL would show it.
type POP3Message struct {
	Number  int
	Size    int64 // octets, as in LIST and STAT
	UIDL    string
	Message *Message
}

// Size is the total STAT would report.
func (v POP3View) Size() int64 {
	var n int64
	for _, m := range v.Messages {
		n += m.Size
	}
	return n
}

// UIDLs returns the unique ids in message-number order.
func (v POP3View) UIDLs() []string {
	out := make([]string, len(v.Messages))
	for i, m := range v.Messages {
		out[i] = m.UIDL
	}
	return out
}

// POP3View returns what a POP3 client of user (an address or alias) would
// download now.
func (s *Server) POP3View(user string) POP3View {
	u, ok := s.store.User(user)
	if !ok {
		return POP3View{User: user}
	}
	v := POP3View{User: u.Address(), Exists: true, Locked: u.MaildropLocked()}
	snap := u.Inbox().Snapshot()
	for i, e := range snap.Entries {
		v.Messages = append(v.Messages, POP3Message{
			Number:  i + 1,
			Size:    e.Message.Size(),
			UIDL:    uidl(snap.UIDValidity, e.UID),
			Message: wrap(e.Message),
		})
	}
	return v
}

// uidl is the POP3 unique id of a message: stable across sessions because
// IMAP UIDs are, unique within the maildrop, and at most 21 printable
// characters (RFC 1939 allows 70).
func uidl(uidValidity, uid uint32) string { return fmt.Sprintf("%d.%d", uidValidity, uid) }
