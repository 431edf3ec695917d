package memstore

import (
	"slices"
	"sync"
)

// Entry is one message as filed in one mailbox: its UID there and its flags.
type Entry struct {
	UID     uint32
	Flags   Flags
	Message *Message
}

// Snapshot is an immutable view of a mailbox at one moment. Entries are in
// UID order, which is also IMAP sequence-number order.
type Snapshot struct {
	Name        string
	MailboxID   uint64
	UIDValidity uint32
	// UIDNext is the UID the next message will get.
	UIDNext uint32
	// Entries must not be modified.
	Entries []Entry
	// Keywords lists every keyword used in the mailbox so far, in stable order.
	Keywords []string
	// Size is the sum of the message sizes.
	Size int64
	// RecentFrom is the lowest UID whose \Recent no session has claimed
	// yet (see Mailbox.ClaimRecent): entries at or above it count as recent
	// in IMAP STATUS.
	RecentFrom uint32
}

// Index returns the position of uid in Entries (its sequence number minus
// one), or -1 if it is not there.
func (s Snapshot) Index(uid uint32) int {
	i, ok := slices.BinarySearchFunc(s.Entries, uid, func(e Entry, uid uint32) int {
		return cmpUint32(e.UID, uid)
	})
	if !ok {
		return -1
	}
	return i
}

// Unseen counts the entries without \Seen.
func (s Snapshot) Unseen() int {
	n := 0
	for _, e := range s.Entries {
		if !e.Flags.Has(FlagSeen) {
			n++
		}
	}
	return n
}

func cmpUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Mailbox is one folder of one user. Its methods are safe for concurrent use.
type Mailbox struct {
	id   uint64
	user *User

	mu            sync.Mutex
	name          string
	specialUse    string
	uidValidity   uint32
	uidNext       uint32
	entries       []Entry
	shared        bool // entries is referenced by a snapshot: copy before changing in place
	keywords      Flags
	size          int64
	deleted       bool
	recentClaimed uint32 // UIDs below this were already claimed as \Recent

	watchers watcherSet
}

// ID is a store-wide identifier, unique for the life of the Store. It also
// fixes the lock order between two mailboxes.
func (mb *Mailbox) ID() uint64 { return mb.id }

// User returns the mailbox's owner.
func (mb *Mailbox) User() *User { return mb.user }

// Name returns the mailbox's current full name, e.g. "INBOX" or "Projects/2026".
func (mb *Mailbox) Name() string {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.name
}

// SpecialUse returns the RFC 6154 attribute (e.g. `\Sent`), or "".
func (mb *Mailbox) SpecialUse() string {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.specialUse
}

// UIDValidity returns the mailbox's UIDVALIDITY.
func (mb *Mailbox) UIDValidity() uint32 { return mb.uidValidity }

// Deleted reports whether the mailbox was deleted. A deleted mailbox refuses
// changes with ErrNoSuchMailbox.
func (mb *Mailbox) Deleted() bool {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.deleted
}

// Snapshot returns the current state. It is O(1): later changes copy the
// entries instead of touching the snapshot's.
func (mb *Mailbox) Snapshot() Snapshot {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.snapshotLocked()
}

func (mb *Mailbox) snapshotLocked() Snapshot {
	mb.shared = true
	return Snapshot{
		Name:        mb.name,
		MailboxID:   mb.id,
		UIDValidity: mb.uidValidity,
		UIDNext:     mb.uidNext,
		Entries:     slices.Clip(mb.entries),
		Keywords:    mb.keywords.keywords,
		Size:        mb.size,
		RecentFrom:  mb.recentClaimed,
	}
}

// SnapshotAndWatch returns the current state and a watcher that receives
// every change made after it, registered atomically with the snapshot.
func (mb *Mailbox) SnapshotAndWatch() (Snapshot, *Watcher) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	w := newWatcher()
	mb.watchers.add(w)
	return mb.snapshotLocked(), w
}

// ClaimRecent is for IMAP front-ends (see "For front-ends" in the package
// doc). It claims the \Recent flag, as RFC 3501 defines it, for every
// message that no session has claimed yet, and returns the claimed UIDs as
// the half-open range [from, to). The first session to call it after a
// message arrives owns that message's \Recent; the store itself never
// lists \Recent among a message's flags.
func (mb *Mailbox) ClaimRecent() (from, to uint32) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	from, to = mb.recentClaimed, mb.uidNext
	mb.recentClaimed = mb.uidNext
	return from, to
}

// writable makes entries safe to change in place. Callers hold mb.mu.
func (mb *Mailbox) writable() {
	if mb.shared {
		mb.entries = slices.Clone(mb.entries)
		mb.shared = false
	}
}

