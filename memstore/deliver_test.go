package memstore

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDeliverSharesMessage(t *testing.T) {
	t.Parallel()
	s := New()
	ann := mustUser(t, s, "ann@example.com", "pw", "ann.alias@example.com")
	m := mustDeliver(t, s, []byte("Subject: hi\n\nhello\n"), "ann@example.com", "bob@example.com", "ANN.ALIAS@example.com", "Bob@Example.com")
	if string(m.Raw()) != "Subject: hi\r\n\r\nhello\r\n" {
		t.Fatalf("Raw = %q", m.Raw())
	}
	if m.ID() == 0 || !m.ReceivedAt().Equal(testDate) {
		t.Fatalf("ID %d date %v", m.ID(), m.ReceivedAt())
	}
	if got := m.Envelope(); got.MailFrom != "sender@example.com" || len(got.Rcpts) != 4 {
		t.Fatalf("Envelope = %+v", got)
	}
	bob, ok := s.User("bob@example.com")
	if !ok || bob.Address() != "bob@example.com" {
		t.Fatal("bob not auto-created with the first spelling")
	}
	for _, u := range []*User{ann, bob} {
		snap := u.Inbox().Snapshot()
		if len(snap.Entries) != 1 || snap.Entries[0].Message != m || snap.Entries[0].UID != 1 || snap.Entries[0].Flags.Len() != 0 {
			t.Fatalf("%s INBOX: %+v", u.Address(), snap.Entries)
		}
		if usedBytes(u) != m.Size() {
			t.Fatalf("%s usage %d", u.Address(), usedBytes(u))
		}
	}
	if got := s.Received(); len(got) != 1 || got[0] != m {
		t.Fatalf("Received = %v", got)
	}
	if got := len(s.Users()); got != 2 {
		t.Fatalf("%d users", got)
	}
}

func TestDeliverReceivedOrder(t *testing.T) {
	t.Parallel()
	s := New()
	var want []*Message
	for i := 0; i < 10; i++ {
		want = append(want, mustDeliver(t, s, rawMsg(i), "a@example.com"))
	}
	got := s.Received()
	if !slices.Equal(got, want) {
		t.Fatal("Received not in delivery order")
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID() <= got[i-1].ID() {
			t.Fatalf("IDs not increasing: %d then %d", got[i-1].ID(), got[i].ID())
		}
	}
	// Expunged messages stay in Received; Purge forgets both.
	u, _ := s.User("a@example.com")
	u.Inbox().Expunge([]uint32{1, 2, 3}, nil)
	if len(s.Received()) != 10 {
		t.Fatal("expunge changed Received")
	}
	r := s.Received()
	s.Purge()
	if len(s.Received()) != 0 || len(u.Inbox().Snapshot().Entries) != 0 || usedBytes(u) != 0 {
		t.Fatalf("after Purge: %d received, %d in INBOX, usage %d", len(s.Received()), len(u.Inbox().Snapshot().Entries), usedBytes(u))
	}
	if len(r) != 10 || r[9] != want[9] {
		t.Fatal("Purge changed an earlier Received result")
	}
	if uid := mustAppend(t, u.Inbox(), rawMsg(99)); uid != 11 {
		t.Fatalf("UID after Purge = %d, want 11", uid)
	}
}

