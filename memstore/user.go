package memstore

import (
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Delimiter separates the levels of a mailbox name.
const Delimiter = "/"

// InboxName is the name of the mailbox that receives mail. It matches
// case-insensitively; every other name is case-sensitive.
const InboxName = "INBOX"

// Special-use attributes (RFC 6154) the store knows.
const (
	SpecialArchive = `\Archive`
	SpecialDrafts  = `\Drafts`
	SpecialJunk    = `\Junk`
	SpecialSent    = `\Sent`
	SpecialTrash   = `\Trash`
)

// defaultMailboxes are created for every user, with their special use.
var defaultMailboxes = []struct{ name, use string }{
	{"Archive", SpecialArchive},
	{"Drafts", SpecialDrafts},
	{"Junk", SpecialJunk},
	{"Sent", SpecialSent},
	{"Trash", SpecialTrash},
}

// User is one account: a login address, a password, aliases and mailboxes.
type User struct {
	store   *Store
	address string // as given when created; fixed

	mu           sync.Mutex
	password     string
	hasPassword  bool
	aliases      []string
	mailboxes    map[string]*Mailbox // by name; INBOX under InboxName
	subscribed   map[string]bool
	maildropBusy bool

	// quotaMu is a leaf lock, not mu: reserve runs while a caller holds
	// Mailbox.mu (copy, move), and User.mu comes before Mailbox.mu in the
	// lock order. One lock for both resources lets reserve check and take
	// bytes and messages together, so no change is refused for another's
	// reservation that is about to be undone.
	quotaMu sync.Mutex
	limit   usage // 0 in a field means no limit on that resource
	used    usage // stored in all mailboxes
}

// usage is an amount of each resource a quota limits.
type usage struct {
	bytes    int64
	messages int64
}

// Address returns the user's login address.
func (u *User) Address() string { return u.address }

// Aliases returns the user's extra addresses.
func (u *User) Aliases() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.aliases)
}

// SetPassword sets the password; until one is set, nobody can log in as the user.
func (u *User) SetPassword(password string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.password, u.hasPassword = password, true
}

// HasPassword reports whether a password is set.
func (u *User) HasPassword() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hasPassword
}

// CheckPassword reports whether password is the user's password, in
// constant time. It is false for a user without a password.
func (u *User) CheckPassword(password string) bool {
	u.mu.Lock()
	pw, ok := u.password, u.hasPassword
	u.mu.Unlock()
	return ok && subtle.ConstantTimeCompare([]byte(pw), []byte(password)) == 1
}

// Password returns the plain password, for challenge-response schemes such
// as POP3 APOP that need it. ok is false if none is set.
func (u *User) Password() (password string, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.password, u.hasPassword
}

// SetQuota limits the bytes the user may store over all mailboxes; 0 means
// no limit. Deliveries, appends and copies beyond it fail with ErrOverQuota.
// It is independent of SetMessageQuota: a change must fit both.
func (u *User) SetQuota(bytes int64) {
	u.quotaMu.Lock()
	defer u.quotaMu.Unlock()
	u.limit.bytes = bytes
}

// Quota returns the limit set by SetQuota (0: none) and the bytes in use.
func (u *User) Quota() (limit, used int64) {
	u.quotaMu.Lock()
	defer u.quotaMu.Unlock()
	return u.limit.bytes, u.used.bytes
}

// SetMessageQuota limits the number of messages the user may store over
// all mailboxes (IMAP's MESSAGE quota resource, RFC 9208 §5.2); 0 means no
// limit. Deliveries, appends and copies beyond it fail with ErrOverQuota;
// a move between the user's mailboxes keeps the count.
func (u *User) SetMessageQuota(messages int64) {
	u.quotaMu.Lock()
	defer u.quotaMu.Unlock()
	u.limit.messages = messages
}

// MessageQuota returns the limit set by SetMessageQuota (0: none) and the
// number of messages the user stores, a message filed in two mailboxes
// counting twice.
func (u *User) MessageQuota() (limit, used int64) {
	u.quotaMu.Lock()
	defer u.quotaMu.Unlock()
	return u.limit.messages, u.used.messages
}

// reserve counts n more against the quota, or fails with ErrOverQuota if
// either resource would go over its limit. It takes only quotaMu, so it
// may be called with Mailbox.mu held.
func (u *User) reserve(n usage) error {
	u.quotaMu.Lock()
	defer u.quotaMu.Unlock()
	if l, cur := u.limit.bytes, u.used.bytes; l > 0 && cur+n.bytes > l {
		return fmt.Errorf("%w: %s uses %d of %d bytes", ErrOverQuota, u.address, cur, l)
	}
	if l, cur := u.limit.messages, u.used.messages; l > 0 && cur+n.messages > l {
		return fmt.Errorf("%w: %s stores %d of %d messages", ErrOverQuota, u.address, cur, l)
	}
	u.used.bytes += n.bytes
	u.used.messages += n.messages
	return nil
}

// release gives back what reserve counted.
func (u *User) release(n usage) {
	u.quotaMu.Lock()
	defer u.quotaMu.Unlock()
	u.used.bytes -= n.bytes
	u.used.messages -= n.messages
}

