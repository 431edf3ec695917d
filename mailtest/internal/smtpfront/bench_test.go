package smtpfront

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mailrig/mailrig/memstore"
)

// BenchmarkSessionData measures the work the front-end adds per message on
// top of go-smtp, without the network: the MAIL, RCPT and DATA callbacks
// of one session filing a 1 KiB message into a memstore (trace headers on).
// The SMTP ingest targets in mailtest's BenchmarkSMTPIngest compare the
// whole path against a bare go-smtp server; this shows the share that is
// ours.
func BenchmarkSessionData(b *testing.B) {
	for _, size := range []int{1 << 10, 20 << 20} {
		name := "1KiB"
		if size > 1<<20 {
			name = "20MiB"
		}
		b.Run(name, func(b *testing.B) {
			line := "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\r\n"
			msg := []byte("Subject: bench\r\n\r\n" + strings.Repeat(line, size/len(line)))
			store := memstore.New()
			s := NewServer(Options{Store: store})
			ss := &session{s: s, id: newSessionID(), helo: "client.example", remote: "127.0.0.1:40000"}
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ss.Reset()
				if err := ss.Mail("app@example.com", nil); err != nil {
					b.Fatal(err)
				}
				if err := ss.Rcpt("bob@example.com", nil); err != nil {
					b.Fatal(err)
				}
				if err := ss.Data(bytes.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
				if i%1000 == 999 || size > 1<<20 {
					b.StopTimer()
					store.Purge()
					b.StartTimer()
				}
			}
		})
	}
}
