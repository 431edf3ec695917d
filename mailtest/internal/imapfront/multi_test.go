package imapfront

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailrig/mailrig/memstore"
)

// TestIdleSeesDeliveryRightAfterSelect delivers from another goroutine
// right after SELECT, racing the start of IDLE, many times: the EXISTS must
// always arrive.
func TestIdleSeesDeliveryRightAfterSelect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	exists := make(chan uint32, 16)
	c := e.client(t, alice, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	const rounds = 300
	for i := 0; i < rounds; i++ {
		data, err := c.Select("INBOX", nil).Wait()
		mustNoErr(t, err, "select")
		want := data.NumMessages + 1
		delivered := make(chan struct{})
		go func() {
			defer close(delivered)
			if _, err := e.store.Deliver([]byte(simpleMsg("race", "x")), time.Time{}, memstore.Envelope{Rcpts: []string{alice}}); err != nil {
				t.Error(err)
			}
		}()
		idle, err := c.Idle()
		mustNoErr(t, err, "idle")
		for got := uint32(0); got < want; {
			got = waitFor(t, exists, 5*time.Second, fmt.Sprintf("EXISTS %d in round %d", want, i))
		}
		mustNoErr(t, idle.Close(), "idle close")
		mustNoErr(t, idle.Wait(), "idle wait")
		<-delivered
	}
}

// TestIdleWithoutMailbox: IDLE is allowed in the authenticated state.
func TestIdleWithoutMailbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	rc := e.rawLogin(t, alice)
	rc.send("a1 IDLE")
	if cont := rc.readResp(); !strings.HasPrefix(cont, "+ ") {
		t.Fatalf("continuation: %q", cont)
	}
	rc.send("DONE")
	if tagged := rc.readResp(); tagged != "a1 OK IDLE completed" {
		t.Fatalf("idle: %q", tagged)
	}
}

// TestSessionsSeeEachOther covers EXISTS, FETCH FLAGS (not echoed to the
// changer), held-back EXPUNGE and expunge numbering across sessions.
func TestSessionsSeeEachOther(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for i := 0; i < 3; i++ {
		e.appendMsg(t, alice, "INBOX", simpleMsg(fmt.Sprint("m", i), "b"), time.Time{})
	}
	a := e.rawLogin(t, alice)
	b := e.rawLogin(t, alice)
	a.ok("a1", "SELECT INBOX")
	b.ok("b1", "SELECT INBOX")

	expectLines(t, a.ok("a2", `STORE 2 +FLAGS (\Flagged)`), `* 2 FETCH (FLAGS (\Flagged \Recent))`)
	expectLines(t, a.ok("a3", "NOOP")) // own change not echoed
	expectLines(t, b.ok("b2", "NOOP"), `* 2 FETCH (UID 2 FLAGS (\Flagged))`)

	e.deliver(t, alice, simpleMsg("new", "b"))
	expectLines(t, a.ok("a4", "NOOP"), "* 4 EXISTS", "* 4 RECENT") // a claimed 1:3 at SELECT
	expectLines(t, b.ok("b3", "NOOP"), "* 4 EXISTS", "* 0 RECENT") // a claimed \Recent

	// a expunges 1 and 3; b is told only where EXPUNGE is allowed.
	a.ok("a5", `STORE 1,3 +FLAGS.SILENT (\Deleted)`)
	expectLines(t, a.ok("a6", "EXPUNGE"), "* 1 EXPUNGE", "* 2 EXPUNGE")
	// Messages already expunged get no FETCH FLAGS; their EXPUNGE waits.
	expectLines(t, b.ok("b4", "FETCH 3 (UID)"), `* 3 FETCH (UID 3)`)
	expectLines(t, b.ok("b5", "SEARCH ALL"), "* SEARCH 1 2 3 4")
	expectLines(t, b.ok("b6", "NOOP"), "* 1 EXPUNGE", "* 2 EXPUNGE")
	expectLines(t, b.ok("b7", "FETCH 1:* (UID)"), "* 1 FETCH (UID 2)", "* 2 FETCH (UID 4)")

	// MOVE by a: b sees one EXPUNGE with the right number.
	expectLines(t, a.ok("a7", "UID MOVE 4 Archive")[1:], "* 2 EXPUNGE")
	expectLines(t, b.ok("b8", "NOOP"), "* 2 EXPUNGE")
}

