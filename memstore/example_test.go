package memstore_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/mailrig/mailrig/memstore"
)

// A store used directly, as a front-end or a test would: one SMTP
// transaction delivered to two users, a watcher that hears about it, a
// flag change and a move.
func Example() {
	store := memstore.New(memstore.WithAutoCreateUsers(false))
	ann, err := store.AddUser("ann@example.com", "secret", "sales@example.com")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.AddUser("bob@example.com", "hunter2"); err != nil {
		log.Fatal(err)
	}

	// Watch ann's INBOX from a snapshot on, so no change can be missed.
	inbox := ann.Inbox()
	before, w := inbox.SnapshotAndWatch()
	defer w.Close()

	// One transaction, two recipients: one Message, filed in each INBOX.
	raw := []byte("From: shop@example.com\nSubject: Your order\n\nThanks!\n")
	date := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	msg, err := store.Deliver(raw, date, memstore.Envelope{
		MailFrom: "shop@example.com",
		Rcpts:    []string{"sales@example.com", "bob@example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stored %d bytes (CRLF line endings), received %s\n", msg.Size(), msg.ReceivedAt().Format(time.DateTime))
	h := msg.Header()
	fmt.Println("subject:", h.Get("Subject"))

	<-w.C()
	for _, ev := range w.Drain() {
		fmt.Println("event: append UID", ev.UID, "to", ev.Mailbox, ev.Kind == memstore.EventAppend)
	}

	snap := inbox.Snapshot()
	fmt.Println("INBOX had", len(before.Entries), "now", len(snap.Entries), "unseen", snap.Unseen())

	uid := snap.Entries[0].UID
	if _, err := inbox.SetFlags([]uint32{uid}, memstore.AddFlags, memstore.NewFlags(`\seen`, "$Invoice"), nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("flags:", inbox.Snapshot().Entries[0].Flags)

	archive, err := ann.Mailbox("Archive")
	if err != nil {
		log.Fatal(err)
	}
	moved, err := inbox.MoveTo(archive, []uint32{uid}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("moved UID", moved.SourceUIDs, "to Archive UID", moved.DestUIDs, "INBOX now", len(inbox.Snapshot().Entries))

	_, err = ann.CreateMailbox("Archive", "")
	fmt.Println("create Archive again:", errors.Is(err, memstore.ErrMailboxExists))
	_, err = store.Deliver(raw, date, memstore.Envelope{Rcpts: []string{"nobody@example.com"}})
	fmt.Println("unknown recipient:", errors.Is(err, memstore.ErrNoSuchUser))
	// Output:
	// stored 56 bytes (CRLF line endings), received 2026-03-01 09:30:00
	// subject: Your order
	// event: append UID 1 to INBOX true
	// INBOX had 0 now 1 unseen 1
	// flags: \Seen $Invoice
	// moved UID [1] to Archive UID [1] INBOX now 0
	// create Archive again: true
	// unknown recipient: true
}

// A user limited to two messages: the third delivery is refused with
// ErrOverQuota and stores nothing; expunging one makes room again.
func ExampleUser_SetMessageQuota() {
	store := memstore.New()
	ann, err := store.AddUser("ann@example.com", "secret")
	if err != nil {
		log.Fatal(err)
	}
	ann.SetMessageQuota(2)
	date := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	deliver := func(subject string) error {
		raw := []byte("Subject: " + subject + "\r\n\r\nhi\r\n")
		_, err := store.Deliver(raw, date, memstore.Envelope{Rcpts: []string{"ann@example.com"}})
		return err
	}
	for _, subject := range []string{"one", "two", "three"} {
		err := deliver(subject)
		limit, used := ann.MessageQuota()
		fmt.Printf("%s: over quota %v, %d of %d messages\n", subject, errors.Is(err, memstore.ErrOverQuota), used, limit)
	}
	ann.Inbox().Expunge([]uint32{1}, nil)
	_, used := ann.MessageQuota()
	fmt.Println("after expunge:", used, "messages; four:", deliver("four"))
	// Output:
	// one: over quota false, 1 of 2 messages
	// two: over quota false, 2 of 2 messages
	// three: over quota true, 2 of 2 messages
	// after expunge: 1 messages; four: <nil>
}
