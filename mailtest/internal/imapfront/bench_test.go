package imapfront

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/mailrig/mailrig/mailtest/internal/slogx"
	"github.com/mailrig/mailrig/memstore"
)

const benchMessages = 5000

// benchMessage is a 1 KiB message; every tenth has "x" in its subject.
func benchMessage(i int) []byte {
	subject := fmt.Sprintf("message %d", i)
	if i%10 == 0 {
		subject += " x"
	}
	head := "From: Bench <bench@example.org>\r\nTo: alice@example.com\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <" + fmt.Sprint(i) + "@example.org>\r\n\r\n"
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", (1024-len(head))/64+1)
	return []byte(head + body)[:1024]
}

// benchOurs starts our server with alice's INBOX filled.
func benchOurs(b *testing.B) string {
	e := newEnv(b, Options{})
	inbox := e.mailbox(b, alice, "INBOX")
	for i := 0; i < benchMessages; i++ {
		if _, err := inbox.Append(memstore.NewMessage(benchMessage(i), time.Time{}, memstore.Envelope{}), memstore.Flags{}); err != nil {
			b.Fatal(err)
		}
	}
	return e.addr
}

// benchMemserver starts go-imap's imapmemserver with the same messages.
func benchMemserver(b *testing.B) string {
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(alice, pw)
	if err := user.Create("INBOX", nil); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < benchMessages; i++ {
		if _, err := user.Append("INBOX", bytes.NewReader(benchMessage(i)), &imap.AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       printfLogger{log: slogx.Discard()},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func benchClient(b *testing.B, addr string) *imapclient.Client {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Login(alice, pw).Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	return c
}

// fetchAll runs FETCH 1:* BODY.PEEK[] and reads every literal.
func fetchAll(b *testing.B, c *imapclient.Client) {
	var all imap.SeqSet
	all.AddRange(1, 0) // 1:*
	cmd := c.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	n := 0
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			if bs, ok := item.(imapclient.FetchItemDataBodySection); ok {
				buf := make([]byte, 2048)
				for {
					if _, err := bs.Literal.Read(buf); err != nil {
						break
					}
				}
			}
		}
		n++
	}
	if err := cmd.Close(); err != nil {
		b.Fatal(err)
	}
	if n != benchMessages {
		b.Fatalf("fetched %d messages", n)
	}
}

// BenchmarkFetch5000 fetches 5,000 1 KiB messages from our server and from
// imapmemserver, alternately, and reports both rates and their ratio.
func BenchmarkFetch5000(b *testing.B) {
	ours := benchClient(b, benchOurs(b))
	theirs := benchClient(b, benchMemserver(b))
	var tOurs, tTheirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		fetchAll(b, ours)
		tOurs += time.Since(start)
		start = time.Now()
		fetchAll(b, theirs)
		tTheirs += time.Since(start)
	}
	msgs := float64(benchMessages * b.N)
	b.ReportMetric(msgs/tOurs.Seconds(), "ours-msgs/s")
	b.ReportMetric(msgs/tTheirs.Seconds(), "memserver-msgs/s")
	b.ReportMetric(tTheirs.Seconds()/tOurs.Seconds(), "ratio")
}

func benchSearch(b *testing.B, criteria *imap.SearchCriteria, want int) {
	c := benchClient(b, benchOurs(b))
	// Warm up: the first search parses every header once (memstore caches it).
	if _, err := c.Search(criteria, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name    string
		options *imap.SearchOptions
	}{{"SEARCH", nil}, {"ESEARCH", &imap.SearchOptions{ReturnAll: true}}} {
		b.Run(mode.name, func(b *testing.B) { benchSearchMode(b, c, criteria, mode.options, want) })
	}
}

// benchSearchMode measures one round trip; with ESEARCH the response is a
// range, so the time is mostly the server's.
func benchSearchMode(b *testing.B, c *imapclient.Client, criteria *imap.SearchCriteria, options *imap.SearchOptions, want int) {
	for i := 0; i < b.N; i++ {
		data, err := c.Search(criteria, options).Wait()
		if err != nil {
			b.Fatal(err)
		}
		if got := len(data.AllSeqNums()); got != want {
			b.Fatalf("%d hits, want %d", got, want)
		}
	}
}

// BenchmarkSearchAll5000 is SEARCH ALL on 5,000 messages, round trip included.
func BenchmarkSearchAll5000(b *testing.B) {
	benchSearch(b, &imap.SearchCriteria{}, benchMessages)
}

// BenchmarkSearchHeader5000 is SEARCH HEADER Subject x on 5,000 messages.
func BenchmarkSearchHeader5000(b *testing.B) {
	benchSearch(b, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "x"}}}, benchMessages/10)
}

// TestSearchSpeed keeps the SEARCH targets honest in ordinary test runs:
// evaluation alone, without the network, on 5,000 messages.
func TestSearchSpeed(t *testing.T) {
	t.Parallel()
	if testing.Short() || raceEnabled {
		t.Skip("timing check skipped under -short and -race")
	}
	store := memstore.New()
	u, _ := store.AddUser(alice, pw)
	for i := 0; i < benchMessages; i++ {
		if _, err := u.Inbox().Append(memstore.NewMessage(benchMessage(i), time.Time{}, memstore.Envelope{}), memstore.Flags{}); err != nil {
			t.Fatal(err)
		}
	}
	snap := u.Inbox().Snapshot()
	sel := &selected{mb: u.Inbox()}
	for _, e := range snap.Entries {
		sel.entries = append(sel.entries, viewEntry{uid: e.UID, msg: e.Message, flags: e.Flags})
	}
	for _, tc := range []struct {
		name     string
		criteria imap.SearchCriteria
		limit    time.Duration
	}{
		{"ALL", imap.SearchCriteria{}, time.Millisecond},
		{"HEADER Subject x", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "x"}}}, 5 * time.Millisecond},
		{"FROM bench", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "bench"}}}, 5 * time.Millisecond},
	} {
		best := time.Hour
		for run := 0; run < 5; run++ {
			start := time.Now()
			m := &matcher{sel: sel}
			hits := 0
			for i := range sel.entries {
				if m.match(i, &tc.criteria) {
					hits++
				}
			}
			var set imap.SeqSet
			idx := make([]int, 0, hits)
			for i := 0; i < hits; i++ {
				idx = append(idx, i)
			}
			addRuns(idx, func(i int) uint32 { return uint32(i + 1) }, func(a, b uint32) { set.AddRange(a, b) })
			if d := time.Since(start); d < best {
				best = d
			}
		}
		t.Logf("SEARCH %s on %d messages: %v", tc.name, benchMessages, best)
		if best > tc.limit {
			t.Errorf("SEARCH %s took %v, want ≤ %v", tc.name, best, tc.limit)
		}
	}
}