// TryLockMaildrop is for POP3 front-ends (see "For front-ends" in the
// package doc). It takes the user's maildrop lock (RFC 1939 §8), which only
// one POP3 session may hold; it does not stop IMAP or deliveries. ok is
// false if another session holds it; otherwise release must be called
// exactly once.
func (u *User) TryLockMaildrop() (release func(), ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.maildropBusy {
		return nil, false
	}
	u.maildropBusy = true
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			u.maildropBusy = false
			u.mu.Unlock()
		})
	}, true
}

// MaildropLocked reports whether a POP3 session holds the maildrop lock
// (see TryLockMaildrop).
func (u *User) MaildropLocked() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.maildropBusy
}

// canonicalName folds INBOX to its canonical spelling.
func canonicalName(name string) string {
	if strings.EqualFold(name, InboxName) {
		return InboxName
	}
	return name
}

// ValidateMailboxName reports why name cannot be a mailbox name, or nil.
// Names are non-empty UTF-8 without control characters or the IMAP
// wildcards % and *, with no empty, "." or ".." level.
func ValidateMailboxName(name string) error {
	if name == "" || len(name) > 512 {
		return fmt.Errorf("%w: length", ErrBadName)
	}
	if !utf8Valid(name) {
		return fmt.Errorf("%w: not UTF-8", ErrBadName)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '%' || r == '*' {
			return fmt.Errorf("%w: character %q not allowed", ErrBadName, r)
		}
	}
	for _, level := range strings.Split(name, Delimiter) {
		if level == "" || level == "." || level == ".." {
			return fmt.Errorf("%w: empty or dot level in %q", ErrBadName, name)
		}
	}
	return nil
}

// Mailbox returns the named mailbox or ErrNoSuchMailbox.
func (u *User) Mailbox(name string) (*Mailbox, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	mb, ok := u.mailboxes[canonicalName(name)]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoSuchMailbox, name)
	}
	return mb, nil
}

// Inbox returns the user's INBOX, which always exists.
func (u *User) Inbox() *Mailbox {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.mailboxes[InboxName]
}

// Mailboxes returns the user's mailboxes sorted by name, INBOX first.
func (u *User) Mailboxes() []*Mailbox {
	u.mu.Lock()
	defer u.mu.Unlock()
	names := make([]string, 0, len(u.mailboxes))
	for name := range u.mailboxes {
		names = append(names, name)
	}
	slices.SortFunc(names, compareNames)
	out := make([]*Mailbox, len(names))
	for i, n := range names {
		out[i] = u.mailboxes[n]
	}
	return out
}

func compareNames(a, b string) int {
	switch {
	case a == InboxName:
		if b == InboxName {
			return 0
		}
		return -1
	case b == InboxName:
		return 1
	}
	return strings.Compare(a, b)
}

// CreateMailbox creates a mailbox, and any missing parent levels, with an
// optional special-use attribute (RFC 6154: \Archive, \Drafts, \Junk,
// \Sent, \Trash). It fails with ErrMailboxExists if the name is taken.
func (u *User) CreateMailbox(name, specialUse string) (*Mailbox, error) {
	if err := ValidateMailboxName(name); err != nil {
		return nil, err
	}
	if specialUse != "" {
		canon, ok := canonicalSpecialUse(specialUse)
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrBadSpecialUse, specialUse)
		}
		specialUse = canon
	}
	name = canonicalName(name)
	u.mu.Lock()
	if _, ok := u.mailboxes[name]; ok {
		u.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrMailboxExists, name)
	}
	var created []*Mailbox
	levels := strings.Split(name, Delimiter)
	for i := 1; i < len(levels); i++ {
		parent := canonicalName(strings.Join(levels[:i], Delimiter))
		if _, ok := u.mailboxes[parent]; !ok {
			created = append(created, u.newMailboxLocked(parent, ""))
		}
	}
	mb := u.newMailboxLocked(name, specialUse)
	created = append(created, mb)
	u.mu.Unlock()
	for _, c := range created {
		u.store.watchers.publish(Event{Kind: EventMailboxCreated, User: u.address, Mailbox: c.name, MailboxID: c.id})
	}
	return mb, nil
}

func canonicalSpecialUse(use string) (string, bool) {
	for _, d := range defaultMailboxes {
		if strings.EqualFold(d.use, use) {
			return d.use, true
		}
	}
	return "", false
}

// newMailboxLocked makes and registers a mailbox; callers hold u.mu.
func (u *User) newMailboxLocked(name, specialUse string) *Mailbox {
	mb := &Mailbox{
		id:            u.store.nextMailboxID.Add(1),
		user:          u,
		name:          name,
		specialUse:    specialUse,
		uidValidity:   u.store.nextUIDValidity.Add(1),
		uidNext:       1,
		recentClaimed: 1,
	}
	u.mailboxes[name] = mb
	return mb
}

