package memstore

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func checkMailboxInvariants(t testing.TB, mb *Mailbox) Snapshot {
	t.Helper()
	snap := mb.Snapshot()
	var size int64
	for i, e := range snap.Entries {
		if i > 0 && e.UID <= snap.Entries[i-1].UID {
			t.Fatalf("%q: UIDs not strictly increasing: %d after %d", snap.Name, e.UID, snap.Entries[i-1].UID)
		}
		if e.UID >= snap.UIDNext || e.UID == 0 {
			t.Fatalf("%q: UID %d, UIDNext %d", snap.Name, e.UID, snap.UIDNext)
		}
		size += e.Message.Size()
	}
	if size != snap.Size {
		t.Fatalf("%q: Size %d, entries %d", snap.Name, snap.Size, size)
	}
	return snap
}

func TestConcurrentDeliveries(t *testing.T) {
	t.Parallel()
	s := New()
	const goroutines, perG = 20, 50
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				// Everyone delivers to shared@; each goroutine also to its own user.
				raw := []byte(fmt.Sprintf("Subject: %d-%d\r\n\r\n%d-%d\r\n", g, i, g, i))
				if _, err := s.Deliver(raw, testDate, env("shared@example.com", fmt.Sprintf("u%d@example.com", g))); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	shared, _ := s.User("shared@example.com")
	snap := checkMailboxInvariants(t, shared.Inbox())
	if len(snap.Entries) != goroutines*perG || snap.UIDNext != goroutines*perG+1 {
		t.Fatalf("shared INBOX: %d entries, UIDNext %d", len(snap.Entries), snap.UIDNext)
	}
	bodies := map[string]bool{}
	for i, e := range snap.Entries {
		if e.UID != uint32(i+1) {
			t.Fatalf("UID %d at %d", e.UID, i)
		}
		bodies[string(e.Message.Body())] = true
	}
	if len(bodies) != goroutines*perG {
		t.Fatalf("%d distinct messages", len(bodies))
	}
	for g := 0; g < goroutines; g++ {
		u, _ := s.User(fmt.Sprintf("u%d@example.com", g))
		us := checkMailboxInvariants(t, u.Inbox())
		if len(us.Entries) != perG {
			t.Fatalf("u%d: %d messages", g, len(us.Entries))
		}
		for i, e := range us.Entries { // one goroutine: in its own order
			if got, want := string(e.Message.Body()), fmt.Sprintf("%d-%d\r\n", g, i); got != want {
				t.Fatalf("u%d entry %d = %q, want %q", g, i, got, want)
			}
		}
		if usedBytes(u) != us.Size {
			t.Fatalf("u%d usage %d, size %d", g, usedBytes(u), us.Size)
		}
	}
	if got := len(s.Received()); got != goroutines*perG {
		t.Fatalf("Received %d", got)
	}
	ids := map[uint64]bool{}
	for _, m := range s.Received() {
		if ids[m.ID()] {
			t.Fatalf("duplicate ID %d", m.ID())
		}
		ids[m.ID()] = true
	}
}

func TestConcurrentAppendsSameMessage(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	boxes := []*Mailbox{u.Inbox(), mustMailbox(t, u, "Sent"), mustMailbox(t, u, "Archive"), mustMailbox(t, u, "Junk")}
	for round := 0; round < 50; round++ {
		m := NewMessage(rawMsg(round), testDate, Envelope{})
		var wg sync.WaitGroup
		for _, mb := range boxes {
			wg.Add(1)
			go func(mb *Mailbox) {
				defer wg.Done()
				if _, err := mb.Append(m, Flags{}); err != nil {
					t.Error(err)
				}
				_ = m.ID()
			}(mb)
		}
		wg.Wait()
		for _, mb := range boxes {
			e := mb.Snapshot().Entries[round]
			if e.Message != m || e.Message.ID() != m.ID() || m.ID() == 0 {
				t.Fatalf("round %d: %q holds another message or ID %d", round, mb.Name(), m.ID())
			}
		}
	}
}

