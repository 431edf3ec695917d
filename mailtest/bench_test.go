package mailtest_test

// Performance benchmarks, each measured against a ceiling in the same run.
//
// Where a target is a ratio, the benchmark alternates between mailtest and
// the ceiling inside one loop (as imapfront's BenchmarkFetch does), so
// both see the same machine load, and reports both rates (from the total
// times) and their ratio as the median over blocks of alternating runs
// (see pairTimer), which a burst of load from another process cannot
// swing. The ceilings are:
//
//   - SMTP: a bare go-smtp server on loopback, configured like ours (same
//     limits and timeouts), whose backend discards the data.
//   - POP3 with large messages: the same number of bytes written over a
//     loopback TCP connection to a reader that discards them.
//
// Reproduce with:
//
//	go test -run '^$' -bench . -benchmem -benchtime=2s ./mailtest/ ./mailtest/internal/imapfront/ ./memstore/
//
// Every benchmark also finishes in a few seconds with -benchtime=1x.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	netsmtp "net/smtp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailrig/mailrig/mailtest"
)

const (
	benchFrom = "app@example.com"
	benchTo   = "bob@example.com"
	benchPass = "pw"
)

// benchMessage returns a CRLF message of exactly size octets whose subject
// is subject.
func benchMessage(size int, subject string) []byte {
	head := "From: App <" + benchFrom + ">\r\nTo: <" + benchTo + ">\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\n"
	line := "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\r\n" // 66 octets
	var b bytes.Buffer
	b.Grow(size + len(line))
	b.WriteString(head)
	for b.Len() < size {
		b.WriteString(line)
	}
	raw := b.Bytes()[:size-2]
	return append(raw, '\r', '\n')
}

// benchServer starts a mailtest server for a benchmark; Close is left to
// b.Cleanup so the package's goleak check sees every goroutine end.
func benchServer(b *testing.B, opts ...mailtest.Option) *mailtest.Server {
	b.Helper()
	srv, err := mailtest.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := srv.Close(); err != nil {
			b.Errorf("close: %v", err)
		}
	})
	return srv
}

// --- the go-smtp ceiling -------------------------------------------------

type discardBackend struct{ n atomic.Int64 }

func (be *discardBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return discardSession{be}, nil
}

type discardSession struct{ be *discardBackend }

func (discardSession) Reset()                               {}
func (discardSession) Logout() error                        { return nil }
func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s discardSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.be.n.Add(1)
	return nil
}

// discardSMTP starts a bare go-smtp server on loopback, with the limits and
// timeouts mailtest gives go-smtp, whose backend discards every message.
// It stops at the end of the benchmark, after waiting for its connections.
func discardSMTP(b *testing.B) (addr string, be *discardBackend) {
	b.Helper()
	be = &discardBackend{}
	s := smtp.NewServer(be)
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
		// Clients are closed by earlier cleanups (they run last-in
		// first-out), so Shutdown only waits for the sessions to end.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			b.Errorf("ceiling shutdown: %v", err)
			s.Close()
		}
		<-served
	})
	return ln.Addr().String(), be
}

// --- SMTP clients ---------------------------------------------------------

// benchSMTPClient dials addr with go-smtp's client and says EHLO; the
// connection is closed at the end of the benchmark.
func benchSMTPClient(b *testing.B, addr string) *smtp.Client {
	b.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Quit(); c.Close() })
	if err := c.Hello("bench.example"); err != nil {
		b.Fatal(err)
	}
	return c
}

// sendOn sends one message on an open connection: RSET, MAIL, RCPT, DATA.
func sendOn(c *smtp.Client, msg []byte) error {
	if err := c.Reset(); err != nil {
		return fmt.Errorf("RSET: %w", err)
	}
	if err := c.Mail(benchFrom, nil); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	if err := c.Rcpt(benchTo, nil); err != nil {
		return fmt.Errorf("RCPT: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA end: %w", err)
	}
	return nil
}