func TestDeliverUnknownUser(t *testing.T) {
	t.Parallel()
	s := New(WithAutoCreateUsers(false))
	ann := mustUser(t, s, "ann@example.com", "pw")
	_, err := s.Deliver(rawMsg(1), testDate, env("ann@example.com", "nobody@example.com"))
	if !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("Deliver to unknown: %v", err)
	}
	if len(ann.Inbox().Snapshot().Entries) != 0 || len(s.Received()) != 0 || usedBytes(ann) != 0 {
		t.Fatal("something stored by a refused delivery")
	}
	if _, ok := s.User("nobody@example.com"); ok || len(s.Users()) != 1 {
		t.Fatal("user created despite WithAutoCreateUsers(false)")
	}
	if _, err := New().Deliver(rawMsg(1), testDate, env(" ")); !errors.Is(err, ErrEmptyAddress) || errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("empty recipient: %v", err)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	s := New()
	ann := mustUser(t, s, "ann@example.com", "pw")
	bob := mustUser(t, s, "bob@example.com", "pw")
	size := rawSize(1) // all rawMsg(1..9) have this size
	ann.SetQuota(3 * size)
	if limit, used := ann.Quota(); limit != 3*size || used != 0 {
		t.Fatalf("Quota = %d, %d", limit, used)
	}
	mustDeliver(t, s, rawMsg(1), "ann@example.com")
	mustDeliver(t, s, rawMsg(2), "ann@example.com", "bob@example.com")
	mustAppend(t, mustMailbox(t, ann, "Sent"), rawMsg(3)) // exactly at the limit
	if used := usedBytes(ann); used != 3*size {
		t.Fatalf("usage %d", used)
	}
	received := len(s.Received())
	// Deliver to ann (full) and bob: refused as a whole.
	if _, err := s.Deliver(rawMsg(4), testDate, env("bob@example.com", "ann@example.com")); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("Deliver over quota: %v", err)
	}
	if usedBytes(bob) != size || len(bob.Inbox().Snapshot().Entries) != 1 || len(s.Received()) != received {
		t.Fatal("refused delivery stored something for bob")
	}
	if _, err := ann.Inbox().Append(NewMessage(rawMsg(5), testDate, Envelope{}), Flags{}); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("Append over quota: %v", err)
	}
	if _, err := ann.Inbox().CopyTo(mustMailbox(t, ann, "Archive"), []uint32{1}, nil); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("CopyTo over quota: %v", err)
	}
	wantUIDs(t, "INBOX", uidsOf(ann.Inbox().Snapshot()), []uint32{1, 2})
	if n := len(mustMailbox(t, ann, "Archive").Snapshot().Entries); n != 0 {
		t.Fatalf("Archive holds %d", n)
	}
	// A move within the user is fine at the limit and does not double count.
	if _, err := ann.Inbox().MoveTo(mustMailbox(t, ann, "Archive"), []uint32{1, 2}, nil); err != nil {
		t.Fatalf("MoveTo at the limit: %v", err)
	}
	if usedBytes(ann) != 3*size || sumSizes(t, ann) != 3*size {
		t.Fatalf("usage after move %d", usedBytes(ann))
	}
	// Usage comes back after Expunge and DeleteMailbox.
	mustMailbox(t, ann, "Archive").Expunge([]uint32{1}, nil)
	if usedBytes(ann) != 2*size {
		t.Fatalf("usage after expunge %d", usedBytes(ann))
	}
	mustDeliver(t, s, rawMsg(6), "ann@example.com")
	if err := ann.DeleteMailbox("Archive"); err != nil {
		t.Fatal(err)
	}
	if usedBytes(ann) != 2*size || sumSizes(t, ann) != 2*size {
		t.Fatalf("usage after delete %d", usedBytes(ann))
	}
	// Lifting the quota.
	ann.SetQuota(0)
	for i := 0; i < 5; i++ {
		mustDeliver(t, s, rawMsg(i), "ann@example.com")
	}
	if usedBytes(ann) != 7*size || sumSizes(t, ann) != 7*size {
		t.Fatalf("usage %d", usedBytes(ann))
	}
}

// TestForget: Forget drops messages from the received list only, tells
// store-wide watchers, and leaves a list taken before it unchanged.
func TestForget(t *testing.T) {
	t.Parallel()
	s := New()
	a := mustDeliver(t, s, []byte("Subject: a\n\na\n"), "bob@example.com")
	b := mustDeliver(t, s, []byte("Subject: b\n\nb\n"), "bob@example.com")
	before, w := s.ReceivedAndWatch()
	defer w.Close()
	if n := s.Forget(a.ID(), 999); n != 1 {
		t.Fatalf("Forget = %d, want 1", n)
	}
	if got := s.Received(); len(got) != 1 || got[0] != b {
		t.Fatalf("Received = %v", got)
	}
	if len(before) != 2 || before[0] != a {
		t.Fatalf("earlier list changed: %v", before)
	}
	bob, _ := s.User("bob@example.com")
	if n := len(bob.Inbox().Snapshot().Entries); n != 2 {
		t.Fatalf("Forget touched the mailbox: %d entries", n)
	}
	evs := w.Drain()
	if len(evs) != 1 || evs[0].Kind != EventForgotten || evs[0].Message != a {
		t.Fatalf("events = %+v", evs)
	}
	if n := s.Forget(a.ID()); n != 0 || w.Pending() {
		t.Fatalf("second Forget = %d, pending %v", n, w.Pending())
	}
	s.Purge()
	evs = w.Drain()
	if len(evs) == 0 || evs[0].Kind != EventPurged {
		t.Fatalf("Purge events = %+v", evs)
	}
}

