package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// BenchmarkDevServerIngest measures the dev server from outside, as an
// application sees it: eight go-smtp client connections each send 1 KiB
// messages (RSET, MAIL, RCPT, DATA) to the dev server's SMTP listener
// (started by run with its defaults, the catch-all copy included, the
// other listeners off) and, alternately in rounds of 256 messages, to a
// bare go-smtp server on loopback whose backend discards them. "ratio" is
// our msgs/s over the bare server's, the median over rounds, so a burst of
// load from another process skews one round, not the result. Reproduce
// with:
//
//	go test -run '^$' -bench DevServerIngest -benchtime=4s -count=6 ./examples/devserver/
func BenchmarkDevServerIngest(b *testing.B) {
	const conns, round = 8, 256
	msg := benchMessage(1024)
	ours := startDevServer(b)
	ceil, stored := discardServer(b)

	oursC := make([]*gosmtp.Client, conns)
	ceilC := make([]*gosmtp.Client, conns)
	for i := range conns {
		oursC[i] = dialSMTP(b, ours)
		ceilC[i] = dialSMTP(b, ceil)
	}
	var oursT, ceilT time.Duration
	var ratios []float64
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(round, b.N-done)
		start := time.Now()
		if err := sendAll(oursC, n, msg); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := sendAll(ceilC, n, msg); err != nil {
			b.Fatal(err)
		}
		o, c := mid.Sub(start), time.Since(mid)
		oursT, ceilT = oursT+o, ceilT+c
		ratios = append(ratios, c.Seconds()/o.Seconds())
		done += n
	}
	b.StopTimer()
	if got := stored.Load(); got != int64(b.N) {
		b.Fatalf("bare server received %d messages, want %d", got, b.N)
	}
	slices.Sort(ratios)
	b.ReportMetric(float64(b.N)/oursT.Seconds(), "ours-msgs/s")
	b.ReportMetric(float64(b.N)/ceilT.Seconds(), "ceiling-msgs/s")
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
}

// startDevServer runs the dev server with SMTP on a free loopback port and
// every other listener off, and returns the SMTP address; it stops at the
// end of the benchmark.
func startDevServer(b *testing.B) string {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-smtp", "127.0.0.1:0", "-submission", "off", "-smtps", "off",
			"-imap", "off", "-imaps", "off", "-pop3", "off", "-pop3s", "off", "-http", "off"}, pw, io.Discard)
		pw.Close()
	}()
	addrs, rest := readBanner(b, pr)
	drained := make(chan struct{})
	go func() { // the dev server may write more; keep it from blocking
		defer close(drained)
		_, _ = io.Copy(io.Discard, rest)
	}()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("dev server: %v", err)
		}
		<-drained
	})
	if addrs["smtp"] == "" {
		b.Fatalf("banner has no SMTP address: %v", addrs)
	}
	return addrs["smtp"]
}

type discardBackend struct{ n *atomic.Int64 }

func (be discardBackend) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return be, nil }
func (discardBackend) Reset()                                             {}
func (discardBackend) Logout() error                                      { return nil }
func (discardBackend) Mail(string, *gosmtp.MailOptions) error             { return nil }
func (discardBackend) Rcpt(string, *gosmtp.RcptOptions) error             { return nil }
func (be discardBackend) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	be.n.Add(1)
	return nil
}

// discardServer starts a bare go-smtp server on loopback, with the limits
// and timeouts mailtest gives go-smtp, that discards every message.
func discardServer(b *testing.B) (string, *atomic.Int64) {
	b.Helper()
	n := new(atomic.Int64)
	s := gosmtp.NewServer(discardBackend{n})
	s.Domain = "localhost"
	s.MaxMessageBytes = 25 << 20
	s.MaxRecipients = 100
	s.ReadTimeout = time.Minute
	s.WriteTimeout = time.Minute
	s.AllowInsecureAuth = true
	s.EnableSMTPUTF8 = true
	s.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.Serve(ln)
	}()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			b.Errorf("bare server shutdown: %v", err)
			s.Close()
		}
		<-served
	})
	return ln.Addr().String(), n
}

// dialSMTP connects and says EHLO; the connection is closed at the end of
// the benchmark (before the servers stop: cleanups run last in, first out).
func dialSMTP(b *testing.B, addr string) *gosmtp.Client {
	b.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Quit(); c.Close() })
	if err := c.Hello("bench.example"); err != nil {
		b.Fatal(err)
	}
	return c
}

// sendAll sends n messages spread over clients, one goroutine each.
func sendAll(clients []*gosmtp.Client, n int, msg []byte) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := sendOne(c, msg); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func sendOne(c *gosmtp.Client, msg []byte) error {
	if err := c.Reset(); err != nil {
		return fmt.Errorf("RSET: %w", err)
	}
	if err := c.Mail("app@example.com", nil); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	if err := c.Rcpt("bob@example.com", nil); err != nil {
		return fmt.Errorf("RCPT: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA write: %w", err)
	}
	return w.Close()
}

// benchMessage returns a CRLF message of exactly size octets.
func benchMessage(size int) []byte {
	var m bytes.Buffer
	m.WriteString("From: App <app@example.com>\r\nTo: <bob@example.com>\r\nSubject: ingest\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\n")
	for m.Len() < size {
		m.WriteString("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\r\n")
	}
	return append(m.Bytes()[:size-2], '\r', '\n')
}
