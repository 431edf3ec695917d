package pop3

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// BenchmarkRETR retrieves 5,000 messages of 1 KiB over one connection per
// iteration, pipelining the RETRs, and reports messages per second.
func BenchmarkRETR(b *testing.B) {
	const (
		nMsgs   = 5000
		msgSize = 1024
	)
	line := strings.Repeat("x", 62) + "\r\n" // 64 octets
	body := "Subject: bench\r\n\r\n" + strings.Repeat(line, (msgSize-18)/64)
	body += strings.Repeat("y", msgSize-len(body)-2) + "\r\n"
	msgs := make([]string, nMsgs)
	for i := range msgs {
		msgs[i] = body
	}
	be := newFakeBackend()
	be.addUser("bench", "pw", msgs...)
	_, addr := startServer(b, be, Options{})

	var cmds strings.Builder
	for i := 1; i <= nMsgs; i++ {
		fmt.Fprintf(&cmds, "RETR %d\r\n", i)
	}
	script := []byte(cmds.String())

	b.SetBytes(nMsgs * msgSize)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReaderSize(conn, 64<<10)
		readStatus := func() string {
			l, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			return l
		}
		readStatus()
		fmt.Fprintf(conn, "USER bench\r\nPASS pw\r\n")
		readStatus()
		if l := readStatus(); !strings.HasPrefix(l, "+OK") {
			b.Fatal(l)
		}
		go func() { _, _ = conn.Write(script) }()
		for i := 0; i < nMsgs; i++ {
			if l := readStatus(); !strings.HasPrefix(l, "+OK 1024 octets") {
				b.Fatalf("RETR %d: %q", i+1, l)
			}
			for {
				l, err := r.ReadSlice('\n')
				if err != nil {
					b.Fatal(err)
				}
				if len(l) == 3 && l[0] == '.' {
					break
				}
			}
		}
		fmt.Fprintf(conn, "QUIT\r\n")
		readStatus()
		// EOF means the session ended and released the maildrop lock.
		_, _ = io.Copy(io.Discard, r)
		conn.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*nMsgs)/time.Since(start).Seconds(), "msgs/s")
}