// Copies and moves crossing between two mailboxes in both directions, plus
// renames of both, must not deadlock.
func TestCrossingTransfersDoNotDeadlock(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	v := mustUser(t, s, "bob@example.com", "pw")
	a := mustCreate(t, u, "A")
	b := mustCreate(t, u, "B")
	c := v.Inbox() // another user's mailbox
	for i := 0; i < 20; i++ {
		mustAppend(t, a, rawMsg(i))
		mustAppend(t, b, rawMsg(i))
		mustAppend(t, c, rawMsg(i))
	}
	const rounds = 2000
	var extra atomic.Int64 // copies not expunged again
	withDeadline(t, 30*time.Second, func() {
		var wg sync.WaitGroup
		transfer := func(src, dst *Mailbox, move bool) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				uids := uidsOf(src.Snapshot())
				if len(uids) > 3 {
					uids = uids[:3]
				}
				var err error
				if move {
					_, err = src.MoveTo(dst, uids, nil)
				} else {
					var res CopyResult
					res, err = src.CopyTo(dst, uids, nil)
					extra.Add(int64(len(res.DestUIDs)))
					// Keep sizes bounded; a copy moved on meanwhile survives.
					extra.Add(-int64(len(dst.Expunge(res.DestUIDs, nil))))
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}
		wg.Add(6)
		go transfer(a, b, true)
		go transfer(b, a, true)
		go transfer(a, b, false)
		go transfer(b, a, false)
		go transfer(a, c, true)
		go transfer(c, b, true)
		wg.Add(1)
		go func() { // renames take User.mu, then Mailbox.mu
			defer wg.Done()
			names := [][2]string{{"A", "A2"}, {"A2", "A"}, {"B", "B2"}, {"B2", "B"}}
			for i := 0; i < rounds; i++ {
				n := names[i%len(names)]
				if err := u.RenameMailbox(n[0], n[1]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		wg.Add(1)
		go func() { // quota reads and changes
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				u.SetQuota(0)
				u.Quota()
				v.SetQuota(0)
				u.SetMessageQuota(0)
				u.MessageQuota()
				v.SetMessageQuota(0)
			}
		}()
		wg.Wait()
	})
	total := 0
	for _, usr := range []*User{u, v} {
		for _, mb := range usr.Mailboxes() {
			total += len(checkMailboxInvariants(t, mb).Entries)
		}
		if got, want := usedBytes(usr), sumSizes(t, usr); got != want {
			t.Fatalf("%s: usage %d, mailboxes hold %d", usr.Address(), got, want)
		}
		if got, want := usedMessages(usr), countMessages(usr); got != want {
			t.Fatalf("%s: %d messages counted, mailboxes hold %d", usr.Address(), got, want)
		}
	}
	if want := 60 + int(extra.Load()); total != want {
		t.Fatalf("%d messages in all, want %d (moves lose or duplicate nothing)", total, want)
	}
}

func TestConcurrentFlagsExpungeSnapshot(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	mb := mustCreate(t, u, "Box")
	const n = 400
	for i := 1; i <= n; i++ {
		mustAppend(t, mb, rawMsg(i))
	}
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			mb.SetFlags([]uint32{uint32(i), uint32(n + 1 - i)}, AddFlags, NewFlags(FlagSeen, fmt.Sprintf("k%d", i%5)), nil)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i += 2 {
			mb.Expunge([]uint32{uint32(i)}, nil)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			mustAppend(t, mb, rawMsg(n+1+i))
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			snap := checkMailboxInvariants(t, mb)
			frozen := slices.Clone(snap.Entries)
			seen := snap.Unseen()
			time.Sleep(time.Microsecond)
			// The snapshot did not change under us.
			for j := range frozen {
				if frozen[j].UID != snap.Entries[j].UID || !frozen[j].Flags.Equal(snap.Entries[j].Flags) || frozen[j].Message != snap.Entries[j].Message {
					t.Errorf("snapshot entry %d changed", j)
					return
				}
			}
			if snap.Unseen() != seen {
				t.Errorf("Unseen changed %d → %d", seen, snap.Unseen())
				return
			}
		}
	}()
	wg.Wait()
	snap := checkMailboxInvariants(t, mb)
	if len(snap.Entries) != n/2+n || snap.UIDNext != 2*n+1 {
		t.Fatalf("%d entries, UIDNext %d", len(snap.Entries), snap.UIDNext)
	}
	for _, e := range snap.Entries {
		if e.UID <= n && (e.UID%2 == 1 || !e.Flags.Has(FlagSeen)) {
			t.Fatalf("UID %d: flags %q", e.UID, e.Flags)
		}
	}
	if usedBytes(u) != snap.Size {
		t.Fatalf("usage %d, size %d", usedBytes(u), snap.Size)
	}
}
