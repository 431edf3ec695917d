package memstore

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestWatcherEvents(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	mb := mustCreate(t, u, "Box")
	mustAppend(t, mb, rawMsg(1))
	snap, w := mb.SnapshotAndWatch()
	defer w.Close()
	sw := s.Watch()
	defer sw.Close()
	if snap.UIDNext != 2 || w.Pending() {
		t.Fatalf("UIDNext %d, pending %v", snap.UIDNext, w.Pending())
	}
	uid := mustAppend(t, mb, rawMsg(2), "kw")
	mb.SetFlags([]uint32{1, uid}, AddFlags, NewFlags(FlagSeen), "sess-1")
	mb.Expunge([]uint32{1}, "sess-2")
	other := mustCreate(t, u, "Other")
	mb.CopyTo(other, []uint32{uid}, "sess-3")
	if err := u.RenameMailbox("Box", "Box2"); err != nil {
		t.Fatal(err)
	}
	if err := u.DeleteMailbox("Box2"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C():
	default:
		t.Fatal("no signal on C")
	}
	if !w.Pending() {
		t.Fatal("Pending false")
	}
	evs := w.Drain()
	want := []EventKind{EventAppend, EventFlags, EventFlags, EventExpunge, EventMailboxRenamed, EventMailboxDeleted}
	if !slices.Equal(kinds(evs), want) {
		t.Fatalf("kinds %v, want %v", kinds(evs), want)
	}
	if e := evs[0]; e.UID != 2 || e.Mailbox != "Box" || e.MailboxID != mb.ID() || e.User != "ann@example.com" || e.Message == nil || string(e.Message.Body()) != "body 2\r\n" || e.Flags.String() != "kw" {
		t.Fatalf("append event %+v", e)
	}
	if evs[1].UID != 1 || evs[2].UID != 2 || evs[1].Origin != "sess-1" || !evs[2].Flags.Has(FlagSeen) || !evs[2].Flags.Has("kw") {
		t.Fatalf("flag events %+v %+v", evs[1], evs[2])
	}
	if evs[3].UID != 1 || evs[3].Origin != "sess-2" {
		t.Fatalf("expunge event %+v", evs[3])
	}
	if evs[4].OldName != "Box" || evs[4].Mailbox != "Box2" || evs[5].Mailbox != "Box2" {
		t.Fatalf("rename/delete events %+v %+v", evs[4], evs[5])
	}
	if w.Pending() || len(w.Drain()) != 0 {
		t.Fatal("Drain did not empty the queue")
	}
	// The store-wide watcher saw everything, including the copy into Other
	// and Other's creation.
	sk := kinds(sw.Drain())
	wantStore := []EventKind{EventAppend, EventFlags, EventFlags, EventExpunge, EventMailboxCreated, EventAppend, EventMailboxRenamed, EventMailboxDeleted}
	if !slices.Equal(sk, wantStore) {
		t.Fatalf("store kinds %v, want %v", sk, wantStore)
	}
}

func TestCopyEventCarriesOrigin(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	src, dst := mustCreate(t, u, "Src"), mustCreate(t, u, "Dst")
	mustAppend(t, src, rawMsg(1), FlagSeen)
	_, wd := dst.SnapshotAndWatch()
	_, ws := src.SnapshotAndWatch()
	if _, err := src.MoveTo(dst, []uint32{1}, "mover"); err != nil {
		t.Fatal(err)
	}
	de, se := wd.Drain(), ws.Drain()
	if len(de) != 1 || de[0].Kind != EventAppend || de[0].Origin != "mover" || de[0].UID != 1 || !de[0].Flags.Has(FlagSeen) {
		t.Fatalf("dst events %+v", de)
	}
	if len(se) != 1 || se[0].Kind != EventExpunge || se[0].Origin != "mover" || se[0].UID != 1 {
		t.Fatalf("src events %+v", se)
	}
}

func TestClosedWatcherGetsNothing(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	_, w := u.Inbox().SnapshotAndWatch()
	sw := s.Watch()
	mustDeliver(t, s, rawMsg(1), "ann@example.com")
	w.Close()
	sw.Close()
	w.Close() // twice is fine
	if w.Pending() || len(w.Drain()) != 0 || len(sw.Drain()) != 0 {
		t.Fatal("Close did not drop queued events")
	}
	mustDeliver(t, s, rawMsg(2), "ann@example.com")
	u.Inbox().SetFlags([]uint32{1, 2}, AddFlags, NewFlags(FlagSeen), nil)
	if w.Pending() || len(w.Drain()) != 0 || len(sw.Drain()) != 0 {
		t.Fatal("closed watcher got events")
	}
	if len(u.Inbox().watchers.set) != 0 || len(s.watchers.set) != 0 {
		t.Fatal("closed watchers still registered")
	}
}

func TestUnreadWatcherNeverBlocks(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	_, w := u.Inbox().SnapshotAndWatch()
	defer w.Close()
	sw := s.Watch()
	defer sw.Close()
	const n = 2000
	withDeadline(t, 20*time.Second, func() {
		for i := 0; i < n; i++ {
			if _, err := s.Deliver(rawMsg(i), testDate, env("ann@example.com")); err != nil {
				panic(err)
			}
		}
	})
	if got := len(w.Drain()); got != n {
		t.Fatalf("mailbox watcher queued %d events, want %d", got, n)
	}
	if got := len(sw.Drain()); got != 2*n { // EventAppend + EventReceived each
		t.Fatalf("store watcher queued %d events, want %d", got, 2*n)
	}
}

