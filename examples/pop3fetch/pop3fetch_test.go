package pop3fetch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/mailrig/mailrig/examples/pop3fetch"
	"github.com/mailrig/mailrig/mailtest"
)

const (
	bob         = "bob@example.com"
	bobPassword = "bob-password"
)

// sendNotes sends n messages to bob through SMTP and returns them as
// stored. Their bodies have lines starting with a dot, which the server
// must dot-stuff and the client unstuff; a lone "." would otherwise end
// the download early.
func sendNotes(t *testing.T, srv *mailtest.Server, first, n int) []*mailtest.Message {
	t.Helper()
	var msgs []*mailtest.Message
	for i := first; i < first+n; i++ {
		msgs = append(msgs, srv.Send(t, mailtest.Draft{
			From:    "alice@example.com",
			To:      []string{bob},
			Subject: fmt.Sprintf("Note %d", i),
			Text:    fmt.Sprintf("Note %d\r\n.\r\n..two dots\r\n.one dot\r\n", i),
		}))
	}
	return msgs
}

// checkSame fails t unless got holds exactly the bytes of want, in order.
func checkSame(t *testing.T, got [][]byte, want []*mailtest.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("downloaded %d messages, want %d", len(got), len(want))
	}
	for i, m := range want {
		if !bytes.Equal(got[i], m.Raw()) {
			t.Errorf("message %d (%q) differs from what the server stored:\ngot:\n%s\nwant:\n%s", i+1, m.Subject(), got[i], m.Raw())
		}
	}
}

func TestDownloadAndDelete(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser(bob, bobPassword))
	sent := sendNotes(t, srv, 1, 3)

	f := &pop3fetch.Fetcher{Addr: srv.POP3Addr(), User: bob, Password: bobPassword}
	got, err := f.DownloadAndDelete(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, sent)

	if msgs := srv.POP3View(bob).Messages; len(msgs) != 0 {
		t.Errorf("POP3 still lists %d messages", len(msgs))
	}
	inbox, _ := srv.IMAPView(bob).Mailbox("INBOX")
	if len(inbox.Messages) != 0 {
		t.Errorf("IMAP INBOX still holds %d messages", len(inbox.Messages))
	}
}

func TestLeaveOnServer(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser(bob, bobPassword))
	sent := sendNotes(t, srv, 1, 3)
	f := &pop3fetch.Fetcher{Addr: srv.POP3Addr(), User: bob, Password: bobPassword}

	got, err := f.LeaveOnServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, sent)
	before := srv.POP3View(bob).UIDLs()

	fourth := sendNotes(t, srv, 4, 1)
	got, err = f.LeaveOnServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, fourth) // only the new one

	// Nothing was deleted or renumbered.
	after := srv.POP3View(bob).UIDLs()
	if len(after) != 4 || !slices.Equal(after[:3], before) {
		t.Errorf("UIDLs went from %q to %q; want the same 3 plus one", before, after)
	}
	if seen := slices.Sorted(maps.Keys(f.Seen)); !slices.Equal(seen, slices.Sorted(slices.Values(after))) {
		t.Errorf("Seen = %q, want %q", seen, after)
	}
}

func TestDownloadOverPOP3S(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser(bob, bobPassword))
	srv.DeliverTo(t, bob, "INBOX", mailtest.Draft{
		From:    "alice@example.com",
		To:      []string{bob},
		Subject: "Over TLS",
		Text:    "hello",
	})
	stored := srv.POP3View(bob).Messages[0].Message

	f := &pop3fetch.Fetcher{
		Addr:     srv.POP3SAddr(),
		TLS:      srv.ClientTLSConfig(), // trust the test certificate
		User:     bob,
		Password: bobPassword,
	}
	got, err := f.DownloadAndDelete(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, got, []*mailtest.Message{stored})
	if msgs := srv.POP3View(bob).Messages; len(msgs) != 0 {
		t.Errorf("POP3 still lists %d messages", len(msgs))
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser(bob, bobPassword))
	sendNotes(t, srv, 1, 1)

	f := &pop3fetch.Fetcher{Addr: srv.POP3Addr(), User: bob, Password: "wrong"}
	_, err := f.DownloadAndDelete(context.Background())
	var pe *pop3fetch.Error
	if !errors.As(err, &pe) || pe.Command != "PASS" {
		t.Fatalf("DownloadAndDelete with a wrong password: %v, want -ERR to PASS", err)
	}
	if n := len(srv.POP3View(bob).Messages); n != 1 {
		t.Errorf("POP3 lists %d messages, want 1", n)
	}
}