func (mb *Mailbox) event(kind EventKind, uid uint32, flags Flags, msg *Message, origin any) Event {
	return Event{Kind: kind, User: mb.user.address, Mailbox: mb.name, MailboxID: mb.id, UID: uid, Flags: flags, Message: msg, Origin: origin}
}

func (mb *Mailbox) publish(evs ...Event) {
	if len(evs) == 0 {
		return
	}
	mb.watchers.publish(evs...)
	mb.user.store.watchers.publish(evs...)
}

// Append files msg in the mailbox with the given flags and returns its new
// UID. It fails with ErrOverQuota if the owner's quota (bytes or messages)
// would be exceeded and ErrNoSuchMailbox if the mailbox was deleted.
func (mb *Mailbox) Append(msg *Message, flags Flags) (uint32, error) {
	mb.user.store.assignID(msg)
	one := usage{bytes: msg.Size(), messages: 1}
	if err := mb.user.reserve(one); err != nil {
		return 0, err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.deleted {
		mb.user.release(one)
		return 0, ErrNoSuchMailbox
	}
	ev := mb.appendLocked(msg, flags, nil)
	mb.publish(ev)
	return ev.UID, nil
}

// appendLocked files msg, already counted against the quota. Callers hold mb.mu.
func (mb *Mailbox) appendLocked(msg *Message, flags Flags, origin any) Event {
	uid := mb.uidNext
	mb.uidNext++
	// append never disturbs a snapshot: snapshots are clipped to their length.
	mb.entries = append(mb.entries, Entry{UID: uid, Flags: flags, Message: msg})
	mb.keywords = mb.keywords.Union(Flags{keywords: flags.keywords})
	mb.size += msg.Size()
	return mb.event(EventAppend, uid, flags, msg, origin)
}

// SetFlags changes the flags of the messages with the given UIDs (UIDs not
// in the mailbox are ignored) and returns their entries after the change, in
// UID order. An EventFlags is published for every message whose flags
// actually changed, carrying origin.
func (mb *Mailbox) SetFlags(uids []uint32, op FlagOp, flags Flags, origin any) ([]Entry, error) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.deleted {
		return nil, ErrNoSuchMailbox
	}
	var out []Entry
	var evs []Event
	for _, uid := range sortedUnique(uids) {
		i := mb.indexLocked(uid)
		if i < 0 {
			continue
		}
		next := op.apply(mb.entries[i].Flags, flags)
		if !next.Equal(mb.entries[i].Flags) {
			mb.writable()
			mb.entries[i].Flags = next
			mb.keywords = mb.keywords.Union(Flags{keywords: next.keywords})
			evs = append(evs, mb.event(EventFlags, uid, next, nil, origin))
		}
		out = append(out, mb.entries[i])
	}
	mb.publish(evs...)
	return out, nil
}

func (mb *Mailbox) indexLocked(uid uint32) int {
	i, ok := slices.BinarySearchFunc(mb.entries, uid, func(e Entry, uid uint32) int {
		return cmpUint32(e.UID, uid)
	})
	if !ok {
		return -1
	}
	return i
}

func sortedUnique(uids []uint32) []uint32 {
	if slices.IsSorted(uids) {
		return slices.Compact(slices.Clone(uids))
	}
	s := slices.Clone(uids)
	slices.Sort(s)
	return slices.Compact(s)
}

// Expunge removes the messages with the given UIDs, whatever their flags, and
// returns the UIDs actually removed in ascending order. It is the one
// deletion path every protocol uses (IMAP EXPUNGE and MOVE, POP3 QUIT), so
// every watcher sees an EventExpunge for each removed message.
func (mb *Mailbox) Expunge(uids []uint32, origin any) []uint32 {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.expungeLocked(sortedUnique(uids), false, origin)
}

// ExpungeDeleted removes the messages that carry \Deleted at this moment,
// limited to the given UIDs if uids is not nil (IMAP UID EXPUNGE), and
// returns the removed UIDs in ascending order.
func (mb *Mailbox) ExpungeDeleted(uids []uint32, origin any) []uint32 {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var candidates []uint32
	for _, e := range mb.entries {
		if e.Flags.Has(FlagDeleted) {
			candidates = append(candidates, e.UID)
		}
	}
	if uids != nil {
		want := sortedUnique(uids)
		candidates = slices.DeleteFunc(candidates, func(uid uint32) bool {
			_, ok := slices.BinarySearch(want, uid)
			return !ok
		})
	}
	return mb.expungeLocked(candidates, false, origin)
}

