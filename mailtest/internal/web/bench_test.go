package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailrig/mailrig/mailtest"
	"github.com/mailrig/mailrig/mailtest/internal/web"
)

const benchStored = 10000

// benchMessage is a 1 KiB-ish message like an app's notification.
func benchMessage(i int, subject string) []byte {
	body := ""
	for len(body) < 800 {
		body += "Lorem ipsum dolor sit amet, consectetur adipiscing elit. "
	}
	return []byte(fmt.Sprintf("From: App <app@example.com>\r\nTo: user%d@example.com\r\nSubject: %s\r\nMessage-ID: <m%d@example.com>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n%s\r\n", i%50, subject, i, body))
}

// benchServer stores benchStored messages, 1% of them with "needle" in
// the subject, parsed once as any earlier Messages call would parse them.
func benchServer(b *testing.B) (*mailtest.Server, http.Handler) {
	b.Helper()
	srv := mailtest.NewServer(b, mailtest.WithTranscripts(false))
	date := time.Now()
	for i := 0; i < benchStored; i++ {
		subject := "Your weekly report " + strconv.Itoa(i)
		if i%100 == 0 {
			subject = "needle " + strconv.Itoa(i)
		}
		env := mailtest.Envelope{MailFrom: "app@example.com", Rcpts: []string{fmt.Sprintf("user%d@example.com", i%50)}}
		if _, err := srv.Store().Deliver(benchMessage(i, subject), date, env); err != nil {
			b.Fatal(err)
		}
	}
	if n := len(srv.Messages()); n != benchStored {
		b.Fatalf("%d messages", n)
	}
	return srv, srv.WebHandler()
}

func serve(b *testing.B, h http.Handler, url string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", url, nil)
	req.Host = "127.0.0.1:8025"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s = %d %s", url, rec.Code, rec.Body)
	}
	return rec
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkWebList: the first page of GET /api/v1/messages among 10,000.
// Target ≤ 2 ms. "index-B/msg" is the heap the web's per-message cache
// adds (the summary fields built once per message). Target: a few hundred.
func BenchmarkWebList(b *testing.B) {
	_, h := benchServer(b)
	before := heapAlloc()
	serve(b, h, "/api/v1/messages")
	perMsg := float64(int64(heapAlloc())-int64(before)) / benchStored
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		serve(b, h, "/api/v1/messages")
	}
	b.StopTimer()
	b.ReportMetric(perMsg, "index-B/msg")
}

// BenchmarkWebSearchSubject: GET /api/v1/search?query=subject:needle among
// 10,000 (100 match). Target ≤ 10 ms.
func BenchmarkWebSearchSubject(b *testing.B) {
	_, h := benchServer(b)
	serve(b, h, "/api/v1/messages")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := serve(b, h, "/api/v1/search?query=subject:needle")
		if i == 0 && !bytesContain(rec.Body.Bytes(), `"messages_count":100`) {
			b.Fatalf("search: %.300s", rec.Body)
		}
	}
}

func bytesContain(b []byte, s string) bool { return strings.Contains(string(b), s) }

// BenchmarkWebMessage: GET /api/v1/message/{ID} (which also marks it
// read on every copy) among 10,000. Target ≤ 1 ms.
func BenchmarkWebMessage(b *testing.B) {
	srv, h := benchServer(b)
	id := srv.Messages()[benchStored/2].ID()
	url := "/api/v1/message/" + strconv.FormatUint(id, 10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		serve(b, h, url)
	}
}

// BenchmarkWebWaitWake: a GET /api/v1/wait among 10,000 messages, woken by
// the delivery it waits for. "wake-ns" is the median time from the
// delivery to the handler's answer. Target ≤ 1 ms.
func BenchmarkWebWaitWake(b *testing.B) {
	srv, h := benchServer(b)
	watching := make(chan struct{}, 1)
	web.SetWaitHook(h.(*web.Handler), func() { watching <- struct{}{} })
	serve(b, h, "/api/v1/messages")
	env := mailtest.Envelope{MailFrom: "app@example.com", Rcpts: []string{"wake@example.com"}}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		subject := "wake-" + strconv.Itoa(i)
		done := make(chan time.Time, 1)
		go func() {
			req := httptest.NewRequest("GET", "/api/v1/wait?timeout=10s&query=subject:"+subject, nil)
			req.Host = "127.0.0.1"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			at := time.Now()
			if rec.Code != http.StatusOK {
				at = time.Time{}
			}
			done <- at
		}()
		<-watching
		start := time.Now()
		if _, err := srv.Store().Deliver(benchMessage(i, subject), start, env); err != nil {
			b.Fatal(err)
		}
		at := <-done
		if at.IsZero() {
			b.Fatal("wait did not answer 200")
		}
		lat = append(lat, at.Sub(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "wake-ns")
	b.ReportMetric(float64(lat[len(lat)*9/10].Nanoseconds()), "wake-p90-ns")
}