// sendParallel sends n messages spread over clients, one goroutine per
// client, and returns when all were accepted.
func sendParallel(clients []*smtp.Client, n int, msg []byte) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := sendOn(c, msg); err != nil {
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

// pairTimer accumulates the times of alternating runs against mailtest
// and against a ceiling. Besides the totals it keeps the ratio of each
// block of runs, so that the reported ratio is the median over blocks: a
// burst of load from another process (CI neighbours, a concurrent go test)
// skews one block, not the result.
type pairTimer struct {
	block            int // runs per block
	ours, ceil       time.Duration
	blkOurs, blkCeil time.Duration
	blkRuns          int
	ratios           []float64 // ceiling time / our time, per block
}

func newPairTimer(block int) *pairTimer { return &pairTimer{block: block} }

// add records one run against each.
func (p *pairTimer) add(ours, ceil time.Duration) {
	p.ours += ours
	p.ceil += ceil
	p.blkOurs += ours
	p.blkCeil += ceil
	if p.blkRuns++; p.blkRuns >= p.block {
		p.endBlock()
	}
}

func (p *pairTimer) endBlock() {
	if p.blkRuns > 0 && p.blkOurs > 0 {
		p.ratios = append(p.ratios, p.blkCeil.Seconds()/p.blkOurs.Seconds())
	}
	p.blkOurs, p.blkCeil, p.blkRuns = 0, 0, 0
}

// speedRatio is the median over blocks of (our speed / the ceiling's),
// that is ceiling time / our time.
func (p *pairTimer) speedRatio() float64 {
	p.endBlock()
	r := slices.Clone(p.ratios)
	slices.Sort(r)
	return r[len(r)/2]
}

// reportPair reports our rate, the ceiling's (from the totals) and the
// median ratio of the two (ours/ceiling msgs/s).
func reportPair(b *testing.B, n int, p *pairTimer) {
	b.ReportMetric(float64(n)/p.ours.Seconds(), "ours-msgs/s")
	b.ReportMetric(float64(n)/p.ceil.Seconds(), "ceiling-msgs/s")
	b.ReportMetric(p.speedRatio(), "ratio")
}

// checkStored fails b unless srv received want messages and the ceiling
// want too, so a benchmark cannot pass by losing mail.
func checkStored(b *testing.B, srv *mailtest.Server, be *discardBackend, want int) {
	b.Helper()
	if got := len(srv.Store().Received()); got != want {
		b.Fatalf("mailtest received %d messages, want %d", got, want)
	}
	if got := be.n.Load(); got != int64(want) {
		b.Fatalf("ceiling received %d messages, want %d", got, want)
	}
}

// --- Startup ---------------------------------------------------------------

// BenchmarkStartup starts a server with all seven listeners (the TLS
// certificate is generated once per process and reused), reads the first
// SMTP greeting line, and closes the server. Target: ≤ 1 ms/op.
func BenchmarkStartup(b *testing.B) {
	// Generate the process-wide certificate outside the measurement.
	warm, err := mailtest.New()
	if err != nil {
		b.Fatal(err)
	}
	warm.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		srv, err := mailtest.New()
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range mailtest.Listeners() {
			if srv.Addr(p) == "" {
				b.Fatalf("%s not listening", p)
			}
		}
		conn, err := net.Dial("tcp", srv.SMTPAddr())
		if err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "220 ") {
			b.Fatalf("greeting %q: %v", line, err)
		}
		conn.Close()
		if err := srv.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// --- SMTP ingest -----------------------------------------------------------

// BenchmarkSMTPIngest sends 1 KiB messages into mailtest and into the
// discarding go-smtp ceiling, alternately; one op is one message to each.
// Target: ratio (ours/ceiling msgs/s) ≥ 0.95 in every sub-benchmark,
// transcripts on or off.
//
//   - conns=1: one reused connection each (RSET, MAIL, RCPT, DATA).
//   - conns=8: eight reused connections each, sending concurrently.
//   - sendmail: a new connection per message with net/smtp.SendMail
//     (EHLO, MAIL, RCPT, DATA, QUIT).
//
// Each runs with transcripts off (New's default) and on (NewServer's
// default). Ours can beat the ceiling: go-smtp writes each reply line
// with its own syscall, and mailtest writes a multi-line reply (EHLO, sent
// again after every RSET by go-smtp's client) in one.
func BenchmarkSMTPIngest(b *testing.B) {
	for _, tc := range []struct {
		name string
		opt  mailtest.Option
	}{
		{"transcripts=off", mailtest.WithTranscripts(false)},
		{"transcripts=on", mailtest.WithTranscripts(true)},
	} {
		b.Run(tc.name, func(b *testing.B) { benchIngest(b, tc.opt) })
	}
}

func benchIngest(b *testing.B, opt mailtest.Option) {
	msg := benchMessage(1024, "ingest")

	b.Run("conns=1", func(b *testing.B) {
		srv := benchServer(b, opt)
		ceilAddr, be := discardSMTP(b)
		ours := benchSMTPClient(b, srv.SMTPAddr())
		ceil := benchSMTPClient(b, ceilAddr)
		pt := newPairTimer(32)
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			if err := sendOn(ours, msg); err != nil {
				b.Fatal(err)
			}
			mid := time.Now()
			if err := sendOn(ceil, msg); err != nil {
				b.Fatal(err)
			}
			pt.add(mid.Sub(start), time.Since(mid))
		}
		b.StopTimer()
		reportPair(b, b.N, pt)
		checkStored(b, srv, be, b.N)
	})

	b.Run("conns=8", func(b *testing.B) {
		const conns, round = 8, 256
		srv := benchServer(b, opt)
		ceilAddr, be := discardSMTP(b)
		ours := make([]*smtp.Client, conns)
		ceil := make([]*smtp.Client, conns)
		for i := range conns {
			ours[i] = benchSMTPClient(b, srv.SMTPAddr())
			ceil[i] = benchSMTPClient(b, ceilAddr)
		}
		pt := newPairTimer(1) // a round is a block
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		b.ResetTimer()
		for done := 0; done < b.N; {
			n := min(round, b.N-done)
			start := time.Now()
			if err := sendParallel(ours, n, msg); err != nil {
				b.Fatal(err)
			}
			mid := time.Now()
			if err := sendParallel(ceil, n, msg); err != nil {
				b.Fatal(err)
			}
			pt.add(mid.Sub(start), time.Since(mid))
			done += n
		}
		b.StopTimer()
		reportPair(b, b.N, pt)
		checkStored(b, srv, be, b.N)
	})

	b.Run("sendmail", func(b *testing.B) {
		srv := benchServer(b, opt)
		ceilAddr, be := discardSMTP(b)
		pt := newPairTimer(32)
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			if err := netsmtp.SendMail(srv.SMTPAddr(), nil, benchFrom, []string{benchTo}, msg); err != nil {
				b.Fatal(err)
			}
			mid := time.Now()
			if err := netsmtp.SendMail(ceilAddr, nil, benchFrom, []string{benchTo}, msg); err != nil {
				b.Fatal(err)
			}
			pt.add(mid.Sub(start), time.Since(mid))
		}
		b.StopTimer()
		reportPair(b, b.N, pt)
		checkStored(b, srv, be, b.N)
	})
}