// expungeLocked removes sorted uids. Callers hold mb.mu. With keepQuota the
// owner's usage (bytes and messages) is not released (the messages move to
// another mailbox of the same user, already counted there).
func (mb *Mailbox) expungeLocked(uids []uint32, keepQuota bool, origin any) []uint32 {
	if len(uids) == 0 || mb.deleted {
		return nil
	}
	mb.writable()
	var removed []uint32
	var evs []Event
	var freed int64
	kept := mb.entries[:0]
	j := 0
	for _, e := range mb.entries {
		for j < len(uids) && uids[j] < e.UID {
			j++
		}
		if j < len(uids) && uids[j] == e.UID {
			removed = append(removed, e.UID)
			evs = append(evs, mb.event(EventExpunge, e.UID, Flags{}, nil, origin))
			freed += e.Message.Size()
			continue
		}
		kept = append(kept, e)
	}
	clear(mb.entries[len(kept):])
	mb.entries = kept
	mb.size -= freed
	if !keepQuota {
		mb.user.release(usage{bytes: freed, messages: int64(len(removed))})
	}
	mb.publish(evs...)
	return removed
}

// CopyResult pairs the source UIDs of a copy or move with the UIDs the
// messages got in the destination, in the same order (IMAP COPYUID).
type CopyResult struct {
	UIDValidity uint32 // of the destination
	SourceUIDs  []uint32
	DestUIDs    []uint32
}

// CopyTo copies the messages with the given UIDs into dst, keeping their
// flags, and returns the UID mapping. The message bytes are shared, not
// duplicated, but count against the owner's quota, bytes and messages
// (ErrOverQuota).
func (mb *Mailbox) CopyTo(dst *Mailbox, uids []uint32, origin any) (CopyResult, error) {
	return mb.transfer(dst, uids, false, origin)
}

// MoveTo moves the messages with the given UIDs into dst (RFC 6851 MOVE):
// they are copied with their flags and then expunged from mb, atomically.
func (mb *Mailbox) MoveTo(dst *Mailbox, uids []uint32, origin any) (CopyResult, error) {
	return mb.transfer(dst, uids, true, origin)
}

func (mb *Mailbox) transfer(dst *Mailbox, uids []uint32, move bool, origin any) (CopyResult, error) {
	uids = sortedUnique(uids)
	if dst == mb {
		if move {
			return CopyResult{}, ErrSameMailbox
		}
		mb.mu.Lock()
		defer mb.mu.Unlock()
		return mb.copyLocked(dst, uids, true, origin)
	}
	// Lock order: lower mailbox ID first, so crossing copies cannot deadlock.
	first, second := mb, dst
	if second.id < first.id {
		first, second = second, first
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	second.mu.Lock()
	defer second.mu.Unlock()
	// A move within one user's mailboxes does not change the user's usage
	// (bytes or messages), so it reserves nothing: reserving first and
	// releasing afterwards would refuse a move once the user is above half
	// the quota.
	sameUserMove := move && mb.user == dst.user
	res, err := mb.copyLocked(dst, uids, !sameUserMove, origin)
	if err != nil || !move {
		return res, err
	}
	// Moving to another user's mailbox, the source user frees the space
	// and the messages; within one user they stay counted, now in dst.
	mb.expungeLocked(res.SourceUIDs, sameUserMove, origin)
	return res, nil
}

// copyLocked copies uids from mb to dst; callers hold both locks. With
// reserve the bytes and messages are counted against dst's owner's quota.
func (mb *Mailbox) copyLocked(dst *Mailbox, uids []uint32, reserve bool, origin any) (CopyResult, error) {
	if mb.deleted || dst.deleted {
		return CopyResult{}, ErrNoSuchMailbox
	}
	var picked []Entry
	var size int64
	for _, uid := range uids {
		if i := mb.indexLocked(uid); i >= 0 {
			picked = append(picked, mb.entries[i])
			size += mb.entries[i].Message.Size()
		}
	}
	if reserve {
		if err := dst.user.reserve(usage{bytes: size, messages: int64(len(picked))}); err != nil {
			return CopyResult{}, err
		}
	}
	res := CopyResult{UIDValidity: dst.uidValidity}
	evs := make([]Event, 0, len(picked))
	for _, e := range picked {
		ev := dst.appendLocked(e.Message, e.Flags, origin)
		res.SourceUIDs = append(res.SourceUIDs, e.UID)
		res.DestUIDs = append(res.DestUIDs, ev.UID)
		evs = append(evs, ev)
	}
	dst.publish(evs...)
	return res, nil
}
