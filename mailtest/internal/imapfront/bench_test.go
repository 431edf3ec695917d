package imapfront

// IMAP benchmarks, each measured against go-imap's imapmemserver filled
// with the same messages, in the same run: the two servers are asked in
// turn inside one loop, so that both see the same machine load. Rates come
// from the total times; the "ratio" metric (our speed / imapmemserver's,
// that is its time / ours) is the median over iterations, so a burst of
// load from elsewhere skews one iteration, not the result.
//
// Targets (docs: the IMAP section):
//   - FETCH and UID FETCH 1:* BODY.PEEK[] of 5,000 × 1 KiB and of
//     200 × 100 KiB messages: ratio ≥ 1.5.
//   - FETCH 1:* (ENVELOPE BODYSTRUCTURE) of 5,000: served from the views
//     cached on the messages (see TestFetchServesCachedViews).
//   - SEARCH ALL on 5,000: ≤ 1 ms and ratio ≥ 10; SEARCH HEADER Subject x
//     and SEARCH FROM x: ≤ 5 ms.
//
// Reproduce with:
//
//	go test -run '^$' -bench . -benchmem -benchtime=2s ./mailtest/internal/imapfront/
//
// Every benchmark also finishes in well under a second with -benchtime=1x:
// the servers are filled once per top-level benchmark and shared by its
// sub-benchmarks.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
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

// A benchFill is one mailbox's worth of messages, filed under the same
// name in both servers.
type benchFill struct {
	mailbox string
	n, size int
}

var (
	fillSmall  = benchFill{"INBOX", benchMessages, 1 << 10} // 5,000 × 1 KiB
	fillLarge  = benchFill{"Large", 200, 100 << 10}         // 200 × 100 KiB
	benchFills = []benchFill{fillSmall, fillLarge}
)

func (f benchFill) String() string {
	return fmt.Sprintf("%dx%dKiB", f.n, f.size>>10)
}

// benchMessage is a 1 KiB message; every tenth has "x" in its subject.
func benchMessage(i int) []byte { return benchMessageSize(i, 1<<10) }

// benchMessageSize is message i of size octets (at least its header).
func benchMessageSize(i, size int) []byte {
	subject := fmt.Sprintf("message %d", i)
	if i%10 == 0 {
		subject += " x"
	}
	head := "From: Bench <bench@example.org>\r\nTo: alice@example.com\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <" + fmt.Sprint(i) + "@example.org>\r\n\r\n"
	// Lines of 64 octets and a last one of 2 to 65, so the message ends
	// with CRLF (memstore would otherwise add one).
	const line = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"
	rem := max(size-len(head), 2)
	k, r := rem/len(line), rem%len(line)
	if r < 2 {
		k, r = k-1, r+len(line)
	}
	return []byte(head + strings.Repeat(line, k) + strings.Repeat("z", r-2) + "\r\n")
}

// benchServers is our server and imapmemserver, both with alice's
// mailboxes filled from fills.
type benchServers struct {
	ours, theirs string // addresses
}

func newBenchServers(b *testing.B, fills ...benchFill) *benchServers {
	b.Helper()
	return &benchServers{ours: benchOurs(b, fills...), theirs: benchMemserver(b, fills...)}
}

