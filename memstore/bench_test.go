package memstore

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

// benchMsg returns a CRLF message of exactly size bytes.
func benchMsg(size, n int) []byte {
	head := fmt.Sprintf("Subject: bench %d\r\nFrom: a@example.com\r\n\r\n", n)
	line := []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-_\r\n")
	body := bytes.Repeat(line, size/len(line)+1) // head + body > size, so the cut below stays in bounds
	raw := append([]byte(head), body...)[:size-2]
	return append(raw, "\r\n"...)
}

func BenchmarkDeliver(b *testing.B) {
	s := New()
	raw := benchMsg(1024, 0)
	e := env("ann@example.com")
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Deliver(raw, testDate, e); err != nil {
			b.Fatal(err)
		}
		if i%10000 == 9999 { // keep the INBOX at a realistic size
			b.StopTimer()
			s.Purge()
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkSnapshot(b *testing.B) {
	s := New()
	raw := benchMsg(1024, 0)
	for i := 0; i < 10000; i++ {
		if _, err := s.Deliver(raw, testDate, env("ann@example.com")); err != nil {
			b.Fatal(err)
		}
	}
	u, _ := s.User("ann@example.com")
	mb := u.Inbox()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if snap := mb.Snapshot(); len(snap.Entries) != 10000 {
			b.Fatalf("%d entries", len(snap.Entries))
		}
	}
}

// BenchmarkMemory10k keeps 10,000 messages of 10 KiB and reports the live
// heap they need per payload byte. Each message is delivered from a fresh
// bytes.Buffer filled with ReadFrom, as the SMTP front-end reads DATA, so the
// buffer has spare capacity the store must not keep alive.
func BenchmarkMemory10k(b *testing.B) {
	const n, size = 10000, 10 << 10
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		s := New()
		for j := 0; j < n; j++ {
			var buf bytes.Buffer // as smtpfront reads DATA
			if _, err := buf.ReadFrom(bytes.NewReader(benchMsg(size, j))); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Deliver(buf.Bytes(), testDate, env("ann@example.com")); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		u, _ := s.User("ann@example.com")
		if got := len(u.Inbox().Snapshot().Entries); got != n {
			b.Fatalf("%d messages", got)
		}
		payload := float64(n * size)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/payload, "heap/payload")
		runtime.KeepAlive(s)
		b.StartTimer()
	}
}
