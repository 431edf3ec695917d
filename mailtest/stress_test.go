package mailtest_test

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/mailrig/mailrig/mailtest"
)

var stressN = flag.Int("stress.n", 3, "messages per SMTP sender in TestStress (16 senders)")

// stressLog records what the clients of TestStress did, for the invariants.
type stressLog struct {
	mu        sync.Mutex
	delivered map[string]int    // user -> messages accepted by SMTP
	movedIn   map[string]int    // user -> messages moved into INBOX
	removed   map[string]int    // user -> messages moved out of INBOX or deleted there by POP3 (at most)
	deleted   map[string]bool   // subjects deleted by POP3 QUIT or IMAP expunge
	rcpt      map[string]string // subject -> recipient
	errs      []error
}

func (l *stressLog) fail(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

// idleCounter follows the size of a mailbox from the updates of an IDLE
// session: every EXISTS and EXPUNGE, and how many arrivals they announced.
type idleCounter struct {
	mu       sync.Mutex
	count    uint32
	arrivals int
}

func (c *idleCounter) options() *imapclient.Options {
	return &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(data *imapclient.UnilateralDataMailbox) {
			if data.NumMessages == nil {
				return
			}
			c.mu.Lock()
			if n := *data.NumMessages; n > c.count {
				c.arrivals += int(n - c.count)
			}
			c.count = *data.NumMessages
			c.mu.Unlock()
		},
		Expunge: func(uint32) {
			c.mu.Lock()
			c.count--
			c.mu.Unlock()
		},
	}}
}