// BenchmarkSMTPLarge stores one 20 MiB message in mailtest and sends the
// same to the discarding ceiling, alternately, over one reused connection
// each; the time runs until the reply to the final dot. Target: ratio
// (ours/ceiling time, "time-ratio") ≤ 1.5.
func BenchmarkSMTPLarge(b *testing.B) {
	const size = 20 << 20
	msg := benchMessage(size, "large")
	srv := benchServer(b)
	ceilAddr, be := discardSMTP(b)
	ours := benchSMTPClient(b, srv.SMTPAddr())
	ceil := benchSMTPClient(b, ceilAddr)
	pt := newPairTimer(1)
	b.SetBytes(2 * size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := sendOn(ours, msg); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := sendOn(ceil, msg); err != nil {
			b.Fatal(err)
		}
		pt.add(mid.Sub(start), time.Since(mid))

		b.StopTimer()
		got := srv.Store().Received()
		if len(got) != 1 || got[0].Size() < size {
			b.Fatalf("stored %d messages", len(got))
		}
		srv.Purge() // keep one 20 MiB message alive at a time
		b.StartTimer()
	}
	b.StopTimer()
	if got := be.n.Load(); got != int64(b.N) {
		b.Fatalf("ceiling received %d messages, want %d", got, b.N)
	}
	mb := float64(size) * float64(b.N) / (1 << 20)
	b.ReportMetric(mb/pt.ours.Seconds(), "ours-MiB/s")
	b.ReportMetric(mb/pt.ceil.Seconds(), "ceiling-MiB/s")
	b.ReportMetric(1/pt.speedRatio(), "time-ratio") // median of ours/ceiling time
}

