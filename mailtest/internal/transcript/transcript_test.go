package transcript

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// render writes chunks to w (each string one Write) and returns the lines
// as "C: ..." / "S: ...".
func render(t *testing.T, newW func(*Session) io.WriteCloser, chunks []string) []string {
	t.Helper()
	r := NewRecorder(Limits{}, nil)
	s := r.Start("x", "test", "")
	w := newW(s)
	for _, c := range chunks {
		if n, err := w.Write([]byte(c)); n != len(c) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	w.Close()
	var out []string
	for _, l := range s.Snapshot().Lines {
		d := "S: "
		if l.FromClient {
			d = "C: "
		}
		out = append(out, d+l.Text)
	}
	return out
}

func newSMTP(s *Session) io.WriteCloser { return NewSMTP(s) }
func newIMAP(s *Session) io.WriteCloser { return NewIMAP(s) }

func check(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSMTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{
			name: "session",
			chunks: []string{
				"220 localhost ESMTP\r\n", "EHLO c\r\n", "250-localhost\r\n", "250 PIPELINING\r\n",
				"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n", "250 2.0.0 ok\r\n", "250 2.0.0 ok\r\n",
				"DATA\r\n", "354 Go ahead\r\n", "Subject: hi\r\n\r\n250 not a reply\r\n", "..stuffed\r\n.\r\n",
				"250 2.0.0 ok\r\n", "QUIT\r\n", "221 bye\r\n",
			},
			want: []string{
				"S: 220 localhost ESMTP", "C: EHLO c", "S: 250-localhost", "S: 250 PIPELINING",
				"C: MAIL FROM:<a@x>", "C: RCPT TO:<b@x>", "S: 250 2.0.0 ok", "S: 250 2.0.0 ok",
				"C: DATA", "S: 354 Go ahead", "C: <message 43 octets>", "S: 250 2.0.0 ok",
				"C: QUIT", "S: 221 bye",
			},
		},
		{
			name:   "command split across reads, data end split, pipelined after",
			chunks: []string{"220 hi\r\n", "MAIL FR", "OM:<a@x>\r\n", "250 ok\r\n", "354 go\r\n", "x\r", "\n.", "\r", "\nQUIT\r\n", "250 ok\r\n"},
			want:   []string{"S: 220 hi", "C: MAIL FROM:<a@x>", "S: 250 ok", "S: 354 go", "C: <message 3 octets>", "C: QUIT", "S: 250 ok"},
		},
		{
			name:   "empty message",
			chunks: []string{"354 go\r\n", ".\r\n", "250 ok\r\n"},
			want:   []string{"S: 354 go", "C: <message 0 octets>", "S: 250 ok"},
		},
		{
			name:   "dot line inside is not the end",
			chunks: []string{"354 go\r\n", "a\r\n.b\r\n.\r\r\n", ".\r\n"},
			want:   []string{"S: 354 go", "C: <message 11 octets>"},
		},
		{
			name:   "auth plain initial response",
			chunks: []string{"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", "235 2.0.0 ok\r\n"},
			want:   []string{"C: AUTH PLAIN ***", "S: 235 2.0.0 ok"},
		},
		{
			name:   "auth login challenges",
			chunks: []string{"AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n", "YWxpY2U=\r\n", "334 UGFzc3dvcmQ6\r\n", "c2VjcmV0\r\n", "235 ok\r\n"},
			want:   []string{"C: AUTH LOGIN", "S: 334 VXNlcm5hbWU6", "C: ***", "S: 334 UGFzc3dvcmQ6", "C: ***", "S: 235 ok"},
		},
		{
			name:   "bdat chunks across reads, pipelined",
			chunks: []string{"BDAT 7\r\n250 x", "yz", "BDAT 3 LAST\r\nab", "c", "250 Continue\r\n", "250 ok\r\n"},
			want:   []string{"C: BDAT 7", "C: <chunk 7 octets>", "C: BDAT 3 LAST", "C: <chunk 3 octets>", "S: 250 Continue", "S: 250 ok"},
		},
		{
			name:   "malformed bdat carries no chunk",
			chunks: []string{"BDAT x\r\n", "501 bad\r\n", "BDAT 0 LAST\r\n"},
			want:   []string{"C: BDAT x", "S: 501 bad", "C: BDAT 0 LAST", "C: <chunk 0 octets>"},
		},
		{
			name:   "unterminated message and line at close",
			chunks: []string{"354 go\r\n", "abc"},
			want:   []string{"S: 354 go", "C: <message 3 octets, unterminated>"},
		},
		{
			name:   "partial line at close",
			chunks: []string{"QUI"},
			want:   []string{"C: QUI"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check(t, render(t, newSMTP, tt.chunks), tt.want)
		})
	}
}

