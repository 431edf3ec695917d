package mailtest_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrig/mailrig/mailtest"
)

// levelRecorder keeps the records of level Warn and above logged to it.
type levelRecorder struct {
	mu      sync.Mutex
	records []string
}

func (r *levelRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (r *levelRecorder) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, line)
	r.mu.Unlock()
	return nil
}

func (r *levelRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &attrHandler{r: r, attrs: attrs}
}

func (r *levelRecorder) WithGroup(string) slog.Handler { return r }

// attrHandler is levelRecorder with attributes added by With.
type attrHandler struct {
	r     *levelRecorder
	attrs []slog.Attr
}

func (h *attrHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.r.Enabled(ctx, l) }

func (h *attrHandler) Handle(ctx context.Context, rec slog.Record) error {
	rec.AddAttrs(h.attrs...)
	return h.r.Handle(ctx, rec)
}

func (h *attrHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &attrHandler{r: h.r, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *attrHandler) WithGroup(string) slog.Handler { return h }

// TestQuickCloseLogsNothing: a server closed right after it started, while
// its listeners' Serve calls may not have begun, logs no warning or error
// (it used to log "serve failed … server closed" once per listener).
func TestQuickCloseLogsNothing(t *testing.T) {
	t.Parallel()
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			rec := &levelRecorder{}
			srv := mailtest.NewServer(t, mailtest.WithLogger(slog.New(rec)))
			if err := srv.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// Close has waited for every Serve call, so all is logged.
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, r := range rec.records {
				t.Errorf("logged: %s", r)
			}
		})
	}
}

// TestMaxConnectionsPerListenerAndTranscribed: the limit counts each
// listener's connections (a full IMAP port leaves IMAPS free), and every
// protocol records the refused session in a transcript.
func TestMaxConnectionsPerListenerAndTranscribed(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithMaxConnections(1))
	cases := []struct {
		plain, implicit string
		protocol        mailtest.Listener
		refusal         string
	}{
		{srv.SMTPAddr(), srv.SMTPSAddr(), mailtest.SMTP, "421 4.7.0 Too many connections, try again later"},
		{srv.IMAPAddr(), srv.IMAPSAddr(), mailtest.IMAP, "* BYE [UNAVAILABLE] Too many connections, try again later"},
		{srv.POP3Addr(), srv.POP3SAddr(), mailtest.POP3, "-ERR [SYS/TEMP] too many connections, try again later"},
	}
	for _, tc := range cases {
		first, err := net.Dial("tcp", tc.plain)
		if err != nil {
			t.Fatal(err)
		}
		first.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := bufio.NewReader(first).ReadString('\n'); err != nil { // the slot is taken once greeted
			t.Fatal(err)
		}
		if got := readGreeting(t, tc.plain); got != tc.refusal {
			t.Errorf("%s: second connection greeted %q, want %q", tc.protocol, got, tc.refusal)
		}
		c, err := tls.Dial("tcp", tc.implicit, srv.ClientTLSConfig())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got == tc.refusal+"\r\n" {
			t.Errorf("%s over implicit TLS, with the plain port full: greeted %q, %v", tc.protocol, got, err)
		}
		c.Close()
		first.Close()
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	refused := map[mailtest.Listener]string{} // the line of a one-line session that is a refusal
	for _, tr := range srv.Transcripts() {
		if len(tr.Lines) == 1 && !tr.Lines[0].FromClient && strings.Contains(tr.Lines[0].Text, "oo many connections") {
			refused[tr.Listener] = tr.Lines[0].Text
		}
	}
	for _, tc := range cases {
		if got := refused[tc.protocol]; got != tc.refusal {
			t.Errorf("transcript of the refused %s session: %q, want %q", tc.protocol, got, tc.refusal)
		}
	}
	if len(refused) != 3 {
		t.Errorf("refusals on %d listeners, want 3 (none over implicit TLS): %v", len(refused), refused)
	}
}
