package memstore

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// testDate is a fixed internal date so tests do not depend on the clock.
var testDate = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// rawMsg returns a small CRLF message whose body names n.
func rawMsg(n int) []byte {
	return []byte(fmt.Sprintf("Subject: message %d\r\nFrom: a@example.com\r\n\r\nbody %d\r\n", n, n))
}

func env(rcpts ...string) Envelope { return Envelope{MailFrom: "sender@example.com", Rcpts: rcpts} }

func mustUser(t testing.TB, s *Store, addr, pw string, aliases ...string) *User {
	t.Helper()
	u, err := s.AddUser(addr, pw, aliases...)
	if err != nil {
		t.Fatalf("AddUser(%q): %v", addr, err)
	}
	return u
}

func mustMailbox(t testing.TB, u *User, name string) *Mailbox {
	t.Helper()
	mb, err := u.Mailbox(name)
	if err != nil {
		t.Fatalf("Mailbox(%q): %v", name, err)
	}
	return mb
}

func mustCreate(t testing.TB, u *User, name string) *Mailbox {
	t.Helper()
	mb, err := u.CreateMailbox(name, "")
	if err != nil {
		t.Fatalf("CreateMailbox(%q): %v", name, err)
	}
	return mb
}

func mustDeliver(t testing.TB, s *Store, raw []byte, rcpts ...string) *Message {
	t.Helper()
	m, err := s.Deliver(raw, testDate, env(rcpts...))
	if err != nil {
		t.Fatalf("Deliver to %v: %v", rcpts, err)
	}
	return m
}

func mustAppend(t testing.TB, mb *Mailbox, raw []byte, flags ...string) uint32 {
	t.Helper()
	uid, err := mb.Append(NewMessage(raw, testDate, Envelope{}), NewFlags(flags...))
	if err != nil {
		t.Fatalf("Append to %q: %v", mb.Name(), err)
	}
	return uid
}

func uidsOf(s Snapshot) []uint32 {
	out := make([]uint32, len(s.Entries))
	for i, e := range s.Entries {
		out[i] = e.UID
	}
	return out
}

func bodiesOf(s Snapshot) []string {
	out := make([]string, len(s.Entries))
	for i, e := range s.Entries {
		out[i] = string(e.Message.Body())
	}
	return out
}

func wantUIDs(t testing.TB, what string, got, want []uint32) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("%s: UIDs %v, want %v", what, got, want)
	}
}

// usedBytes returns the user's quota usage.
func usedBytes(u *User) int64 {
	_, used := u.Quota()
	return used
}

// usedMessages returns the number of messages the user's quota counts.
func usedMessages(u *User) int64 {
	_, used := u.MessageQuota()
	return used
}

// countMessages counts the entries of every mailbox of u.
func countMessages(u *User) int64 {
	var n int64
	for _, mb := range u.Mailboxes() {
		n += int64(len(mb.Snapshot().Entries))
	}
	return n
}

// sumSizes sums the sizes of every mailbox of u, checking each snapshot's
// Size against its entries.
func sumSizes(t testing.TB, u *User) int64 {
	t.Helper()
	var total int64
	for _, mb := range u.Mailboxes() {
		s := mb.Snapshot()
		var sz int64
		for _, e := range s.Entries {
			sz += e.Message.Size()
		}
		if sz != s.Size {
			t.Fatalf("mailbox %q: Snapshot.Size %d, entries sum to %d", s.Name, s.Size, sz)
		}
		total += sz
	}
	return total
}

// kinds lists the kinds of evs.
func kinds(evs []Event) []EventKind {
	out := make([]EventKind, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

// withDeadline runs f in a goroutine and fails the test if it has not
// returned within d (a deadlock).
func withDeadline(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not finish within %v: deadlock?", d)
	}
}