func TestIMAP(t *testing.T) {
	t.Parallel()
	lit := strings.Repeat("x", 150)
	tests := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{
			name:   "greeting, login and pipelining",
			chunks: []string{"* OK [CAPABILITY IMAP4rev1] ready\r\n", "a1 LOGIN alice secret\r\na2 SELECT INBOX\r\n", "a1 OK done\r\n", "* 3 EXISTS\r\n", "a2 OK [READ-WRITE] done\r\n"},
			want:   []string{"S: * OK [CAPABILITY IMAP4rev1] ready", "C: a1 LOGIN alice ***", "C: a2 SELECT INBOX", "S: a1 OK done", "S: * 3 EXISTS", "S: a2 OK [READ-WRITE] done"},
		},
		{
			name:   "login quoted",
			chunks: []string{`a1 login "al\"ice" "p w"` + "\r\n", "a1 OK\r\n"},
			want:   []string{`C: a1 login "al\"ice" ***`, "S: a1 OK"},
		},
		{
			name:   "login with literals across writes",
			chunks: []string{"a1 LOGIN {5}\r\n", "+ Ready\r\n", "ali", "ce {6}\r\n", "+ Ready\r\n", "sec", "ret\r\n", "a1 OK done\r\n"},
			want:   []string{"C: a1 LOGIN {5}", "S: + Ready", "C: alice ***", "S: + Ready", "C: ***", "S: a1 OK done"},
		},
		{
			name:   "login non-synchronizing literal password",
			chunks: []string{"a1 LOGIN alice {6+}\r\nsecret\r\n", "a1 OK done\r\n"},
			want:   []string{"C: a1 LOGIN alice ***", "C: ***", "S: a1 OK done"},
		},
		{
			name:   "authenticate with initial response",
			chunks: []string{"a1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n", "a1 OK done\r\n", "a2 NOOP\r\n"},
			want:   []string{"C: a1 AUTHENTICATE PLAIN ***", "S: a1 OK done", "C: a2 NOOP"},
		},
		{
			name:   "authenticate with continuation",
			chunks: []string{"a1 AUTHENTICATE PLAIN\r\n", "+ \r\n", "AGFsaWNlAHNlY3JldA==\r\n", "a1 NO failed\r\n", "a2 NOOP\r\n"},
			want:   []string{"C: a1 AUTHENTICATE PLAIN", "S: + ", "C: ***", "S: a1 NO failed", "C: a2 NOOP"},
		},
		{
			name: "append synchronizing literal across writes",
			chunks: []string{"a1 APPEND INBOX (\\Seen) {150}\r\n", "+ Ready for literal data\r\n",
				lit[:40], "* OK looks like a response\r\n" + lit[40+28:], "\r\n", "a1 OK [APPENDUID 1 1] done\r\n"},
			want: []string{"C: a1 APPEND INBOX (\\Seen) {150}", "S: + Ready for literal data", "C: <literal 150 octets>", "S: a1 OK [APPENDUID 1 1] done"},
		},
		{
			name:   "refused literal is not read",
			chunks: []string{"a1 APPEND INBOX {99999999}\r\n", "a1 NO [TOOBIG] too big\r\n", "a2 NOOP\r\n", "a2 OK\r\n"},
			want:   []string{"C: a1 APPEND INBOX {99999999}", "S: a1 NO [TOOBIG] too big", "C: a2 NOOP", "S: a2 OK"},
		},
		{
			name: "fetch literal split over server writes",
			chunks: []string{"a1 FETCH 1 BODY[]\r\n", "* 1 FETCH (BODY[] {150}\r\n" + lit[:10], lit[10:100], lit[100:] + " UID 1)\r\n",
				"a1 OK done\r\n"},
			want: []string{"C: a1 FETCH 1 BODY[]", "S: * 1 FETCH (BODY[] {150}", "S: <literal 150 octets> UID 1)", "S: a1 OK done"},
		},
		{
			name:   "short literal shown",
			chunks: []string{"a1 SELECT {5}\r\n", "+ go\r\n", "INBOX\r\n", "a1 OK\r\n"},
			want:   []string{"C: a1 SELECT {5}", "S: + go", "C: INBOX", "S: a1 OK"},
		},
		{
			name:   "client line split; tail looks untagged but nothing is outstanding",
			chunks: []string{"a1 FETCH 1:", "* FLAGS\r\n", "a1 OK\r\n"},
			want:   []string{"C: a1 FETCH 1:* FLAGS", "S: a1 OK"},
		},
		{
			name:   "idle DONE while an update is half written",
			chunks: []string{"a1 IDLE\r\n", "+ idling\r\n", "* 1 FETCH (BODY[] {150}\r\n" + lit[:50], "DONE\r\n", lit[50:] + ")\r\n", "a1 OK done\r\n"},
			want:   []string{"C: a1 IDLE", "S: + idling", "S: * 1 FETCH (BODY[] {150}", "C: DONE", "S: <literal 150 octets>)", "S: a1 OK done"},
		},
		{
			name:   "unfinished at close",
			chunks: []string{"a1 APPEND INBOX {150+}\r\n", lit[:20]},
			want:   []string{"C: a1 APPEND INBOX {150+}", "C: <literal 20 of 150 octets, incomplete>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check(t, render(t, newIMAP, tt.chunks), tt.want)
		})
	}
}