// DeleteMailbox deletes a mailbox and its messages. INBOX cannot be deleted
// (ErrInbox). Mailboxes below it in the hierarchy stay. Sessions watching
// the mailbox get EventMailboxDeleted.
func (u *User) DeleteMailbox(name string) error {
	name = canonicalName(name)
	if name == InboxName {
		return ErrInbox
	}
	u.mu.Lock()
	mb, ok := u.mailboxes[name]
	if !ok {
		u.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNoSuchMailbox, name)
	}
	delete(u.mailboxes, name)
	u.mu.Unlock()

	mb.mu.Lock()
	mb.deleted = true
	u.release(usage{bytes: mb.size, messages: int64(len(mb.entries))})
	mb.entries, mb.size = nil, 0
	ev := mb.event(EventMailboxDeleted, 0, Flags{}, nil, nil)
	mb.watchers.publish(ev)
	mb.mu.Unlock()
	u.store.watchers.publish(ev)
	return nil
}

// RenameMailbox renames a mailbox and every mailbox below it. The mailboxes
// keep their UIDs and UIDVALIDITY. Renaming INBOX (RFC 3501 §6.3.5) creates
// the new mailbox, moves every INBOX message into it and leaves INBOX
// empty. Missing parents of the new name are created.
func (u *User) RenameMailbox(oldName, newName string) error {
	if err := ValidateMailboxName(newName); err != nil {
		return err
	}
	oldName, newName = canonicalName(oldName), canonicalName(newName)
	if newName == InboxName {
		return fmt.Errorf("%w: cannot rename to INBOX", ErrMailboxExists)
	}
	if oldName == InboxName {
		return u.renameInbox(newName)
	}
	if strings.HasPrefix(newName+Delimiter, oldName+Delimiter) {
		return fmt.Errorf("%w: cannot rename %q below itself", ErrBadName, oldName)
	}
	u.mu.Lock()
	if _, ok := u.mailboxes[oldName]; !ok {
		u.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNoSuchMailbox, oldName)
	}
	if _, ok := u.mailboxes[newName]; ok {
		u.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrMailboxExists, newName)
	}
	type rename struct {
		mb       *Mailbox
		old, new string
	}
	var renames []rename
	moving := make(map[*Mailbox]bool)
	for name, mb := range u.mailboxes {
		if name == oldName || strings.HasPrefix(name, oldName+Delimiter) {
			renames = append(renames, rename{mb, name, newName + strings.TrimPrefix(name, oldName)})
			moving[mb] = true
		}
	}
	// A child's new name may be taken by a mailbox that is not moving (one
	// left behind when its parent was deleted); renaming over it would drop
	// that mailbox, its messages and their quota usage.
	for _, r := range renames {
		if other, ok := u.mailboxes[r.new]; ok && !moving[other] {
			u.mu.Unlock()
			return fmt.Errorf("%w: %q", ErrMailboxExists, r.new)
		}
	}
	for _, r := range renames {
		delete(u.mailboxes, r.old)
	}
	for _, r := range renames {
		u.mailboxes[r.new] = r.mb
	}
	var created []*Mailbox
	levels := strings.Split(newName, Delimiter)
	for i := 1; i < len(levels); i++ {
		parent := canonicalName(strings.Join(levels[:i], Delimiter))
		if _, ok := u.mailboxes[parent]; !ok {
			created = append(created, u.newMailboxLocked(parent, ""))
		}
	}
	for _, r := range renames {
		r.mb.mu.Lock()
		r.mb.name = r.new
		r.mb.mu.Unlock()
	}
	if u.subscribed[oldName] {
		delete(u.subscribed, oldName)
		u.subscribed[newName] = true
	}
	u.mu.Unlock()
	for _, c := range created {
		u.store.watchers.publish(Event{Kind: EventMailboxCreated, User: u.address, Mailbox: c.name, MailboxID: c.id})
	}
	for _, r := range renames {
		ev := Event{Kind: EventMailboxRenamed, User: u.address, Mailbox: r.new, OldName: r.old, MailboxID: r.mb.id}
		r.mb.watchers.publish(ev)
		u.store.watchers.publish(ev)
	}
	return nil
}

func (u *User) renameInbox(newName string) error {
	dst, err := u.CreateMailbox(newName, "")
	if err != nil {
		return err
	}
	inbox := u.Inbox()
	uids := make([]uint32, 0)
	for _, e := range inbox.Snapshot().Entries {
		uids = append(uids, e.UID)
	}
	_, err = inbox.MoveTo(dst, uids, nil)
	return err
}

// Subscribe adds name to the user's subscriptions (IMAP LSUB). The name
// need not exist (RFC 3501 §6.3.6).
func (u *User) Subscribe(name string) error {
	if err := ValidateMailboxName(name); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.subscribed[canonicalName(name)] = true
	return nil
}

// Unsubscribe removes name from the subscriptions.
func (u *User) Unsubscribe(name string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	name = canonicalName(name)
	if !u.subscribed[name] {
		return fmt.Errorf("%w: not subscribed to %q", ErrNoSuchMailbox, name)
	}
	delete(u.subscribed, name)
	return nil
}

// Subscriptions returns the subscribed names, sorted.
func (u *User) Subscriptions() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(u.subscribed))
	for n := range u.subscribed {
		out = append(out, n)
	}
	slices.SortFunc(out, compareNames)
	return out
}