// TestStress runs SMTP senders, IDLE sessions, POP3 downloaders and IMAP
// movers at once, then checks that every message is in exactly one place
// or was deleted by a client, and that IDLE sessions heard of every arrival.
// Run larger with -stress.n=N.
func TestStress(t *testing.T) {
	t.Parallel()
	users := []string{"u0@example.com", "u1@example.com", "u2@example.com", "u3@example.com"}
	opts := []mailtest.Option{mailtest.WithTraceHeaders(false), mailtest.WithWaitTimeout(30 * time.Second)}
	for _, u := range users {
		opts = append(opts, mailtest.WithUser(u, "pw"))
	}
	srv := mailtest.NewServer(t, opts...)
	log := &stressLog{delivered: map[string]int{}, movedIn: map[string]int{}, removed: map[string]int{}, deleted: map[string]bool{}, rcpt: map[string]string{}}
	const senders = 16
	perSender := *stressN

	// 8 IDLE sessions, two per user, started before any mail.
	type watcher struct {
		user string
		cnt  *idleCounter
		c    *imapclient.Client
		idle *imapclient.IdleCommand
	}
	var watchers []*watcher
	for i := range 8 {
		w := &watcher{user: users[i%4], cnt: &idleCounter{}}
		w.c = srv.IMAPClient(t, w.user, w.cnt.options())
		sel, err := w.c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		w.cnt.count = sel.NumMessages
		if w.idle, err = w.c.Idle(); err != nil {
			t.Fatal(err)
		}
		watchers = append(watchers, w)
	}

	stop := make(chan struct{})
	var workers sync.WaitGroup
	// 4 POP3 sessions; two share u0's maildrop and meet [IN-USE].
	for i, u := range []string{users[0], users[0], users[2], users[3]} {
		workers.Add(1)
		go func() {
			defer workers.Done()
			stressPOP3(srv, u, i, stop, log)
		}()
	}
	// 2 IMAP sessions moving mail between INBOX and Archive, and expunging.
	for _, u := range users[:2] {
		c := srv.IMAPClient(t, u)
		workers.Add(1)
		go func() {
			defer workers.Done()
			stressMover(c, u, stop, log)
		}()
	}

	var senderWG sync.WaitGroup
	for s := range senders {
		senderWG.Add(1)
		go func() {
			defer senderWG.Done()
			c, err := smtp.Dial(srv.SMTPAddr())
			if err != nil {
				log.fail(err)
				return
			}
			defer c.Close()
			for m := range perSender {
				rcpt := users[(s+m)%4]
				subject := fmt.Sprintf("stress s%d m%d", s, m)
				body := fmt.Sprintf("Subject: %s\r\nTo: %s\r\n\r\nbody\r\n", subject, rcpt)
				log.mu.Lock()
				log.rcpt[subject] = rcpt
				log.mu.Unlock()
				if err := c.SendMail("sender@example.com", []string{rcpt}, strings.NewReader(body)); err != nil {
					log.fail(fmt.Errorf("send %s: %w", subject, err))
					return
				}
				log.mu.Lock()
				log.delivered[rcpt]++
				log.mu.Unlock()
			}
			c.Quit()
		}()
	}
	senderWG.Wait()
	// Let the downloaders and movers see the last deliveries, then stop.
	srv.WaitForMessages(t, senders*perSender)
	close(stop)
	workers.Wait()
	for _, err := range log.errs {
		t.Error(err)
	}

	// Every accepted message is in exactly one place, or was deleted.
	msgs := srv.Messages()
	if len(msgs) != senders*perSender {
		t.Fatalf("%d messages received, want %d", len(msgs), senders*perSender)
	}
	places := map[string]int{}
	for _, u := range users {
		for _, mb := range srv.IMAPView(u).Mailboxes {
			for _, m := range mb.Messages {
				places[m.Message.Subject()]++
				if r := log.rcpt[m.Message.Subject()]; r != u {
					t.Errorf("%q (for %s) found in %s's %s", m.Message.Subject(), r, u, mb.Name)
				}
			}
		}
	}
	deletedCount := 0
	for _, m := range msgs {
		subj := m.Subject()
		switch n := places[subj]; {
		case n > 1:
			t.Errorf("%q is in %d places", subj, n)
		case n == 0 && !log.deleted[subj]:
			t.Errorf("%q vanished: in no mailbox and deleted by no client", subj)
		case n == 0:
			deletedCount++
		}
	}

	// Every IDLE session heard of every arrival in its INBOX.
	for i, w := range watchers {
		if err := w.idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.idle.Wait(); err != nil {
			t.Fatal(err)
		}
		if err := w.c.Noop().Wait(); err != nil { // flushes pending updates
			t.Fatal(err)
		}
		inbox, _ := srv.IMAPView(w.user).Mailbox("INBOX")
		w.cnt.mu.Lock()
		count, arrivals := w.cnt.count, w.cnt.arrivals
		w.cnt.mu.Unlock()
		// An arrival that leaves again before the session is told may go
		// unannounced (no EXISTS, no EXPUNGE), so the count of announced
		// arrivals lies between all arrivals less the removals, and all.
		most := log.delivered[w.user] + log.movedIn[w.user]
		least := most - log.removed[w.user]
		if arrivals > most || arrivals < least || (log.removed[w.user] == 0 && arrivals != most) {
			t.Errorf("watcher %d (%s): EXISTS announced %d arrivals, want %d..%d (%d delivered + %d moved in, %d removed)",
				i, w.user, arrivals, least, most, log.delivered[w.user], log.movedIn[w.user], log.removed[w.user])
		}
		if int(count) != len(inbox.Messages) {
			t.Errorf("watcher %d (%s): follows %d messages, INBOX holds %d", i, w.user, count, len(inbox.Messages))
		}
	}
	t.Logf("%d messages: %d deleted by clients, %d moved back into INBOX", len(msgs), deletedCount, log.movedIn[users[0]]+log.movedIn[users[1]])
}

// stressPOP3 downloads user's maildrop and deletes every other message, in
// a loop until stop, retrying when another session holds the maildrop.
func stressPOP3(srv *mailtest.Server, user string, id int, stop <-chan struct{}, log *stressLog) {
	for round := 0; ; round++ {
		select {
		case <-stop:
			return
		default:
		}
		if err := stressPOP3Round(srv.POP3Addr(), user, id+round, log); err != nil {
			log.fail(fmt.Errorf("pop3 %s: %w", user, err))
			return
		}
	}
}