// deliverer delivers one message to rcpts for every token sent on the
// returned channel, concurrently with the test; close the channel to stop it.
func deliverer(t *testing.T, s *Store, rcpts ...string) (chan struct{}, *sync.WaitGroup) {
	tokens := make(chan struct{}, 32)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		i := 0
		for range tokens {
			i++
			if _, err := s.Deliver(rawMsg(i), testDate, env(rcpts...)); err != nil {
				t.Errorf("Deliver: %v", err)
				return
			}
		}
	}()
	return tokens, &wg
}

// topUp fills tokens so the deliverer stays busy while the test looks at
// the store, without letting it run unboundedly ahead.
func topUp(tokens chan struct{}) {
	for {
		select {
		case tokens <- struct{}{}:
		default:
			return
		}
	}
}

// SnapshotAndWatch, repeated while another goroutine keeps delivering:
// every UID at or above the snapshot's UIDNext arrives as EventAppend
// exactly once, in order, and none below it.
func TestSnapshotAndWatchMissesNothing(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	mb := u.Inbox()
	tokens, wg := deliverer(t, s, "ann@example.com")
	defer wg.Wait()
	defer close(tokens)
	for iter := 0; iter < 500; iter++ {
		topUp(tokens)
		snap, w := mb.SnapshotAndWatch()
		if got := uint32(len(snap.Entries)) + 1; got != snap.UIDNext {
			t.Fatalf("snapshot: %d entries, UIDNext %d", len(snap.Entries), snap.UIDNext)
		}
		if n := len(snap.Entries); n > 0 && snap.Entries[n-1].UID != snap.UIDNext-1 {
			t.Fatalf("snapshot's last UID %d, UIDNext %d", snap.Entries[n-1].UID, snap.UIDNext)
		}
		// Wait for a few more deliveries (topping up so they happen).
		deadline := time.Now().Add(10 * time.Second)
		var after Snapshot
		for after = mb.Snapshot(); after.UIDNext < snap.UIDNext+3; after = mb.Snapshot() {
			if time.Now().After(deadline) {
				t.Fatalf("iter %d: deliveries stuck at UIDNext %d", iter, after.UIDNext)
			}
			topUp(tokens)
			time.Sleep(20 * time.Microsecond)
		}
		evs := w.Drain() // taken after `after`: covers at least up to after.UIDNext-1
		w.Close()
		next := snap.UIDNext
		for _, ev := range evs {
			if ev.Kind != EventAppend || ev.MailboxID != mb.ID() || ev.Message == nil {
				t.Fatalf("iter %d: unexpected event %+v", iter, ev)
			}
			if ev.UID != next {
				t.Fatalf("iter %d: event UID %d, want %d (snapshot UIDNext %d)", iter, ev.UID, next, snap.UIDNext)
			}
			if want := "body " + strconv.Itoa(int(ev.UID)) + "\r\n"; string(ev.Message.Body()) != want {
				t.Fatalf("iter %d: UID %d carries %q", iter, ev.UID, ev.Message.Body())
			}
			next++
		}
		if next < after.UIDNext {
			t.Fatalf("iter %d: events end at UID %d, mailbox already at UIDNext %d", iter, next-1, after.UIDNext)
		}
	}
}

// ReceivedAndWatch: every message received after the list was taken arrives
// as exactly one EventReceived, in order, and none in the list does.
func TestReceivedAndWatchMissesNothing(t *testing.T) {
	t.Parallel()
	s := New()
	tokens, wg := deliverer(t, s, "a@example.com", "b@example.com")
	defer wg.Wait()
	defer close(tokens)
	for iter := 0; iter < 500; iter++ {
		topUp(tokens)
		list, w := s.ReceivedAndWatch()
		deadline := time.Now().Add(10 * time.Second)
		var after []*Message
		for after = s.Received(); len(after) < len(list)+3; after = s.Received() {
			if time.Now().After(deadline) {
				t.Fatalf("iter %d: deliveries stuck at %d", iter, len(after))
			}
			topUp(tokens)
			time.Sleep(20 * time.Microsecond)
		}
		var got []*Message
		for _, ev := range w.Drain() {
			switch ev.Kind {
			case EventReceived:
				if ev.User != "" || ev.Mailbox != "" || ev.Message == nil {
					t.Fatalf("EventReceived with mailbox fields: %+v", ev)
				}
				got = append(got, ev.Message)
			case EventAppend:
			default:
				t.Fatalf("unexpected event %+v", ev)
			}
		}
		w.Close()
		final := s.Received()
		if !slices.Equal(final[:len(list)], list) {
			t.Fatalf("iter %d: received list changed", iter)
		}
		if len(got) < len(after)-len(list) || !slices.Equal(got, final[len(list):len(list)+len(got)]) {
			t.Fatalf("iter %d: got %d EventReceived, want the %d (or more) messages after the list, in order, once each", iter, len(got), len(after)-len(list))
		}
	}
}