// benchOurs starts our server with alice's mailboxes filled.
func benchOurs(b *testing.B, fills ...benchFill) string {
	e := newEnv(b, Options{})
	u, _ := e.store.User(alice)
	for _, f := range fills {
		mb, err := u.Mailbox(f.mailbox)
		if err != nil {
			if mb, err = u.CreateMailbox(f.mailbox, ""); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; i < f.n; i++ {
			if _, err := mb.Append(memstore.NewMessage(benchMessageSize(i, f.size), time.Time{}, memstore.Envelope{}), memstore.Flags{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return e.addr
}

// benchMemserver starts go-imap's imapmemserver with the same messages.
func benchMemserver(b *testing.B, fills ...benchFill) string {
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(alice, pw)
	for _, f := range fills {
		if err := user.Create(f.mailbox, nil); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < f.n; i++ {
			if _, err := user.Append(f.mailbox, bytes.NewReader(benchMessageSize(i, f.size)), &imap.AppendOptions{}); err != nil {
				b.Fatal(err)
			}
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

// benchClient logs in as alice at addr and selects mailbox.
func benchClient(b *testing.B, addr, mailbox string) *imapclient.Client {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Login(alice, pw).Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Select(mailbox, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	return c
}

// pairTimer adds up alternating runs against our server and imapmemserver
// and keeps the ratio of each pair.
type pairTimer struct {
	ours, theirs time.Duration
	ratios       []float64 // their time / our time, per pair
}

// time runs ours and then theirs, once each. A garbage collection, not
// timed, precedes each, so neither pays for the other's garbage.
func (p *pairTimer) time(b *testing.B, ours, theirs func()) {
	b.StopTimer()
	runtime.GC()
	b.StartTimer()
	start := time.Now()
	ours()
	o := time.Since(start)
	b.StopTimer()
	runtime.GC()
	b.StartTimer()
	start = time.Now()
	theirs()
	t := time.Since(start)
	p.ours += o
	p.theirs += t
	p.ratios = append(p.ratios, t.Seconds()/o.Seconds())
}

// ratio is the median of the per-pair ratios: our speed / theirs.
func (p *pairTimer) ratio() float64 {
	r := slices.Clone(p.ratios)
	slices.Sort(r)
	return r[len(r)/2]
}

// report reports both rates per second of what (n per run), both times per
// run, and the ratio.
func (p *pairTimer) report(b *testing.B, n float64, what string) {
	runs := float64(len(p.ratios))
	b.ReportMetric(n*runs/p.ours.Seconds(), "ours-"+what+"/s")
	b.ReportMetric(n*runs/p.theirs.Seconds(), "memserver-"+what+"/s")
	b.ReportMetric(p.ours.Seconds()*1e3/runs, "ours-ms/op")
	b.ReportMetric(p.theirs.Seconds()*1e3/runs, "memserver-ms/op")
	b.ReportMetric(p.ratio(), "ratio")
}

// --- FETCH -------------------------------------------------------------------

// fetchAll runs FETCH (or UID FETCH) 1:* with options, reads every literal
// and checks that n messages and, for body sections, octets came back.
func fetchAll(b *testing.B, c *imapclient.Client, uid bool, options *imap.FetchOptions, n int, octets int64) {
	var cmd *imapclient.FetchCommand
	if uid {
		cmd = c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, options)
	} else {
		cmd = c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, options)
	}
	got, read := 0, int64(0)
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataBodySection:
				k, err := io.Copy(io.Discard, item.Literal)
				if err != nil {
					b.Fatal(err)
				}
				read += k
			case imapclient.FetchItemDataEnvelope:
				if item.Envelope == nil || item.Envelope.Subject == "" {
					b.Fatalf("empty envelope %+v", item.Envelope)
				}
			}
		}
		got++
	}
	if err := cmd.Close(); err != nil {
		b.Fatal(err)
	}
	if got != n || read != octets {
		b.Fatalf("fetched %d messages, %d octets; want %d, %d", got, read, n, octets)
	}
}

// BenchmarkFetch fetches whole mailboxes from our server and from
// imapmemserver, alternately:
//
//   - <fill>/FETCH and <fill>/UID_FETCH: 1:* BODY.PEEK[], for 5,000 × 1 KiB
//     and 200 × 100 KiB; reports msgs/s, MB/s and ms/op of both. Target:
//     ratio ≥ 1.5.
//   - 5000x1KiB/ENVELOPE+BODYSTRUCTURE: FETCH 1:* (ENVELOPE BODYSTRUCTURE)
//     once the views are cached (a first fetch, untimed, computes them);
//     imapmemserver parses every message each time.
func BenchmarkFetch(b *testing.B) {
	srv := newBenchServers(b, benchFills...)
	body := &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	for _, f := range benchFills {
		ours := benchClient(b, srv.ours, f.mailbox)
		theirs := benchClient(b, srv.theirs, f.mailbox)
		octets := int64(f.n * f.size)
		for _, cmd := range []struct {
			name string
			uid  bool
		}{{"FETCH", false}, {"UID_FETCH", true}} {
			b.Run(f.String()+"/"+cmd.name, func(b *testing.B) {
				var p pairTimer
				for i := 0; i < b.N; i++ {
					p.time(b, func() { fetchAll(b, ours, cmd.uid, body, f.n, octets) },
						func() { fetchAll(b, theirs, cmd.uid, body, f.n, octets) })
				}
				p.report(b, float64(f.n), "msgs")
				b.ReportMetric(float64(octets)*float64(b.N)/1e6/p.ours.Seconds(), "ours-MB/s")
				b.ReportMetric(float64(octets)*float64(b.N)/1e6/p.theirs.Seconds(), "memserver-MB/s")
			})
		}
		if f != fillSmall {
			continue
		}
		var first time.Duration // of the fetch that computes the views
		b.Run(f.String()+"/ENVELOPE+BODYSTRUCTURE", func(b *testing.B) {
			views := &imap.FetchOptions{Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}
			if first == 0 {
				// The first fetch computes and caches the views; it is
				// timed apart and reported as ours-first-ms.
				start := time.Now()
				fetchAll(b, ours, false, views, f.n, 0)
				first = time.Since(start)
				b.ResetTimer()
			}
			var p pairTimer
			for i := 0; i < b.N; i++ {
				p.time(b, func() { fetchAll(b, ours, false, views, f.n, 0) },
					func() { fetchAll(b, theirs, false, views, f.n, 0) })
			}
			p.report(b, float64(f.n), "msgs")
			b.ReportMetric(first.Seconds()*1e3, "ours-first-ms")
		})
	}
}

// --- SEARCH ------------------------------------------------------------------

// BenchmarkSearch5000 runs SEARCH on 5,000 messages against both servers,
// alternately, client round trip included:
//
//   - SEARCH: the plain response, "* SEARCH 1 2 … 5000" for ALL, so the
//     time includes go-imap writing and its client parsing 5,000 numbers.
//   - ESEARCH: RETURN (ALL), answered with a range ("ALL 1:5000"), so the
//     time is mostly the servers' own.
//
// Targets: ALL ≤ 1 ms and ratio ≥ 10; HEADER Subject x and FROM x ≤ 5 ms.
// Our first search parses each header once (memstore keeps it); it runs
// before the timer.
func BenchmarkSearch5000(b *testing.B) {
	srv := newBenchServers(b, fillSmall)
	ours := benchClient(b, srv.ours, fillSmall.mailbox)
	theirs := benchClient(b, srv.theirs, fillSmall.mailbox)
	floor := benchClient(b, searchFloor(b, fillSmall.n), fillSmall.mailbox)
	for _, tc := range []struct {
		name     string
		criteria *imap.SearchCriteria
		want     int
	}{
		{"ALL", &imap.SearchCriteria{}, benchMessages},
		{"HEADER_Subject_x", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "x"}}}, benchMessages / 10},
		// Every From is bench@example.org, so FROM x matches them all.
		{"FROM_x", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "x"}}}, benchMessages},
	} {
		searchOnce(b, ours, tc.criteria, nil, tc.want) // warm up
		all := len(tc.criteria.Header) == 0
		for _, mode := range []struct {
			name    string
			options *imap.SearchOptions
		}{{"SEARCH", nil}, {"ESEARCH", &imap.SearchOptions{ReturnAll: true}}} {
			b.Run(tc.name+"/"+mode.name, func(b *testing.B) {
				var p pairTimer
				var tFloor time.Duration
				for i := 0; i < b.N; i++ {
					p.time(b, func() { searchOnce(b, ours, tc.criteria, mode.options, tc.want) },
						func() { searchOnce(b, theirs, tc.criteria, mode.options, tc.want) })
					if all {
						start := time.Now()
						searchOnce(b, floor, tc.criteria, mode.options, tc.want)
						tFloor += time.Since(start)
					}
				}
				p.report(b, 1, "searches")
				if all {
					b.ReportMetric(tFloor.Seconds()*1e3/float64(b.N), "client-floor-ms/op")
				}
			})
		}
	}
}

