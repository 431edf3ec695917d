package imapfront

import (
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailrig/mailrig/memstore"
)

// sortBenchView is a view of n messages in threads of five, each message
// answering the one before it, with dates out of mailbox order.
func sortBenchView(b *testing.B, n int) *selected {
	b.Helper()
	store := memstore.New()
	u, _ := store.AddUser(alice, pw)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		thread, pos := i/5, i%5
		subject := fmt.Sprintf("topic %d", thread)
		refs := ""
		if pos > 0 {
			subject = "Re: " + subject
			refs = fmt.Sprintf("References: <t%d.0@x>", thread)
			for p := 1; p < pos; p++ {
				refs += fmt.Sprintf(" <t%d.%d@x>", thread, p)
			}
			refs += "\r\n"
		}
		date := base.Add(time.Duration((i*7919)%n) * time.Minute)
		raw := fmt.Sprintf("From: User %d <u%d@example.org>\r\nTo: alice@example.com\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <t%d.%d@x>\r\n%s\r\nbody %d\r\n",
			i%97, i%97, subject, date.Format(time.RFC1123Z), thread, pos, refs, i)
		if _, err := u.Inbox().Append(memstore.NewMessage([]byte(raw), date, memstore.Envelope{}), memstore.Flags{}); err != nil {
			b.Fatal(err)
		}
	}
	snap := u.Inbox().Snapshot()
	sel := &selected{mb: u.Inbox()}
	for _, e := range snap.Entries {
		sel.entries = append(sel.entries, viewEntry{uid: e.UID, msg: e.Message, flags: e.Flags})
	}
	return sel
}

// BenchmarkSortThread5000 evaluates SORT (DATE) and THREAD REFERENCES over
// 5,000 messages: the search (ALL, through SEARCH's matcher), then the
// ordering or threading. "warm" is a repeated command (header fields
// parsed once per message and cached); "cold" the first one after the
// messages arrived. Target: 10 ms each.
func BenchmarkSortThread5000(b *testing.B) {
	const n = 5000
	sortDate := []sortCriterion{{key: "DATE"}}
	eval := map[string]func(sel *selected){
		"SORT_DATE": func(sel *selected) {
			hits := (&matcher{sel: sel}).matches(&imap.SearchCriteria{})
			sortHits(sel, hits, sortDate)
		},
		"THREAD_REFERENCES": func(sel *selected) {
			hits := (&matcher{sel: sel}).matches(&imap.SearchCriteria{})
			if roots := threadReferences(sel, hits); len(roots) != n/5 {
				b.Fatalf("%d threads, want %d", len(roots), n/5)
			}
		},
	}
	for _, name := range []string{"SORT_DATE", "THREAD_REFERENCES"} {
		run := eval[name]
		b.Run(name+"/warm", func(b *testing.B) {
			sel := sortBenchView(b, n)
			run(sel)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run(sel)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "eval-ms/op")
		})
		b.Run(name+"/cold", func(b *testing.B) {
			b.ReportAllocs()
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sel := sortBenchView(b, n)
				b.StartTimer()
				start := time.Now()
				run(sel)
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N), "eval-ms/op")
		})
	}
}