func TestMessageQuota(t *testing.T) {
	t.Parallel()
	s := New()
	ann := mustUser(t, s, "ann@example.com", "pw")
	bob := mustUser(t, s, "bob@example.com", "pw")
	size := rawSize(1)
	ann.SetMessageQuota(3)
	if limit, used := ann.MessageQuota(); limit != 3 || used != 0 {
		t.Fatalf("MessageQuota = %d, %d", limit, used)
	}
	if limit, _ := ann.Quota(); limit != 0 {
		t.Fatalf("SetMessageQuota set a byte limit %d", limit)
	}
	wantCount := func(u *User, want int64) {
		t.Helper()
		if got, stored := usedMessages(u), countMessages(u); got != want || stored != want {
			t.Fatalf("%s: %d messages counted, %d stored, want %d", u.Address(), got, stored, want)
		}
		if got, want := usedBytes(u), sumSizes(t, u); got != want {
			t.Fatalf("%s: %d bytes counted, mailboxes hold %d", u.Address(), got, want)
		}
	}
	mustDeliver(t, s, rawMsg(1), "ann@example.com")
	mustDeliver(t, s, rawMsg(2), "ann@example.com", "bob@example.com")
	mustAppend(t, mustMailbox(t, ann, "Sent"), rawMsg(3)) // exactly at the limit
	wantCount(ann, 3)
	wantCount(bob, 1)

	// At the limit every way in is refused and stores nothing.
	received := len(s.Received())
	_, err := s.Deliver(rawMsg(4), testDate, env("bob@example.com", "ann@example.com"))
	if !errors.Is(err, ErrOverQuota) || !strings.Contains(err.Error(), "3 of 3 messages") {
		t.Fatalf("Deliver over the message quota: %v", err)
	}
	if len(s.Received()) != received {
		t.Fatal("refused delivery was recorded as received")
	}
	wantCount(bob, 1)
	if _, err := ann.Inbox().Append(NewMessage(rawMsg(5), testDate, Envelope{}), Flags{}); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("Append over the message quota: %v", err)
	}
	if _, err := ann.Inbox().CopyTo(mustMailbox(t, ann, "Archive"), []uint32{1}, nil); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("CopyTo over the message quota: %v", err)
	}
	wantCount(ann, 3)
	// A copy that picks nothing adds nothing, so it is not refused.
	if res, err := ann.Inbox().CopyTo(mustMailbox(t, ann, "Archive"), []uint32{99}, nil); err != nil || len(res.DestUIDs) != 0 {
		t.Fatalf("empty copy at the limit: %+v, %v", res, err)
	}
	// A move within the user keeps the count.
	if _, err := ann.Inbox().MoveTo(mustMailbox(t, ann, "Archive"), []uint32{1, 2}, nil); err != nil {
		t.Fatalf("MoveTo at the limit: %v", err)
	}
	wantCount(ann, 3)
	// Expunge, ExpungeDeleted and DeleteMailbox give the count back.
	archive := mustMailbox(t, ann, "Archive")
	if got := archive.Expunge([]uint32{1}, nil); len(got) != 1 {
		t.Fatalf("Expunge removed %v", got)
	}
	wantCount(ann, 2)
	mustAppend(t, archive, rawMsg(6), FlagDeleted)
	wantCount(ann, 3)
	if got := archive.ExpungeDeleted(nil, nil); len(got) != 1 {
		t.Fatalf("ExpungeDeleted removed %v", got)
	}
	wantCount(ann, 2)
	mustDeliver(t, s, rawMsg(7), "ann@example.com")
	wantCount(ann, 3)
	if err := ann.DeleteMailbox("Archive"); err != nil {
		t.Fatal(err)
	}
	wantCount(ann, 2) // Sent and the new INBOX message stay

	// A move to another user counts there, against that user's limit.
	bob.SetMessageQuota(2)
	if _, err := ann.Inbox().MoveTo(bob.Inbox(), uidsOf(ann.Inbox().Snapshot()), nil); err != nil {
		t.Fatalf("MoveTo bob: %v", err)
	}
	wantCount(ann, 1)
	wantCount(bob, 2)
	if _, err := mustMailbox(t, ann, "Sent").MoveTo(bob.Inbox(), []uint32{1}, nil); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("MoveTo bob over his limit: %v", err)
	}
	wantCount(ann, 1)
	wantCount(bob, 2)

	// Both limits apply; either refuses.
	ann.SetQuota(usedBytes(ann) + size - 1)
	if _, err := ann.Inbox().Append(NewMessage(rawMsg(8), testDate, Envelope{}), Flags{}); !errors.Is(err, ErrOverQuota) || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("Append over the byte quota under the message quota: %v", err)
	}
	wantCount(ann, 1)
	ann.SetQuota(0)

	// A limit below the usage keeps what is stored and refuses more.
	mustDeliver(t, s, rawMsg(9), "ann@example.com")
	wantCount(ann, 2)
	ann.SetMessageQuota(1)
	if _, err := s.Deliver(rawMsg(10), testDate, env("ann@example.com")); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("Deliver above a lowered limit: %v", err)
	}
	wantCount(ann, 2)

	// Purge empties every mailbox and the counts with them; lifting the
	// limit lets mail in again.
	s.Purge()
	wantCount(ann, 0)
	wantCount(bob, 0)
	ann.SetMessageQuota(0)
	for i := 0; i < 5; i++ {
		mustDeliver(t, s, rawMsg(i), "ann@example.com")
	}
	wantCount(ann, 5)
}