// searchFloor starts a canned IMAP server that answers SEARCH ALL with
// the bytes ours sends, computed in advance: the plain "* SEARCH 1 2 …
// 5000" or, with RETURN, "* ESEARCH (TAG …) ALL 1:5000". A round trip to
// it is what go-imap's client and the loopback take alone.
func searchFloor(b *testing.B, n int) string {
	var plain strings.Builder
	plain.WriteString("* SEARCH")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&plain, " %d", i)
	}
	plain.WriteString("\r\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	conns := make(chan net.Conn, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		conns <- c
		defer c.Close()
		r, w := bufio.NewReader(c), bufio.NewWriter(c)
		w.WriteString("* OK [CAPABILITY IMAP4rev1] canned\r\n")
		for w.Flush() == nil {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
			cmd, _, _ := strings.Cut(rest, " ")
			switch strings.ToUpper(cmd) {
			case "CAPABILITY":
				w.WriteString("* CAPABILITY IMAP4rev1\r\n")
			case "SELECT":
				fmt.Fprintf(w, "* %d EXISTS\r\n* FLAGS (\\Seen)\r\n", n)
			case "SEARCH":
				if strings.Contains(rest, "RETURN") {
					fmt.Fprintf(w, "* ESEARCH (TAG %q) ALL 1:%d\r\n", tag, n)
				} else {
					w.WriteString(plain.String())
				}
			}
			fmt.Fprintf(w, "%s OK done\r\n", tag)
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		select {
		case c := <-conns:
			c.Close()
		default:
		}
		wg.Wait()
	})
	return ln.Addr().String()
}

func searchOnce(b *testing.B, c *imapclient.Client, criteria *imap.SearchCriteria, options *imap.SearchOptions, want int) {
	data, err := c.Search(criteria, options).Wait()
	if err != nil {
		b.Fatal(err)
	}
	if got := len(data.AllSeqNums()); got != want {
		b.Fatalf("%d hits, want %d", got, want)
	}
}

// BenchmarkSearchEval measures SEARCH evaluation alone, without the
// network, on 5,000 messages (targets: ALL ≤ 1 ms, HEADER and FROM ≤ 5 ms,
// reported as "eval-ms/op"); BenchmarkSearch5000 measures round trips.
func BenchmarkSearchEval(b *testing.B) {
	store := memstore.New()
	u, _ := store.AddUser(alice, pw)
	for i := 0; i < benchMessages; i++ {
		if _, err := u.Inbox().Append(memstore.NewMessage(benchMessage(i), time.Time{}, memstore.Envelope{}), memstore.Flags{}); err != nil {
			b.Fatal(err)
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
	}{
		{"ALL", imap.SearchCriteria{}},
		{"HEADER_Subject_x", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "x"}}}},
		{"FROM_x", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "x"}}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				m := &matcher{sel: sel}
				hits := m.matches(&tc.criteria)
				var set imap.SeqSet
				addRuns(hits, func(i int) uint32 { return uint32(i + 1) }, func(a, b uint32) { set.AddRange(a, b) })
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "eval-ms/op")
		})
	}
}
