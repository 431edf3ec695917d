package inboxworker_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mailrig/mailrig/examples/inboxworker"
	"github.com/mailrig/mailrig/mailtest"
)

const (
	user     = "invoices@example.com"
	password = "invoices-password"
)

// deliverInvoice files an unread invoice with one PDF into the worker's
// INBOX and returns the file the worker should save for it.
func deliverInvoice(t *testing.T, srv *mailtest.Server, n int) (name string, data []byte) {
	t.Helper()
	filename := fmt.Sprintf("inv-%d.pdf", n)
	data = []byte(fmt.Sprintf("%%PDF-1.4\n%% invoice %d\n%%%%EOF\n", n))
	uid := srv.DeliverTo(t, user, "INBOX", mailtest.Draft{
		From:        "billing@supplier.example",
		To:          []string{user},
		Subject:     fmt.Sprintf("Invoice %d", n),
		Text:        "Please find the invoice attached.",
		Attachments: []mailtest.Attachment{{Filename: filename, Data: data}},
	})
	return fmt.Sprintf("%d-%s", uid, filename), data
}

// deliverNewsletter files an unread message whose only attachment is a
// PNG, which the worker must move without saving anything.
func deliverNewsletter(t *testing.T, srv *mailtest.Server) {
	t.Helper()
	srv.DeliverTo(t, user, "INBOX", mailtest.Draft{
		From:        "news@supplier.example",
		To:          []string{user},
		Subject:     "Our new logo",
		HTML:        "<p>Look!</p>",
		Attachments: []mailtest.Attachment{{Filename: "logo.png", Data: []byte("\x89PNG\r\n\x1a\n")}},
	})
}

// startWorker runs w.Run until the test ends.
func startWorker(t *testing.T, w *inboxworker.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := w.Run(ctx)
		if ctx.Err() == nil {
			t.Errorf("Run returned before it was stopped: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// waitProcessed waits until INBOX is empty and Processed holds n
// messages. It re-reads the IMAP view whenever the store changes, so it
// neither sleeps nor misses the moment.
func waitProcessed(t *testing.T, srv *mailtest.Server, n int) {
	t.Helper()
	w := srv.Store().Watch() // before the first look, so no change is missed
	defer w.Close()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		w.Drain()
		v := srv.IMAPView(user)
		inbox, _ := v.Mailbox("INBOX")
		processed, _ := v.Mailbox(inboxworker.ProcessedMailbox)
		if len(inbox.Messages) == 0 && len(processed.Messages) == n {
			return
		}
		select {
		case <-w.C():
		case <-deadline.C:
			t.Fatalf("after 5s INBOX holds %d messages and %s %d; want 0 and %d",
				len(inbox.Messages), inboxworker.ProcessedMailbox, len(processed.Messages), n)
		}
	}
}

// checkProcessed checks what an IMAP client would see: nothing left in
// INBOX and every message in Processed, read.
func checkProcessed(t *testing.T, srv *mailtest.Server, subjects ...string) {
	t.Helper()
	v := srv.IMAPView(user)
	inbox, _ := v.Mailbox("INBOX")
	if len(inbox.Messages) != 0 {
		t.Errorf("INBOX still holds %d messages", len(inbox.Messages))
	}
	processed, ok := v.Mailbox(inboxworker.ProcessedMailbox)
	if !ok {
		t.Fatalf("no %s mailbox; mailboxes: %q", inboxworker.ProcessedMailbox, v.Names())
	}
	var got []string
	for _, m := range processed.Messages {
		got = append(got, m.Message.Subject())
		if !slices.Equal(m.Flags, []string{`\Seen`}) {
			t.Errorf("%q in %s has flags %q, want [\\Seen]", m.Message.Subject(), processed.Name, m.Flags)
		}
	}
	if !slices.Equal(got, subjects) {
		t.Errorf("%s holds %q, want %q", processed.Name, got, subjects)
	}
}

// checkFiles checks that dir holds exactly the wanted files.
func checkFiles(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if wantNames := slices.Sorted(maps.Keys(want)); !slices.Equal(names, wantNames) {
		t.Fatalf("saved files %q, want %q", names, wantNames)
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s = %q, want %q", name, got, data)
		}
	}
}

// runScenario delivers two invoices and a newsletter, starts the worker,
// checks the result, then delivers a third invoice while the worker waits
// and checks that it is processed too.
func runScenario(t *testing.T, srv *mailtest.Server, pollInterval time.Duration) {
	t.Helper()
	want := map[string][]byte{}
	name, data := deliverInvoice(t, srv, 1)
	want[name] = data
	deliverNewsletter(t, srv)
	name, data = deliverInvoice(t, srv, 2)
	want[name] = data

	dir := t.TempDir()
	startWorker(t, &inboxworker.Worker{
		Addr:         srv.IMAPAddr(),
		User:         user,
		Password:     password,
		Dir:          dir,
		PollInterval: pollInterval,
	})
	waitProcessed(t, srv, 3)
	checkProcessed(t, srv, "Invoice 1", "Our new logo", "Invoice 2")
	checkFiles(t, dir, want) // the PNG was not saved

	// The worker is now waiting for mail.
	name, data = deliverInvoice(t, srv, 3)
	want[name] = data
	waitProcessed(t, srv, 4)
	checkProcessed(t, srv, "Invoice 1", "Our new logo", "Invoice 2", "Invoice 3")
	checkFiles(t, dir, want)
}

// The server offers MOVE and IDLE. The poll interval is far longer than
// the test's deadline, so the third invoice can only be noticed through
// IDLE.
func TestRunMovesInvoicesAndIdles(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser(user, password))
	runScenario(t, srv, time.Hour)
}

