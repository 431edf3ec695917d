package mailtest_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailrig/mailrig/mailtest"
	"github.com/mailrig/mailrig/memstore"
)

// maxSMTPLine is go-smtp's default line limit, which applies inside DATA.
const maxSMTPLine = 2000

// dataWire turns a payload into what an SMTP client sends after the 354:
// dot-stuffed where go-smtp unstuffs (a dot at the start of the payload or
// after CRLF), ending in CRLF "." CRLF. A trailing bare CR or LF becomes
// CRLF, which stores the same bytes. ok is false if the payload cannot be
// sent (empty, or a line longer than go-smtp accepts).
//
// A payload with a bare CR followed by another CR is sent normalised to
// CRLF (which stores the same bytes): go-smtp's DATA reader loses track of
// line starts after "\r\r" (see TestSMTPDataCRCR), so neither the
// stuffing of the next line nor the end-of-data marker would be seen.
func dataWire(payload []byte) (wire []byte, ok bool) {
	if len(payload) == 0 {
		return nil, false
	}
	for _, line := range bytes.Split(payload, []byte("\n")) {
		if len(line) >= maxSMTPLine-2 {
			return nil, false
		}
	}
	body := payload
	if bytes.Contains(body, []byte("\r\r")) {
		body = memstore.NormalizeCRLF(bytes.Clone(body))
	}
	switch {
	case bytes.HasSuffix(body, []byte("\r\n")):
	case body[len(body)-1] == '\r' || body[len(body)-1] == '\n':
		body = append(body[:len(body)-1:len(body)-1], '\r', '\n')
	default:
		body = append(body[:len(body):len(body)], '\r', '\n')
	}
	var b bytes.Buffer
	for i := 0; i < len(body); i++ {
		if body[i] == '.' && (i == 0 || (i >= 2 && body[i-2] == '\r' && body[i-1] == '\n')) {
			b.WriteByte('.')
		}
		b.WriteByte(body[i])
	}
	b.WriteString(".\r\n")
	return b.Bytes(), true
}

// FuzzSMTPRoundTrip: any DATA payload comes out of IMAP BODY[] and POP3
// RETR exactly as memstore.NormalizeCRLF(payload).
func FuzzSMTPRoundTrip(f *testing.F) {
	for _, seed := range []string{
		"Subject: hi\r\n\r\nhello\r\n",
		"Subject: bare\nFrom: a@example.com\n\nline\nline two",
		"Subject: cr\rbody\rmore\r",
		".\r\n..\r\n.x\r\n\r\n.\r\nend",
		"no newline at all",
		"Subject: 8bit \xe9\xff\x00\r\n\r\nbytes \x80\x81 \xc3\x28\r\n",
	} {
		f.Add([]byte(seed))
	}
	const user, pass = "fuzz@example.com", "pw"
	srv, err := mailtest.New(mailtest.WithTraceHeaders(false), mailtest.WithUser(user, pass))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	var mu sync.Mutex // one input at a time: each expects a lone message

	f.Fuzz(func(t *testing.T, payload []byte) {
		wire, ok := dataWire(payload)
		if !ok {
			t.Skip("not sendable as SMTP DATA unchanged")
		}
		want := memstore.NormalizeCRLF(bytes.Clone(payload))
		mu.Lock()
		defer mu.Unlock()
		// Each input starts from an empty store, so a failed input cannot
		// make the next ones fail.
		srv.Purge()

		// In over SMTP.
		conn, err := net.DialTimeout("tcp", srv.SMTPAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(conn)
		reply := func() string {
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("SMTP read: %v", err)
				}
				if len(l) < 4 || l[3] != '-' {
					return strings.TrimRight(l, "\r\n")
				}
			}
		}
		reply()
		fmt.Fprintf(conn, "EHLO fuzz.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<%s>\r\nDATA\r\n", user)
		for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
			if got := reply(); !strings.HasPrefix(got, want) {
				t.Fatalf("SMTP: %q, want %q", got, want)
			}
		}
		conn.Write(wire)
		if got := reply(); got != "250 2.0.0 OK: queued" {
			t.Fatalf("end of DATA: %q", got)
		}
		fmt.Fprintf(conn, "QUIT\r\n")

		msgs := srv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d messages stored, want 1", len(msgs))
		}
		if got := msgs[0].Raw(); !bytes.Equal(got, want) {
			t.Fatalf("stored\n%q\nwant\n%q", got, want)
		}

		// Out over IMAP.
		c, err := imapclient.DialInsecure(srv.IMAPAddr(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(user, pass).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		section := &imap.FetchItemBodySection{Peek: true}
		fetched, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(fetched) != 1 {
			t.Fatalf("FETCH returned %d messages", len(fetched))
		}
		if got := fetched[0].FindBodySection(section); !bytes.Equal(got, want) {
			t.Fatalf("IMAP BODY[]\n%q\nwant\n%q", got, want)
		}
		c.Logout().Wait()

		// Out over POP3, deleting it so the next input starts afresh.
		pc, err := net.DialTimeout("tcp", srv.POP3Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		pc.SetDeadline(time.Now().Add(5 * time.Second))
		pr := bufio.NewReader(pc)
		line := func() string {
			l, err := pr.ReadString('\n')
			if err != nil {
				t.Fatalf("POP3 read: %v", err)
			}
			return l
		}
		line()
		fmt.Fprintf(pc, "USER %s\r\nPASS %s\r\nRETR 1\r\n", user, pass)
		for _, want := range []string{"+OK", "+OK", fmt.Sprintf("+OK %d octets", len(want))} {
			if got := line(); !strings.HasPrefix(got, want) {
				t.Fatalf("POP3: %q, want %q", got, want)
			}
		}
		var got bytes.Buffer
		for {
			l := line()
			if l == ".\r\n" {
				break
			}
			got.WriteString(strings.TrimPrefix(l, "."))
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("POP3 RETR\n%q\nwant\n%q", got.Bytes(), want)
		}
		fmt.Fprintf(pc, "DELE 1\r\nQUIT\r\n")
		line()
		if l := line(); !strings.HasPrefix(l, "+OK") {
			t.Fatalf("QUIT: %q", l)
		}
		// QUIT released the maildrop before its +OK, so the next input can
		// log in at once.
		if srv.POP3View(user).Locked {
			t.Fatal("maildrop still locked after QUIT")
		}
		if n := len(srv.POP3View(user).Messages); n != 0 {
			t.Fatalf("%d messages left after DELE+QUIT", n)
		}
	})
}
