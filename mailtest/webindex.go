package mailtest

import (
	"slices"
	"sync"

	"github.com/mailrig/mailrig/mailtest/internal/web"
	"github.com/mailrig/mailrig/memstore"
)

// webIndex keeps, for the web API, every message's copies and their \Seen
// state, so that listing 10,000 messages with their read state, or finding
// one message's copies, does not scan every mailbox. It is built on first
// use from a store watcher registered before the mailboxes are read; a
// goroutine applies the watcher's events as they come, and every read
// first applies any still queued: the store publishes each change before
// the call that made it returns, so a request sees every change made
// before it, by any client.
type webIndex struct {
	store *memstore.Store

	mu       sync.Mutex
	w        *memstore.Watcher // nil until first use
	stop     chan struct{}     // ends the follower; nil when none runs
	closed   bool              // the server closed: start no follower
	follower sync.WaitGroup
	received []*msgState // Store.Received order
	byID     map[uint64]*msgState
	boxes    map[uint64]*boxIndex // by mailbox ID
}

// msgState is one stored message and where its copies are.
type msgState struct {
	msg      *memstore.Message
	mail     *web.Mail
	copies   []copyKey
	seen     int32 // copies with \Seen
	received bool  // in the received list
}

type copyKey struct {
	box uint64
	uid uint32
}

type boxIndex struct {
	mb   *memstore.Mailbox
	user *memstore.User
	uids map[uint32]*copyState
}

type copyState struct {
	st   *msgState
	seen bool
}

// read reports the read state of the all-messages view: some copy is
// \Seen, or no copy is left.
func (st *msgState) read() bool { return len(st.copies) == 0 || st.seen > 0 }

// lock brings the index up to date and locks it; the caller unlocks mu.
func (x *webIndex) lock() {
	x.mu.Lock()
	if x.w == nil {
		x.build()
		return
	}
	x.apply(x.w.Drain())
}

func (x *webIndex) build() {
	x.byID = make(map[uint64]*msgState)
	x.boxes = make(map[uint64]*boxIndex)
	received, w := x.store.ReceivedAndWatch()
	x.w = w
	if !x.closed {
		// Applying events as they come keeps the watcher's queue short
		// while no request reads the index.
		x.stop = make(chan struct{})
		x.follower.Add(1)
		go x.follow(w, x.stop)
	}
	x.received = make([]*msgState, 0, len(received))
	for _, m := range received {
		st := x.state(m)
		st.received = true
		x.received = append(x.received, st)
	}
	// Changes made from here on are queued in w as well; applying them
	// again later is harmless, since each event states the new state of
	// one copy.
	for _, u := range x.store.Users() {
		for _, mb := range u.Mailboxes() {
			box := x.box(u, mb)
			for _, e := range mb.Snapshot().Entries {
				x.setCopy(box, e.UID, e.Message, e.Flags.Has(memstore.FlagSeen))
			}
		}
	}
}

func (x *webIndex) follow(w *memstore.Watcher, stop <-chan struct{}) {
	defer x.follower.Done()
	for {
		select {
		case <-stop:
			return
		case <-w.C():
			x.mu.Lock()
			if x.w == w {
				x.apply(w.Drain())
			}
			x.mu.Unlock()
		}
	}
}

// close stops the follower and the watcher. A request after it rebuilds
// the index, then keeps it without a follower.
func (x *webIndex) close() {
	x.mu.Lock()
	x.closed = true
	w, stop := x.w, x.stop
	x.w, x.stop = nil, nil
	x.mu.Unlock()
	if stop != nil {
		close(stop)
		x.follower.Wait()
	}
	if w != nil {
		w.Close()
	}
}

func (x *webIndex) state(m *memstore.Message) *msgState {
	st, ok := x.byID[m.ID()]
	if !ok {
		st = &msgState{msg: m}
		x.byID[m.ID()] = st
	}
	return st
}

func (x *webIndex) box(u *memstore.User, mb *memstore.Mailbox) *boxIndex {
	b, ok := x.boxes[mb.ID()]
	if !ok {
		b = &boxIndex{mb: mb, user: u, uids: make(map[uint32]*copyState)}
		x.boxes[mb.ID()] = b
	}
	return b
}

