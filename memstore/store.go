package memstore

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Errors returned by the store. Test them with errors.Is.
var (
	// ErrNoSuchUser: Deliver found no user for a recipient, and the store
	// does not create users (WithAutoCreateUsers(false)).
	ErrNoSuchUser = errors.New("memstore: no such user")
	// ErrEmptyAddress: the address is empty or blank.
	ErrEmptyAddress = errors.New("memstore: empty address")
	// ErrAuthFailed: no such user, a wrong password, or a user without one
	// (Authenticate does not say which).
	ErrAuthFailed = errors.New("memstore: authentication failed")
	// ErrAddressTaken: an address (an alias) already belongs to another
	// user.
	ErrAddressTaken = errors.New("memstore: address already belongs to another user")
	// ErrNoSuchMailbox: the user has no mailbox of that name, or the
	// mailbox was deleted.
	ErrNoSuchMailbox = errors.New("memstore: no such mailbox")
	// ErrMailboxExists: the user already has a mailbox of that name.
	ErrMailboxExists = errors.New("memstore: mailbox already exists")
	// ErrInbox: INBOX cannot be deleted.
	ErrInbox = errors.New("memstore: INBOX cannot be deleted")
	// ErrBadName: the mailbox name is not valid (see ValidateMailboxName).
	ErrBadName = errors.New("memstore: invalid mailbox name")
	// ErrBadSpecialUse: the special-use attribute is not one of RFC 6154's.
	ErrBadSpecialUse = errors.New("memstore: unsupported special-use attribute")
	// ErrOverQuota: the change would take the user over its quota.
	ErrOverQuota = errors.New("memstore: over quota")
	// ErrSameMailbox: a copy or move names one mailbox as both source and
	// destination.
	ErrSameMailbox = errors.New("memstore: source and destination are the same mailbox")
)

// Store is an in-memory mail store. The zero value is not usable; call New.
type Store struct {
	autoCreate bool

	mu    sync.Mutex
	users map[string]*User // by lower-cased address, aliases included
	order []*User          // in creation order

	recvMu   sync.Mutex
	received []*Message

	nextMailboxID   atomic.Uint64
	nextUIDValidity atomic.Uint32
	nextMessageID   atomic.Uint64

	watchers watcherSet
}

// Option configures a Store.
type Option func(*Store)

// WithAutoCreateUsers says whether Deliver creates a user (without a
// password) for an unknown recipient. It is on by default, so a test
// server accepts mail for anyone.
func WithAutoCreateUsers(on bool) Option {
	return func(s *Store) { s.autoCreate = on }
}

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{autoCreate: true, users: make(map[string]*User)}
	for _, o := range opts {
		o(s)
	}
	return s
}

func key(address string) string { return strings.ToLower(strings.TrimSpace(address)) }

func utf8Valid(s string) bool { return utf8.ValidString(s) }

// AddUser creates a user with a password and optional aliases, or, if the
// address already belongs to a user, sets that user's password and adds the
// aliases. An alias that belongs to another user fails with ErrAddressTaken.
func (s *Store) AddUser(address, password string, aliases ...string) (*User, error) {
	if key(address) == "" {
		return nil, ErrEmptyAddress
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[key(address)]
	for _, a := range aliases {
		if other, ok := s.users[key(a)]; ok && other != u {
			return nil, fmt.Errorf("%w: %s", ErrAddressTaken, a)
		}
	}
	if u == nil {
		u = s.newUserLocked(address)
	}
	u.SetPassword(password)
	for _, a := range aliases {
		// A blank alias would map "" to u, and Deliver would then file
		// mail for an empty recipient with u instead of refusing it.
		if key(a) == "" {
			continue
		}
		if _, ok := s.users[key(a)]; !ok {
			s.users[key(a)] = u
			u.mu.Lock()
			u.aliases = append(u.aliases, a)
			u.mu.Unlock()
		}
	}
	return u, nil
}

// newUserLocked creates a user with its default mailboxes; callers hold s.mu.
func (s *Store) newUserLocked(address string) *User {
	u := &User{
		store:      s,
		address:    strings.TrimSpace(address),
		mailboxes:  make(map[string]*Mailbox),
		subscribed: make(map[string]bool),
	}
	u.mu.Lock()
	u.newMailboxLocked(InboxName, "")
	u.subscribed[InboxName] = true
	for _, d := range defaultMailboxes {
		u.newMailboxLocked(d.name, d.use)
		u.subscribed[d.name] = true
	}
	u.mu.Unlock()
	s.users[key(address)] = u
	s.order = append(s.order, u)
	return u
}

// EnsureUser returns the user that owns address, creating it without a
// password (so nobody can log in as it until SetPassword) if there is none.
func (s *Store) EnsureUser(address string) (*User, error) {
	if key(address) == "" {
		return nil, ErrEmptyAddress
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[key(address)]; ok {
		return u, nil
	}
	return s.newUserLocked(address), nil
}

// User returns the user that owns address (its login address or an alias),
// matched case-insensitively.
func (s *Store) User(address string) (*User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[key(address)]
	return u, ok
}

// Users returns every user in creation order.
func (s *Store) Users() []*User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}

// Authenticate returns the user whose address (or alias) is username and
// whose password is password, or an error wrapping ErrAuthFailed. A user
// without a password never authenticates.
func (s *Store) Authenticate(username, password string) (*User, error) {
	u, ok := s.User(username)
	if !ok || !u.CheckPassword(password) {
		return nil, fmt.Errorf("%w for %q", ErrAuthFailed, username)
	}
	return u, nil
}

// Accepts reports whether Deliver would accept mail for address: the
// address belongs to a user, or users are created on delivery.
func (s *Store) Accepts(address string) bool {
	if s.autoCreate {
		return key(address) != ""
	}
	_, ok := s.User(address)
	return ok
}

// recipientUser returns the user for address, creating it if allowed.
func (s *Store) recipientUser(address string) (*User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[key(address)]; ok {
		return u, nil
	}
	if key(address) == "" {
		return nil, ErrEmptyAddress
	}
	if !s.autoCreate {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchUser, address)
	}
	return s.newUserLocked(address), nil
}