func stressPOP3Round(addr, user string, salt int, log *stressLog) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	line := func() (string, error) {
		l, err := r.ReadString('\n')
		return strings.TrimRight(l, "\r\n"), err
	}
	cmd := func(c string) (string, error) {
		if _, err := fmt.Fprintf(conn, "%s\r\n", c); err != nil {
			return "", err
		}
		return line()
	}
	if l, err := line(); err != nil || !strings.HasPrefix(l, "+OK") {
		return fmt.Errorf("greeting %q: %v", l, err)
	}
	if l, err := cmd("USER " + user); err != nil || !strings.HasPrefix(l, "+OK") {
		return fmt.Errorf("USER: %q %v", l, err)
	}
	l, err := cmd("PASS pw")
	if err != nil {
		return err
	}
	if strings.HasPrefix(l, "-ERR [IN-USE]") {
		time.Sleep(time.Millisecond) // another session holds the maildrop: retry
		return nil
	}
	if !strings.HasPrefix(l, "+OK") {
		return fmt.Errorf("PASS: %q", l)
	}
	var n int
	if l, err = cmd("STAT"); err != nil {
		return err
	}
	if _, err := fmt.Sscanf(l, "+OK %d", &n); err != nil {
		return fmt.Errorf("STAT %q: %v", l, err)
	}
	var deleted []string
	for i := 1; i <= n; i++ {
		l, err := cmd(fmt.Sprintf("RETR %d", i))
		if err != nil {
			return err
		}
		if strings.HasPrefix(l, "-ERR") {
			continue // expunged over IMAP since the login
		}
		subject := ""
		for {
			l, err := line()
			if err != nil {
				return err
			}
			if l == "." {
				break
			}
			if s, ok := strings.CutPrefix(l, "Subject: "); ok && subject == "" {
				subject = s
			}
		}
		if (i+salt)%2 == 0 {
			if l, err := cmd(fmt.Sprintf("DELE %d", i)); err != nil || !strings.HasPrefix(l, "+OK") {
				return fmt.Errorf("DELE: %q %v", l, err)
			}
			deleted = append(deleted, subject)
		}
	}
	if l, err := cmd("QUIT"); err != nil || !strings.HasPrefix(l, "+OK") {
		return fmt.Errorf("QUIT: %q %v", l, err)
	}
	log.mu.Lock()
	for _, s := range deleted {
		log.deleted[s] = true
	}
	log.removed[user] += len(deleted)
	log.mu.Unlock()
	return nil
}

// stressMover moves half of INBOX to Archive, everything in Archive back
// to INBOX but one message, which it expunges, in a loop until stop.
func stressMover(c *imapclient.Client, user string, stop <-chan struct{}, log *stressLog) {
	for round := 0; ; round++ {
		select {
		case <-stop:
			return
		default:
		}
		if err := stressMoveRound(c, user, round, log); err != nil {
			log.fail(fmt.Errorf("mover %s: %w", user, err))
			return
		}
	}
}

func stressMoveRound(c *imapclient.Client, user string, round int, log *stressLog) error {
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return err
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return err
	}
	uids := found.AllUIDs()
	if len(uids) > 1 {
		if _, err := c.Move(imap.UIDSetNum(uids[:len(uids)/2]...), "Archive").Wait(); err != nil {
			return fmt.Errorf("MOVE to Archive: %w", err)
		}
		log.mu.Lock()
		log.removed[user] += len(uids) / 2
		log.mu.Unlock()
	}
	if _, err := c.Select("Archive", nil).Wait(); err != nil {
		return err
	}
	if found, err = c.UIDSearch(&imap.SearchCriteria{}, nil).Wait(); err != nil {
		return err
	}
	uids = found.AllUIDs()
	if len(uids) == 0 {
		return nil
	}
	if round%3 == 0 {
		// Expunge the first message of Archive.
		victim := imap.UIDSetNum(uids[0])
		msgs, err := c.Fetch(victim, &imap.FetchOptions{Envelope: true}).Collect()
		if err != nil {
			return err
		}
		if len(msgs) == 1 {
			log.mu.Lock()
			log.deleted[msgs[0].Envelope.Subject] = true
			log.mu.Unlock()
			if err := c.Store(victim, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
				return err
			}
			if err := c.UIDExpunge(victim).Close(); err != nil {
				return err
			}
		}
		uids = uids[1:]
	}
	if len(uids) == 0 {
		return nil
	}
	moved, err := c.Move(imap.UIDSetNum(uids...), "INBOX").Wait()
	if err != nil {
		return fmt.Errorf("MOVE to INBOX: %w", err)
	}
	dest, ok := moved.DestUIDs.(imap.UIDSet)
	if !ok {
		return fmt.Errorf("MOVE to INBOX: no COPYUID (%T)", moved.DestUIDs)
	}
	n, _ := dest.Nums()
	log.mu.Lock()
	log.movedIn[user] += len(n)
	log.mu.Unlock()
	return nil
}