// TestDeletedMailboxEndsSession documents the choice: BYE at the next
// update point.
func TestDeletedMailboxEndsSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	u, _ := e.store.User(alice)
	if _, err := u.CreateMailbox("Doomed", ""); err != nil {
		t.Fatal(err)
	}
	a := e.rawLogin(t, alice)
	a.ok("a1", "SELECT Doomed")
	b := e.rawLogin(t, alice)
	b.ok("b1", "DELETE Doomed")
	a.send("a2 NOOP")
	if resp := a.readResp(); resp != "* BYE Selected mailbox was deleted" {
		t.Fatalf("after delete: %q", resp)
	}
}

// TestCrossingCopiesAndMoves runs COPY and MOVE between two mailboxes in
// opposite directions from two sessions at once.
func TestCrossingCopiesAndMoves(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	u, _ := e.store.User(alice)
	if _, err := u.CreateMailbox("Other", ""); err != nil {
		t.Fatal(err)
	}
	// Enough that neither side runs out whatever the interleaving.
	for i := 0; i < 200; i++ {
		e.appendMsg(t, alice, "INBOX", simpleMsg("in", "b"), time.Time{})
		e.appendMsg(t, alice, "Other", simpleMsg("out", "b"), time.Time{})
	}
	run := func(from, to string) error {
		c, err := imapclient.DialInsecure(e.addr, nil)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Login(alice, pw).Wait(); err != nil {
			return err
		}
		if _, err := c.Select(from, nil).Wait(); err != nil {
			return err
		}
		for i := 0; i < 100; i++ {
			if _, err := c.Copy(imap.SeqSetNum(1), to).Wait(); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
			if _, err := c.Move(imap.SeqSetNum(1), to).Wait(); err != nil {
				return fmt.Errorf("move: %w", err)
			}
		}
		return c.Logout().Wait()
	}
	errs := make(chan error, 2)
	go func() { errs <- run("INBOX", "Other") }()
	go func() { errs <- run("Other", "INBOX") }()
	for i := 0; i < 2; i++ {
		mustNoErr(t, waitFor(t, errs, 30*time.Second, "crossing copies (deadlock?)"), "session")
	}
	total := len(e.mailbox(t, alice, "INBOX").Snapshot().Entries) + len(e.mailbox(t, alice, "Other").Snapshot().Entries)
	if total != 400+200 {
		t.Fatalf("messages after crossing copies: %d, want 600", total)
	}
}

// TestStalledClientDoesNotBlockDelivery: a client that stops reading in
// the middle of a large FETCH (the server is then stuck writing to it) must
// not hold up deliveries into its mailbox or other sessions.
func TestStalledClientDoesNotBlockDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	big := simpleMsg("big", strings.Repeat("x", 64<<10))
	for i := 0; i < 100; i++ {
		e.appendMsg(t, alice, "INBOX", big, time.Time{})
	}
	stalled := e.rawLogin(t, alice)
	if tc, ok := stalled.conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	stalled.ok("s1", "SELECT INBOX")
	stalled.send("s2 FETCH 1:* (BODY.PEEK[])") // about 6.5 MB nobody reads
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 200; i++ {
			if _, err := e.store.Deliver([]byte(big), time.Time{}, memstore.Envelope{Rcpts: []string{alice}}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	mustNoErr(t, waitFor(t, done, 10*time.Second, "deliveries"), "deliver")
	other := e.client(t, alice, nil)
	sel, err := other.Select("INBOX", nil).Wait()
	mustNoErr(t, err, "select")
	if sel.NumMessages != 300 {
		t.Fatalf("other session sees %d messages", sel.NumMessages)
	}
	mustNoErr(t, other.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(), "store")
	msgs, err := other.Fetch(imap.SeqSetNum(300), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	mustNoErr(t, err, "fetch")
	if len(msgs) != 1 {
		t.Fatalf("fetched %d", len(msgs))
	}
}

// TestManySessionsConcurrently runs sessions that deliver, store, search
// and expunge at once, for the race detector.
func TestManySessionsConcurrently(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := imapclient.DialInsecure(e.addr, nil)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if err := c.Login(alice, pw).Wait(); err != nil {
				errs <- err
				return
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				errs <- err
				return
			}
			for i := 0; i < 30; i++ {
				e.deliver(t, alice, simpleMsg(fmt.Sprint("w", w), "b"))
				if err := c.Noop().Wait(); err != nil {
					errs <- err
					return
				}
				if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
					errs <- err
					return
				}
				if _, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "w"}}}, nil).Wait(); err != nil {
					errs <- err
					return
				}
				if i%5 == 0 {
					if _, err := c.Expunge().Collect(); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- c.Logout().Wait()
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		mustNoErr(t, err, "worker")
	}
}