func TestRecorderLimits(t *testing.T) {
	t.Parallel()
	var ended []string
	r := NewRecorder(Limits{Sessions: 2, Lines: 8, LineBytes: 10}, func(s Snapshot) { ended = append(ended, s.ID) })
	for i := range 3 {
		r.Start(fmt.Sprint(i), "smtp", "")
	}
	if r.Session("0") != nil || r.Session("1") == nil || r.Forgotten() != 1 {
		t.Fatalf("oldest session not evicted")
	}
	s := r.Session("2")
	for i := range 20 {
		s.Add(i%2 == 0, fmt.Sprint("line ", i))
	}
	s.Add(true, "ééééééééé")
	s.End()
	s.End()
	snap := s.Snapshot()
	var got []string
	for _, l := range snap.Lines {
		got = append(got, l.Text)
	}
	want := []string{"line 0", "line 1", "<14 lines omitted>", "line 16", "line 17", "line 18", "line 19", "ééééé… (18 bytes)"}
	check(t, got, want)
	if !snap.Truncated || !snap.Ended || len(ended) != 1 || ended[0] != "2" {
		t.Errorf("truncated %v ended %v onEnd %v", snap.Truncated, snap.Ended, ended)
	}
	r.Note("2", "<note>")
	r.Note("missing", "<note>")
	if l := r.Session("2").Snapshot().Lines; l[len(l)-1].Text != "<note>" {
		t.Errorf("note missing: %v", l[len(l)-1])
	}
	if n := len(r.Snapshots()); n != 2 {
		t.Errorf("Snapshots: %d", n)
	}
}

// A long line keeps its first bytes, and a literal marker after the cut is
// still seen.
func TestIMAPLongLine(t *testing.T) {
	t.Parallel()
	r := NewRecorder(Limits{LineBytes: 20}, nil)
	s := r.Start("x", "imap", "")
	w := NewIMAP(s)
	io.WriteString(w, "a1 APPEND INBOX (\\Seen \\Flagged \\Draft) {3+}\r\nabc\r\n")
	w.Close()
	lines := s.Snapshot().Lines
	if len(lines) != 2 || lines[0].Text != "a1 APPEND INBOX (\\Se… (44 bytes)" || lines[1].Text != "abc" {
		t.Errorf("lines: %+v", lines)
	}
}

func BenchmarkSMTPData(b *testing.B) {
	r := NewRecorder(Limits{}, nil)
	chunk := []byte(strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing\r\n", 78)) // ~4 KiB
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	s := r.Start("x", "smtp", "")
	w := NewSMTP(s)
	w.Write([]byte("354 go\r\n"))
	for range b.N {
		w.Write(chunk)
	}
}

// TestCutLineKeepsCharactersWhole: a line cut for length never ends inside
// a UTF-8 character, whether the writer or the session makes the cut.
func TestCutLineKeepsCharactersWhole(t *testing.T) {
	t.Parallel()
	r := NewRecorder(Limits{LineBytes: 10}, nil)
	s := r.Start("id", "smtp", "")
	w := NewSMTP(s)
	w.Write([]byte("250 abcdeé and more\r\n")) // é spans bytes 9 and 10
	s.Add(true, "123456789é")                  // cut by the session
	for _, l := range s.Snapshot().Lines {
		if !utf8.ValidString(l.Text) {
			t.Errorf("line %q ends inside a character", l.Text)
		}
	}
	if got := s.Snapshot().Lines[0].Text; got != "250 abcde… (20 bytes)" {
		t.Errorf("cut line = %q", got)
	}
}

// TestReuseForgotten: a new session may take the buffers of an ended one
// it pushes out; neither the new one nor a kept one is disturbed, and the
// forgotten one, still held, reads as empty.
func TestReuseForgotten(t *testing.T) {
	t.Parallel()
	r := NewRecorder(Limits{Sessions: 2, Lines: 8}, nil)
	a := r.Start("a", "smtp", "")
	for i := 0; i < 12; i++ { // into the tail ring too
		a.Add(true, fmt.Sprintf("a%d", i))
	}
	a.End()
	b := r.Start("b", "smtp", "")
	b.Add(false, "b0")
	c := r.Start("c", "smtp", "") // forgets a, takes its buffers
	c.Add(true, "c0")
	c.Add(false, "c1")
	texts := func(s *Session) []string {
		var out []string
		for _, l := range s.Snapshot().Lines {
			out = append(out, l.Text)
		}
		return out
	}
	if got := texts(c); strings.Join(got, ",") != "c0,c1" {
		t.Errorf("c: %q", got)
	}
	if got := texts(b); strings.Join(got, ",") != "b0" {
		t.Errorf("b: %q", got)
	}
	got := texts(a) // must not panic
	for _, l := range got {
		if strings.HasPrefix(l, "c") {
			t.Errorf("a shows c's line: %q", got)
		}
	}
	if r.Session("a") != nil {
		t.Error("a is still kept")
	}
}
