package memstore

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-message/textproto"
)

func TestNormalizeCRLF(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"crlf", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"bare LF", "a\nb\n", "a\r\nb\r\n"},
		{"bare CR", "a\rb\r", "a\r\nb\r\n"},
		{"mixed", "a\r\nb\nc\rd\r\n", "a\r\nb\r\nc\r\nd\r\n"},
		{"CR CR LF", "a\r\r\nb\r\n", "a\r\n\r\nb\r\n"},
		{"no trailing newline", "a\r\nb", "a\r\nb\r\n"},
		{"no newline at all", "abc", "abc\r\n"},
		{"only LF", "\n", "\r\n"},
		{"only CR", "\r", "\r\n"},
		{"LF CR", "\n\r", "\r\n\r\n"},
		{"blank lines LF", "h: v\n\nbody\n", "h: v\r\n\r\nbody\r\n"},
		{"trailing bare CR after CRLF", "a\r\n\r", "a\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tt.in)
			got := NormalizeCRLF(in)
			if string(got) != tt.want {
				t.Fatalf("NormalizeCRLF(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if string(in) != tt.in {
				t.Fatalf("input modified: %q", in)
			}
			if again := NormalizeCRLF(got); len(got) > 0 && &again[0] != &got[0] {
				t.Fatalf("normal output %q was copied again", got)
			}
		})
	}
}

func TestNormalizeCRLFNoCopy(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"a\r\n", "Subject: x\r\n\r\nbody\r\n", "\r\n", "\r\n\r\n"} {
		in := []byte(s)
		got := NormalizeCRLF(in)
		if len(got) != len(in) || &got[0] != &in[0] {
			t.Errorf("NormalizeCRLF(%q) copied an already-normal slice", s)
		}
	}
	// The empty input comes back as is too.
	in := make([]byte, 0, 8)
	if got := NormalizeCRLF(in); len(got) != 0 || cap(got) != 8 {
		t.Errorf("NormalizeCRLF(empty) = len %d cap %d, want the same slice", len(got), cap(got))
	}
}

func TestMessageParts(t *testing.T) {
	t.Parallel()
	raw := "Subject: Hello\nFrom: Ann <ann@example.com>\nX-Multi: one\n two\n\nline 1\nline 2\n"
	m := NewMessage([]byte(raw), testDate, Envelope{MailFrom: "ann@example.com", Rcpts: []string{"bob@example.com"}})
	wantRaw := "Subject: Hello\r\nFrom: Ann <ann@example.com>\r\nX-Multi: one\r\n two\r\n\r\nline 1\r\nline 2\r\n"
	if string(m.Raw()) != wantRaw {
		t.Fatalf("Raw = %q, want %q", m.Raw(), wantRaw)
	}
	if m.Size() != int64(len(wantRaw)) {
		t.Fatalf("Size = %d, want %d", m.Size(), len(wantRaw))
	}
	if got, want := string(m.HeaderBytes()), "Subject: Hello\r\nFrom: Ann <ann@example.com>\r\nX-Multi: one\r\n two\r\n\r\n"; got != want {
		t.Fatalf("HeaderBytes = %q, want %q", got, want)
	}
	if got := string(m.Body()); got != "line 1\r\nline 2\r\n" {
		t.Fatalf("Body = %q", got)
	}
	h := m.Header()
	if h.Len() != 3 {
		t.Fatalf("header has %d fields, want 3", h.Len())
	}
	if got := h.Get("Subject"); got != "Hello" {
		t.Fatalf("Subject = %q", got)
	}
	if got := h.Get("From"); got != "Ann <ann@example.com>" {
		t.Fatalf("From = %q", got)
	}
	if got := h.Get("X-Multi"); got != "one two" && got != "one\r\n two" {
		t.Fatalf("X-Multi = %q", got)
	}
	// Parsed once: a second call returns the very same parsed fields.
	if a, b := rawSubject(t, h), rawSubject(t, m.Header()); &a[0] != &b[0] {
		t.Fatal("Header() parsed the message again")
	}
	if !m.ReceivedAt().Equal(testDate) {
		t.Fatalf("ReceivedAt = %v", m.ReceivedAt())
	}
	e := m.Envelope()
	e.Rcpts[0] = "changed"
	if got := m.Envelope().Rcpts[0]; got != "bob@example.com" {
		t.Fatalf("Envelope().Rcpts shared with the message: %q", got)
	}
	if m.ID() != 0 {
		t.Fatalf("unstored message has ID %d", m.ID())
	}
}

func TestMessageEnvelopeCopied(t *testing.T) {
	t.Parallel()
	rcpts := []string{"a@x"}
	m := NewMessage([]byte("x\r\n"), testDate, Envelope{Rcpts: rcpts})
	rcpts[0] = "changed"
	if got := m.Envelope().Rcpts[0]; got != "a@x" {
		t.Fatalf("NewMessage kept the caller's Rcpts slice: %q", got)
	}
}

