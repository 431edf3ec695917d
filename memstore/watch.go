package memstore

import "sync"

// EventKind says what an Event reports.
type EventKind int

// The kinds of change a watcher hears about.
const (
	// EventReceived: Store.Deliver accepted a message (one per SMTP
	// transaction, whatever the number of recipients). Only store-wide
	// watchers get it.
	EventReceived EventKind = iota + 1
	// EventAppend: a message was added to a mailbox (delivery, APPEND, copy, move).
	EventAppend
	// EventFlags: a message's flags changed.
	EventFlags
	// EventExpunge: a message was removed from a mailbox.
	EventExpunge
	// EventMailboxCreated, EventMailboxDeleted, EventMailboxRenamed: the
	// user's mailbox list changed.
	EventMailboxCreated
	EventMailboxDeleted
	EventMailboxRenamed
	// EventForgotten: Store.Forget removed Message from the received list.
	// Only store-wide watchers get it.
	EventForgotten
	// EventPurged: Store.Purge forgot every received message (the
	// expunges from mailboxes follow as EventExpunge). Only store-wide
	// watchers get it.
	EventPurged
)

// Event describes one change. Fields that do not apply to its Kind are zero.
type Event struct {
	Kind EventKind
	// User is the login address of the mailbox owner (empty for EventReceived).
	User string
	// Mailbox is the mailbox name (for a rename, the new name) and MailboxID
	// its store-wide ID.
	Mailbox   string
	MailboxID uint64
	// OldName is the former name, for EventMailboxRenamed.
	OldName string
	// UID is the message's UID in the mailbox.
	UID uint32
	// Flags holds the new flags, for EventAppend and EventFlags.
	Flags Flags
	// Message is the message, for EventReceived, EventAppend and EventForgotten.
	Message *Message
	// Origin is for front-ends (see "For front-ends" in the package doc):
	// the value the caller passed to the change (SetFlags, Expunge,
	// CopyTo, ...), so a session can tell its own changes from others'. It
	// is nil for changes made without one (Deliver, Append).
	Origin any
}

// Watcher receives the events of a mailbox or of the whole store. Events
// queue without bound until read, so publishing never blocks. A Watcher must
// be closed when no longer needed.
type Watcher struct {
	mu     sync.Mutex
	queue  []Event
	notify chan struct{}
	closed bool
	detach func()
}

func newWatcher() *Watcher {
	return &Watcher{notify: make(chan struct{}, 1)}
}

// C returns a channel that receives a value when events are waiting. Read
// them with Drain. One signal may stand for many events.
func (w *Watcher) C() <-chan struct{} { return w.notify }

// Drain returns the queued events in order and empties the queue.
func (w *Watcher) Drain() []Event {
	w.mu.Lock()
	q := w.queue
	w.queue = nil
	w.mu.Unlock()
	return q
}

// Pending reports whether events are waiting.
func (w *Watcher) Pending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue) > 0
}

// Close unsubscribes the watcher. Events queued before are dropped.
func (w *Watcher) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.queue = nil
	detach := w.detach
	w.mu.Unlock()
	if detach != nil {
		detach()
	}
}

func (w *Watcher) publish(ev Event) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.queue = append(w.queue, ev)
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// watcherSet is a set of watchers guarded by its own leaf lock.
type watcherSet struct {
	mu  sync.Mutex
	set map[*Watcher]struct{}
}

func (s *watcherSet) add(w *Watcher) {
	s.mu.Lock()
	if s.set == nil {
		s.set = make(map[*Watcher]struct{})
	}
	s.set[w] = struct{}{}
	s.mu.Unlock()
	w.detach = func() {
		s.mu.Lock()
		delete(s.set, w)
		s.mu.Unlock()
	}
}

func (s *watcherSet) publish(evs ...Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.set {
		for _, ev := range evs {
			w.publish(ev)
		}
	}
}
