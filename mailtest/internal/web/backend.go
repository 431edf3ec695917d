package web

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) by a Backend for an unknown message,
// user, mailbox, transcript or fault; the handler answers 404.
var ErrNotFound = errors.New("not found")

// ErrInvalid is returned (wrapped) by a Backend for a request it cannot
// carry out as asked (a malformed fault, a message that does not compose);
// the handler answers 400 with the error text.
var ErrInvalid = errors.New("invalid request")

// Backend is what the handler needs from the mail server. Package mailtest
// implements it over its store; this package knows only HTTP and JSON.
type Backend interface {
	// Messages returns the messages of a view, oldest first, each with its
	// read state in that view.
	Messages(v View) ([]Item, error)
	// MessagesAndWatch is Messages with a watcher registered atomically
	// with the listing: every message received after it arrives as a
	// ChangeNew.
	MessagesAndWatch(v View) ([]Item, Watcher, error)
	// Find returns a message by its store-wide ID, whether it was received
	// over SMTP or only filed into a mailbox (IMAP APPEND).
	Find(id uint64) (*Mail, bool)
	// Details returns the envelope, links, header and raw bytes of a message.
	Details(id uint64) (Details, bool)
	// Copies lists where the message is filed now.
	Copies(id uint64) []Copy
	// SetRead sets or clears \Seen on every copy of the given messages
	// (all messages if ids is nil).
	SetRead(ids []uint64, read bool)
	// Delete expunges every copy of the given messages and forgets them
	// from the received list (all messages if ids is nil).
	Delete(ids []uint64)
	// Send delivers a composed message through the server's SMTP listener.
	Send(ctx context.Context, m SendRequest) (uint64, error)
	// Watch returns a watcher of every change in the store.
	Watch() Watcher
	// Info describes the server for /api/v1/info.
	Info() Info
	// NewInbox creates a user with a fresh unique address and password.
	NewInbox() (Inbox, error)
	// Users lists the users with their mailboxes.
	Users() []User
	// IMAPView and POP3View return what a client of user would see now.
	IMAPView(user string) (IMAPView, error)
	POP3View(user string) (POP3View, error)
	// Transcript returns the SMTP session that delivered message id.
	Transcript(id uint64) (Transcript, error)
	// Faults lists the injected faults; AddFault injects one; RemoveFault
	// clears one by ID, or all if id is 0.
	Faults() []Fault
	AddFault(f Fault) (Fault, error)
	RemoveFault(id int) error
}

// View selects the messages to list: all received messages (the zero
// View), or one IMAP mailbox of one user.
type View struct {
	User    string
	Mailbox string
}

// Item is one message of a listing with its read state there.
type Item struct {
	Mail *Mail
	Read bool
}

// Mail is the immutable description of one stored message. Backends build
// it once per message and share it; it must not be modified.
type Mail struct {
	ID          uint64
	MessageID   string
	From        *Address
	To          []Address
	Cc          []Address
	Bcc         []Address
	ReplyTo     []Address
	Subject     string
	Date        time.Time // the Date header (zero if missing)
	Created     time.Time // when the server received it
	Username    string    // SMTP AUTH identity
	Size        int64
	ReturnPath  string
	Text        string
	HTML        string
	Attachments []Part
	Inline      []Part
}

// Details are the parts of a message that only its own page needs; the
// backend computes them on demand rather than keeping them per message.
type Details struct {
	Envelope Envelope
	Links    []string
	// Headers maps canonical field names to their values in order.
	Headers map[string][]string
	Raw     []byte
}

// Address is a mailbox address with its display name.
type Address struct {
	Name    string
	Address string
}

// Part is an attachment or inline part.
type Part struct {
	PartID      string
	FileName    string
	ContentType string
	ContentID   string
	Size        int64
	Data        []byte `json:"-"`
}

// Envelope is the SMTP envelope of a received message.
type Envelope struct {
	MailFrom   string
	Rcpts      []string
	Helo       string
	TLS        bool
	AuthUser   string
	RemoteAddr string
	SessionID  string
}

// Copy is one copy of a message in one user's mailbox.
type Copy struct {
	User    string
	Mailbox string
	UID     uint32
	Flags   []string
	// POP3 reports whether a POP3 client of the user would still download
	// it (it is in the INBOX).
	POP3 bool
}