func TestMessageHeaderOnly(t *testing.T) {
	t.Parallel()
	m := NewMessage([]byte("Subject: only a header\nX-A: b"), testDate, Envelope{})
	if got := string(m.Raw()); got != "Subject: only a header\r\nX-A: b\r\n" {
		t.Fatalf("Raw = %q", got)
	}
	if got := len(m.Body()); got != 0 {
		t.Fatalf("Body has %d bytes, want 0", got)
	}
	if got := string(m.HeaderBytes()); got != string(m.Raw()) {
		t.Fatalf("HeaderBytes = %q", got)
	}
	h := m.Header()
	if got := h.Get("Subject"); got != "only a header" {
		t.Fatalf("Subject of a header-only message = %q", got)
	}
	if got := h.Get("X-A"); got != "b" {
		t.Fatalf("X-A of a header-only message = %q", got)
	}
}

func TestMessageEmptyHeader(t *testing.T) {
	t.Parallel()
	m := NewMessage([]byte("\r\nbody only\r\n"), testDate, Envelope{})
	if got := string(m.HeaderBytes()); got != "\r\n" {
		t.Fatalf("HeaderBytes = %q", got)
	}
	if got := string(m.Body()); got != "body only\r\n" {
		t.Fatalf("Body = %q", got)
	}
	if h := m.Header(); h.Len() != 0 {
		t.Fatalf("header has %d fields", h.Len())
	}
	empty := NewMessage(nil, testDate, Envelope{})
	if empty.Size() != 0 || len(empty.Body()) != 0 || len(empty.HeaderBytes()) != 0 {
		t.Fatalf("empty message: size %d body %q header %q", empty.Size(), empty.Body(), empty.HeaderBytes())
	}
	if NewMessage(nil, testDate, Envelope{}).ReceivedAt().IsZero() {
		t.Fatal("zero date not replaced")
	}
	if NewMessage(nil, testDate.AddDate(0, 0, 0), Envelope{}).ReceivedAt() != testDate {
		t.Fatal("date not kept")
	}
}

func TestMessageMalformedHeaderKeepsEarlierFields(t *testing.T) {
	t.Parallel()
	m := NewMessage([]byte("Subject: ok\r\nthis line has no colon\r\n\r\nbody\r\n"), testDate, Envelope{})
	h := m.Header()
	if got := h.Get("Subject"); got != "ok" {
		t.Fatalf("Subject = %q, want the field read before the malformed line", got)
	}
	if got := string(m.Body()); got != "body\r\n" {
		t.Fatalf("Body = %q", got)
	}
}

func TestMessageCached(t *testing.T) {
	t.Parallel()
	m := NewMessage(rawMsg(1), testDate, Envelope{})
	type keyA struct{}
	type keyB struct{}
	var calls atomic.Int32
	compute := func() any { calls.Add(1); return bytes.ToUpper(m.Body()) }
	for i := 0; i < 5; i++ {
		if got := string(m.Cached(keyA{}, compute).([]byte)); got != "BODY 1\r\n" {
			t.Fatalf("Cached = %q", got)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("compute ran %d times, want 1", n)
	}
	if got := m.Cached(keyB{}, func() any { return 42 }); got != 42 {
		t.Fatalf("second key = %v", got)
	}
	if got := m.Cached(keyB{}, func() any { return 43 }); got != 42 {
		t.Fatalf("second key recomputed: %v", got)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("compute for keyA ran %d times", n)
	}
}

// rawSubject returns the raw bytes of the parsed Subject field, whose
// address tells one parse from another.
func rawSubject(t *testing.T, h textproto.Header) []byte {
	t.Helper()
	fs := h.FieldsByKey("Subject")
	if !fs.Next() {
		t.Fatal("no Subject field")
	}
	raw, err := fs.Raw()
	if err != nil || len(raw) == 0 {
		t.Fatalf("Raw: %q, %v", raw, err)
	}
	return raw
}

func TestNormalizeCRLFExactCapacity(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"a\nb\nc", strings.Repeat("x\n", 5000), strings.Repeat("\r", 999), "h: v\r\nb\nc\r", "abc"} {
		out := NormalizeCRLF([]byte(in))
		if cap(out) != len(out) {
			t.Errorf("NormalizeCRLF(%.20q…): len %d cap %d", in, len(out), cap(out))
		}
	}
}

// A Message's bytes never change, even if the caller reuses its buffer, and
// the store does not keep a caller's spare capacity alive.
func TestNewMessageOwnsItsBytes(t *testing.T) {
	t.Parallel()
	s := New()
	buf := make([]byte, 0, 64<<10)
	buf = append(buf, "Subject: one\r\n\r\nfirst\r\n"...)
	m := mustDeliver(t, s, buf, "a@example.com")
	copy(buf, "Subject: two\r\n\r\nXXXXX\r\n")
	if got := string(m.Raw()); got != "Subject: one\r\n\r\nfirst\r\n" {
		t.Fatalf("stored message changed with the caller's buffer: %q", got)
	}
	if cap(m.Raw()) > 2*len(m.Raw()) {
		t.Fatalf("stored message keeps cap %d for %d bytes", cap(m.Raw()), len(m.Raw()))
	}
	u, _ := s.User("a@example.com")
	if got := string(u.Inbox().Snapshot().Entries[0].Message.Body()); got != "first\r\n" {
		t.Fatalf("INBOX body %q", got)
	}
}