// Without MOVE (which the server now refuses with BAD), the worker copies,
// flags \Deleted and expunges, with the same end state: the copies in
// Processed carry \Seen but not \Deleted, and INBOX is empty.
func TestRunWithoutMOVE(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser(user, password), mailtest.WithHiddenIMAPCapabilities("MOVE"))
	runScenario(t, srv, time.Hour)
}

// Without IDLE the server still lists IDLE (go-imap does for IMAP4rev1)
// but answers BAD once the worker ends it. The worker then polls, so the
// third invoice arrives after at most two poll intervals.
func TestRunWithoutIDLE(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser(user, password), mailtest.WithHiddenIMAPCapabilities("IDLE"))
	runScenario(t, srv, 50*time.Millisecond)
}

// ProcessOnce over IMAPS handles what is unread and stops. A sender-chosen
// file name is reduced to its base name, so it cannot escape Dir; a message
// already read is left alone.
func TestProcessOnceOverIMAPS(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser(user, password))
	pdf := []byte("%PDF-1.4\n%%EOF\n")
	uid := srv.DeliverTo(t, user, "INBOX", mailtest.Draft{
		From:    "billing@supplier.example",
		To:      []string{user},
		Subject: "Invoice 7",
		Attachments: []mailtest.Attachment{
			{Filename: "../../../.config/autostart/inv-7.pdf", Data: pdf},
			{Filename: `C:\Users\billing\inv-7-copy.pdf`, Data: pdf},
		},
	})
	srv.DeliverTo(t, user, "INBOX", mailtest.Draft{
		From:    "boss@example.com",
		To:      []string{user},
		Subject: "Read already",
		Text:    "hi",
	}, `\Seen`)

	dir := t.TempDir()
	w := &inboxworker.Worker{
		Addr:     srv.IMAPSAddr(),
		TLS:      srv.ClientTLSConfig(), // trust the test certificate
		User:     user,
		Password: password,
		Dir:      dir,
	}
	n, err := w.ProcessOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("ProcessOnce processed %d messages, want 1", n)
	}
	checkFiles(t, dir, map[string][]byte{
		fmt.Sprintf("%d-inv-7.pdf", uid):      pdf,
		fmt.Sprintf("%d-inv-7-copy.pdf", uid): pdf,
	})

	v := srv.IMAPView(user)
	inbox, _ := v.Mailbox("INBOX")
	if len(inbox.Messages) != 1 || inbox.Messages[0].Message.Subject() != "Read already" {
		t.Errorf("INBOX holds %d messages, want only the one read already", len(inbox.Messages))
	}
	processed, _ := v.Mailbox(inboxworker.ProcessedMailbox)
	if len(processed.Messages) != 1 {
		t.Errorf("%s holds %d messages, want 1", inboxworker.ProcessedMailbox, len(processed.Messages))
	}

	// Nothing new: a second run finds nothing to do.
	if n, err := w.ProcessOnce(context.Background()); err != nil || n != 0 {
		t.Errorf("second ProcessOnce = %d, %v; want 0, nil", n, err)
	}
}