// assignID gives m its ID the first time it is stored. The same unstored
// Message may be appended to several mailboxes concurrently, so the ID is
// set with a compare-and-swap: one caller wins and every caller sees it.
func (s *Store) assignID(m *Message) {
	if m.id.Load() == 0 {
		m.id.CompareAndSwap(0, s.nextMessageID.Add(1))
	}
}

// Deliver stores one SMTP transaction: it files msg in the INBOX of every
// distinct user among env.Rcpts (one copy per user, even if several
// addresses are aliases of it), then records it as received and publishes
// EventReceived. If any recipient is unknown (and users are not created on
// delivery) or over quota, nothing is stored and the error says why.
func (s *Store) Deliver(raw []byte, date time.Time, env Envelope) (*Message, error) {
	msg := NewMessage(raw, date, env)
	s.assignID(msg)
	var users []*User
	for _, rcpt := range msg.envelope.Rcpts {
		u, err := s.recipientUser(rcpt)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(users, u) {
			users = append(users, u)
		}
	}
	one := usage{bytes: msg.Size(), messages: 1}
	for i, u := range users {
		if err := u.reserve(one); err != nil {
			for _, done := range users[:i] {
				done.release(one)
			}
			return nil, err
		}
	}
	for _, u := range users {
		inbox := u.Inbox()
		inbox.mu.Lock()
		ev := inbox.appendLocked(msg, Flags{}, nil)
		inbox.publish(ev)
		inbox.mu.Unlock()
	}
	s.recvMu.Lock()
	s.received = append(s.received, msg)
	s.watchers.publish(Event{Kind: EventReceived, Message: msg})
	s.recvMu.Unlock()
	return msg, nil
}

// Received returns every message Deliver accepted, in order, including
// those later deleted from mailboxes. One SMTP transaction is one message.
func (s *Store) Received() []*Message {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	return slices.Clip(s.received)
}

// ReceivedAndWatch returns Received and a store-wide watcher registered
// atomically with it: every message received after the list was taken
// arrives as an EventReceived.
func (s *Store) ReceivedAndWatch() ([]*Message, *Watcher) {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	return slices.Clip(s.received), s.Watch()
}

// Watch returns a watcher for every event of the store: deliveries and
// changes to every mailbox of every user.
func (s *Store) Watch() *Watcher {
	w := newWatcher()
	s.watchers.add(w)
	return w
}

// Purge forgets the received list and expunges every message from every
// mailbox of every user (watchers see an EventPurged, then the expunges).
// Users and mailboxes stay.
func (s *Store) Purge() {
	s.recvMu.Lock()
	s.received = nil
	s.watchers.publish(Event{Kind: EventPurged})
	s.recvMu.Unlock()
	for _, u := range s.Users() {
		for _, mb := range u.Mailboxes() {
			snap := mb.Snapshot()
			uids := make([]uint32, len(snap.Entries))
			for i, e := range snap.Entries {
				uids[i] = e.UID
			}
			mb.Expunge(uids, nil)
		}
	}
}

// Forget removes the messages with the given IDs from the received list
// (it does not touch mailboxes) and publishes an EventForgotten for each
// one it removed. It returns how many it removed.
func (s *Store) Forget(ids ...uint64) int {
	if len(ids) == 0 {
		return 0
	}
	drop := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		drop[id] = true
	}
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	// A new slice, not an in-place filter: callers of Received may still
	// hold the old one.
	kept := make([]*Message, 0, len(s.received))
	var gone []Event
	for _, m := range s.received {
		if drop[m.ID()] {
			gone = append(gone, Event{Kind: EventForgotten, Message: m})
			continue
		}
		kept = append(kept, m)
	}
	if len(gone) == 0 {
		return 0
	}
	s.received = kept
	s.watchers.publish(gone...)
	return len(gone)
}