// --- POP3 ------------------------------------------------------------------

// fillInbox delivers n messages of size octets to user's INBOX straight
// through the store (no SMTP), so setup stays fast.
func fillInbox(b *testing.B, srv *mailtest.Server, user string, n, size int) {
	b.Helper()
	msg := benchMessage(size, "pop3")
	env := mailtest.Envelope{MailFrom: benchFrom, Rcpts: []string{user}}
	date := time.Now()
	for i := 0; i < n; i++ {
		if _, err := srv.Store().Deliver(msg, date, env); err != nil {
			b.Fatal(err)
		}
	}
}

// pop3RetrAll logs in as user, pipelines RETR 1..n, reads every message,
// checks each is size octets, QUITs without deleting and waits for the
// server to hang up (so the maildrop lock is released for the next round).
func pop3RetrAll(addr, user string, n, size int) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 64<<10)
	status := func() (string, error) {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(l, "+OK") {
			return "", fmt.Errorf("POP3: %q", strings.TrimSpace(l))
		}
		return l, nil
	}
	if _, err := status(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(conn, "USER %s\r\nPASS %s\r\n", user, benchPass); err != nil {
		return err
	}
	for range 2 {
		if _, err := status(); err != nil {
			return err
		}
	}
	var script bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&script, "RETR %d\r\n", i)
	}
	script.WriteString("QUIT\r\n")
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(script.Bytes())
		werr <- err
	}()
	for i := 1; i <= n; i++ {
		if _, err := status(); err != nil {
			return fmt.Errorf("RETR %d: %w", i, err)
		}
		got := 0
		for {
			l, err := r.ReadSlice('\n')
			if err != nil && err != bufio.ErrBufferFull {
				return fmt.Errorf("RETR %d: %w", i, err)
			}
			if len(l) == 3 && l[0] == '.' && l[1] == '\r' {
				break
			}
			got += len(l)
		}
		if got != size {
			return fmt.Errorf("RETR %d: %d octets, want %d", i, got, size)
		}
	}
	if _, err := status(); err != nil { // QUIT
		return err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	return <-werr
}

// BenchmarkPOP3RETR retrieves a whole maildrop through mailtest's POP3
// listener, one connection per op with the RETRs pipelined.
//
//   - 5000x1KiB: target ≥ 10,000 msgs/s.
//   - 200x100KiB: alternates with a loopback TCP stream of the same total
//     bytes (one goroutine writing, a reader discarding); target ratio
//     (ours/TCP bytes per second) ≥ 0.25.
func BenchmarkPOP3RETR(b *testing.B) {
	const user = "pop@example.com"

	b.Run("5000x1KiB", func(b *testing.B) {
		const n, size = 5000, 1 << 10
		srv := benchServer(b, mailtest.WithUser(user, benchPass))
		fillInbox(b, srv, user, n, size)
		b.SetBytes(n * size)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := pop3RetrAll(srv.POP3Addr(), user, n, size); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
	})

	b.Run("200x100KiB", func(b *testing.B) {
		const n, size = 200, 100 << 10
		srv := benchServer(b, mailtest.WithUser(user, benchPass))
		fillInbox(b, srv, user, n, size)
		tcp := newTCPStream(b)
		pt := newPairTimer(1)
		b.SetBytes(n * size)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			if err := pop3RetrAll(srv.POP3Addr(), user, n, size); err != nil {
				b.Fatal(err)
			}
			mid := time.Now()
			if err := tcp.stream(n * size); err != nil {
				b.Fatal(err)
			}
			pt.add(mid.Sub(start), time.Since(mid))
		}
		b.StopTimer()
		mb := float64(n*size) * float64(b.N) / 1e6
		b.ReportMetric(float64(n*b.N)/pt.ours.Seconds(), "msgs/s")
		b.ReportMetric(mb/pt.ours.Seconds(), "ours-MB/s")
		b.ReportMetric(mb/pt.ceil.Seconds(), "tcp-MB/s")
		b.ReportMetric(pt.speedRatio(), "ratio") // median of per-op ratios
	})
}