// boxOf finds the mailbox an event is about, or nil if it is gone.
func (x *webIndex) boxOf(ev memstore.Event) *boxIndex {
	if b, ok := x.boxes[ev.MailboxID]; ok {
		return b
	}
	u, ok := x.store.User(ev.User)
	if !ok {
		return nil
	}
	for _, mb := range u.Mailboxes() {
		if mb.ID() == ev.MailboxID {
			return x.box(u, mb)
		}
	}
	return nil
}

func (x *webIndex) setCopy(b *boxIndex, uid uint32, m *memstore.Message, seen bool) {
	if cs, ok := b.uids[uid]; ok {
		x.setSeen(cs, seen)
		return
	}
	st := x.state(m)
	cs := &copyState{st: st, seen: seen}
	b.uids[uid] = cs
	st.copies = append(st.copies, copyKey{b.mb.ID(), uid})
	if seen {
		st.seen++
	}
}

func (x *webIndex) setSeen(cs *copyState, seen bool) {
	if cs.seen == seen {
		return
	}
	cs.seen = seen
	if seen {
		cs.st.seen++
	} else {
		cs.st.seen--
	}
}

func (x *webIndex) dropCopy(b *boxIndex, uid uint32) {
	cs, ok := b.uids[uid]
	if !ok {
		return
	}
	delete(b.uids, uid)
	st := cs.st
	if cs.seen {
		st.seen--
	}
	st.copies = slices.DeleteFunc(st.copies, func(k copyKey) bool { return k.box == b.mb.ID() && k.uid == uid })
	x.forgetIfUnused(st)
}

func (x *webIndex) forgetIfUnused(st *msgState) {
	if len(st.copies) == 0 && !st.received {
		delete(x.byID, st.msg.ID())
	}
}

func (x *webIndex) apply(evs []memstore.Event) {
	compact := false
	for _, ev := range evs {
		switch ev.Kind {
		case memstore.EventReceived:
			st := x.state(ev.Message)
			if !st.received {
				st.received = true
				x.received = append(x.received, st)
			}
		case memstore.EventForgotten:
			if st, ok := x.byID[ev.Message.ID()]; ok && st.received {
				st.received = false
				compact = true
			}
		case memstore.EventPurged:
			for _, st := range x.received {
				st.received = false
			}
			compact = true
		case memstore.EventAppend:
			if b := x.boxOf(ev); b != nil && ev.Message != nil {
				x.setCopy(b, ev.UID, ev.Message, ev.Flags.Has(memstore.FlagSeen))
			}
		case memstore.EventFlags:
			if b := x.boxOf(ev); b != nil {
				if cs, ok := b.uids[ev.UID]; ok {
					x.setSeen(cs, ev.Flags.Has(memstore.FlagSeen))
				}
			}
		case memstore.EventExpunge:
			if b, ok := x.boxes[ev.MailboxID]; ok {
				x.dropCopy(b, ev.UID)
			}
		case memstore.EventMailboxDeleted:
			if b, ok := x.boxes[ev.MailboxID]; ok {
				for uid := range b.uids {
					x.dropCopy(b, uid)
				}
				delete(x.boxes, ev.MailboxID)
			}
		}
	}
	if compact {
		kept := x.received[:0:0]
		for _, st := range x.received {
			if st.received {
				kept = append(kept, st)
			} else {
				x.forgetIfUnused(st)
			}
		}
		x.received = kept
	}
}

// copies lists st's copies with their current flags; callers hold mu.
func (x *webIndex) copies(st *msgState) []web.Copy {
	out := make([]web.Copy, 0, len(st.copies))
	for _, k := range st.copies {
		b := x.boxes[k.box]
		snap := b.mb.Snapshot()
		i := snap.Index(k.uid)
		if i < 0 {
			continue // expunged; its event is still queued
		}
		out = append(out, web.Copy{
			User: b.user.Address(), Mailbox: snap.Name, UID: k.uid, Flags: snap.Entries[i].Flags.List(),
			POP3: snap.Name == memstore.InboxName,
		})
	}
	return out
}

// byBox groups the copies of the given messages by mailbox; callers hold mu.
func (x *webIndex) byBox(states []*msgState) map[*boxIndex][]uint32 {
	out := make(map[*boxIndex][]uint32)
	for _, st := range states {
		for _, k := range st.copies {
			b := x.boxes[k.box]
			out[b] = append(out[b], k.uid)
		}
	}
	return out
}