// Watcher delivers store changes.
type Watcher interface {
	// C receives a value when changes are waiting.
	C() <-chan struct{}
	// Next returns the waiting changes.
	Next() []Change
	Close()
}

// ChangeKind says what a Change reports.
type ChangeKind int

// The changes the handler reacts to.
const (
	// ChangeNew: a message was received (one SMTP transaction).
	ChangeNew ChangeKind = iota + 1
	// ChangeFlags: a copy's flags changed, so the read state may have.
	ChangeFlags
	// ChangeMailbox: a user's mailbox gained or lost a message, or the
	// user's mailbox list changed.
	ChangeMailbox
	// ChangeDelete: a message was forgotten from the received list.
	ChangeDelete
	// ChangeTruncate: every message was forgotten.
	ChangeTruncate
)

// Change is one store change. ID is 0 when it is not known (an expunge).
type Change struct {
	Kind    ChangeKind
	ID      uint64
	User    string
	Mailbox string
}

// SendRequest is the body of POST /api/v1/send, as Mailpit defines it.
type SendRequest struct {
	From        SendAddress
	To          []SendAddress
	Cc          []SendAddress
	Bcc         []string
	ReplyTo     []SendAddress
	Subject     string
	Text        string
	HTML        string
	Attachments []SendAttachment
	Headers     map[string]string
	Tags        []string
}

// SendAddress is an address in a send request.
type SendAddress struct {
	Email string
	Name  string
}

// SendAttachment is an attachment in a send request; Content is base64.
type SendAttachment struct {
	Content     string
	Filename    string
	ContentType string
	ContentID   string
}

// Info is the body of GET /api/v1/info.
type Info struct {
	Version       string
	LatestVersion string
	Database      string
	DatabaseSize  int64
	Messages      int
	Unread        int
	Tags          map[string]int
	RuntimeStats  RuntimeStats
}

// RuntimeStats is part of Info.
type RuntimeStats struct {
	Uptime           int64
	Memory           uint64
	MessagesDeleted  int
	SMTPAccepted     int
	SMTPAcceptedSize int64
	SMTPRejected     int
	SMTPIgnored      int
}

// Inbox is the body of POST /api/v1/inboxes.
type Inbox struct {
	Address  string
	Password string
}

// User is one entry of GET /api/v1/users.
type User struct {
	Address   string
	Aliases   []string
	Mailboxes []MailboxInfo
}

// MailboxInfo is one mailbox of a user, with its counts.
type MailboxInfo struct {
	Name       string
	SpecialUse string
	Messages   int
	Unread     int
}

// IMAPView is the JSON of GET /api/v1/users/{address}/imap.
type IMAPView struct {
	User      string
	Mailboxes []IMAPMailbox
}

// IMAPMailbox is one mailbox of an IMAPView.
type IMAPMailbox struct {
	Name        string
	Attributes  []string
	Subscribed  bool
	UIDValidity uint32
	UIDNext     uint32
	Messages    []IMAPMessage
}

// IMAPMessage is one message of an IMAPMailbox.
type IMAPMessage struct {
	SeqNum     uint32
	UID        uint32
	Flags      []string
	ReceivedAt time.Time
	Size       int64
	ID         string
	Subject    string
}

// POP3View is the JSON of GET /api/v1/users/{address}/pop3.
type POP3View struct {
	User     string
	Locked   bool
	Size     int64
	Messages []POP3Message
}

// POP3Message is one message of a POP3View.
type POP3Message struct {
	Number  int
	Size    int64
	UIDL    string
	ID      string
	Subject string
}

// Transcript is the JSON of GET /api/v1/message/{ID}/transcript.
type Transcript struct {
	ID         string
	Protocol   string
	RemoteAddr string
	Start      time.Time
	Truncated  bool
	Lines      []TranscriptLine
}

// TranscriptLine is one protocol line of a Transcript.
type TranscriptLine struct {
	Time       time.Time
	FromClient bool
	Text       string
}

// Fault is the JSON of an injected fault: mailtest.Fault's fields, with
// Delay as a Go duration string ("250ms") and an ID to clear it by.
type Fault struct {
	ID             int
	Protocol       string
	Command        string
	Arg            string
	Times          int
	Reply          string
	Delay          string
	Drop           bool
	DropAfterBytes int64
}