// BenchmarkLoopbackTCP is the raw ceiling on its own: 20,000 KiB (what
// 200x100KiB retrieves) written over a loopback TCP connection by one
// goroutine to a reader that discards.
func BenchmarkLoopbackTCP(b *testing.B) {
	const total = 200 * 100 << 10
	tcp := newTCPStream(b)
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := tcp.stream(total); err != nil {
			b.Fatal(err)
		}
	}
}

// tcpStream is a loopback listener whose connections are read and
// discarded, for measuring the raw stream rate.
type tcpStream struct {
	ln  net.Listener
	buf []byte
}

func newTCPStream(b *testing.B) *tcpStream {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	return &tcpStream{ln: ln, buf: make([]byte, 16<<10)}
}

// stream connects, writes total bytes from a goroutine in 16 KiB writes
// (the POP3 server's write buffer size), and returns once the reader has
// read and discarded them all, like a client reading a RETR.
func (s *tcpStream) stream(total int) error {
	acc := make(chan net.Conn, 1)
	accErr := make(chan error, 1)
	go func() {
		c, err := s.ln.Accept()
		if err != nil {
			accErr <- err
			return
		}
		acc <- c
	}()
	client, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		return err
	}
	defer client.Close()
	var server net.Conn
	select {
	case server = <-acc:
	case err := <-accErr:
		return err
	}
	werr := make(chan error, 1)
	go func() {
		defer server.Close()
		for left := total; left > 0; {
			k := min(left, len(s.buf))
			if _, err := server.Write(s.buf[:k]); err != nil {
				werr <- err
				return
			}
			left -= k
		}
		werr <- nil
	}()
	n, err := io.Copy(io.Discard, bufio.NewReaderSize(client, 64<<10))
	if err != nil {
		return err
	}
	if err := <-werr; err != nil {
		return err
	}
	if n != int64(total) {
		return fmt.Errorf("read %d bytes, want %d", n, total)
	}
	return nil
}

// --- Waiting ---------------------------------------------------------------

// BenchmarkWaitWake measures how soon a waiter wakes after the message it
// waits for is delivered, with 10,000 other messages already stored. Each
// op starts srv.Wait (a counting matcher, then Subject) in a goroutine,
// waits until it has looked at every stored message and is blocked, then
// records the time, calls Store().Deliver and notes when Wait returns.
// "wake-ns" is the median delivery-to-wake latency. Target: ≤ 1 ms.
func BenchmarkWaitWake(b *testing.B) {
	const stored = 10000
	srv := benchServer(b)
	env := mailtest.Envelope{MailFrom: benchFrom, Rcpts: []string{benchTo}}
	other := benchMessage(1024, "other")
	date := time.Now()
	for i := 0; i < stored; i++ {
		if _, err := srv.Store().Deliver(other, date, env); err != nil {
			b.Fatal(err)
		}
	}
	// Parse the stored messages once, as any earlier Wait or Messages call
	// in a test would; the benchmark measures waking, not first parses.
	if got := srv.Messages(mailtest.Subject("other")); len(got) != stored {
		b.Fatalf("%d messages", len(got))
	}

	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		subject := fmt.Sprintf("target %d", i)
		msg := benchMessage(1024, subject)
		before := stored + i // messages already received when Wait starts
		var seen atomic.Int64
		scanned := make(chan struct{})
		count := mailtest.Match("count", func(*mailtest.Message) bool {
			if seen.Add(1) == int64(before) {
				close(scanned)
			}
			return true
		})
		type result struct {
			at  time.Time
			err error
		}
		woke := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := srv.Wait(ctx, 1, count, mailtest.Subject(subject))
			at := time.Now()
			if err == nil && (len(got) != 1 || got[0].Subject() != subject) {
				err = fmt.Errorf("Wait returned %d messages", len(got))
			}
			woke <- result{at, err}
		}()
		select {
		case <-scanned:
		case r := <-woke:
			b.Fatalf("Wait returned early: %v", r.err)
		}
		start := time.Now()
		if _, err := srv.Store().Deliver(msg, date, env); err != nil {
			b.Fatal(err)
		}
		r := <-woke
		if r.err != nil {
			b.Fatal(r.err)
		}
		lat = append(lat, r.at.Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "wake-ns")
	b.ReportMetric(float64(lat[len(lat)*9/10].Nanoseconds()), "wake-p90-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "wake-max-ns")
}
