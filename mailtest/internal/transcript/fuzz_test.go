package transcript

import (
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzWrite splits data into writes at the 0xFF bytes in it (dropped), as
// reads and writes of a connection would split it, and checks the
// transcript's invariants: no panic, lines and sessions within the limits,
// no line cut inside a UTF-8 character, nothing recorded after Close. More
// seeds are in testdata/fuzz.
func fuzzWrite(t *testing.T, newW func(*Session) io.WriteCloser, data []byte) {
	r := NewRecorder(Limits{Lines: 40, LineBytes: 64}, nil)
	s := r.Start("f", "fuzz", "")
	w := newW(s)
	for _, chunk := range strings.Split(string(data), "\xff") {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	w.Close()
	w.Write([]byte("after close\r\n"))
	snap := s.Snapshot()
	if len(snap.Lines) > 40 {
		t.Fatalf("%d lines", len(snap.Lines))
	}
	for _, l := range snap.Lines {
		if len(l.Text) > 64+len("… (18446744073709551615 bytes)") {
			t.Fatalf("line of %d bytes", len(l.Text))
		}
		if l.Text == "after close" {
			t.Fatalf("line recorded after Close")
		}
		// A line cut for length must not end inside a character. (The
		// protocol itself may split one: "BDAT 1" takes a single octet.)
		if i := strings.LastIndex(l.Text, "… ("); i >= 0 && strings.HasSuffix(l.Text, " bytes)") {
			if kept := l.Text[:i]; utf8.ValidString(string(data)) && !utf8.ValidString(kept) {
				t.Fatalf("line cut inside a character: %q", l.Text)
			}
		}
	}
}

func FuzzSMTP(f *testing.F) {
	f.Add([]byte("220 hi\r\n\xffEHLO x\r\n\xff250 ok\r\n\xffAUTH PLAIN c2VjcmV0\r\n\xff235 ok\r\n"))
	f.Add([]byte("354 go\r\n\xffa\r\n.\xff\r\nQUIT\r\n\xff221 bye\r\n"))
	f.Add([]byte("BDAT 3\r\nab\xffcBDAT 2 LAST\r\n\xffxy\xff250 ok\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWrite(t, newSMTP, data) })
}

func FuzzIMAP(f *testing.F) {
	f.Add([]byte("* OK hi\r\n\xffa1 LOGIN {5}\r\n\xff+ go\r\n\xffalice {7}\r\n\xff+ go\r\n\xffhunter2\r\n\xffa1 OK\r\n"))
	f.Add([]byte("a1 FETCH 1 BODY[]\r\n\xff* 1 FETCH (BODY[] {10}\r\n01234\xff56789)\r\n\xffa1 OK\r\n"))
	f.Add([]byte("a1 IDLE\r\n\xff+ idling\r\n\xffDONE\r\n\xffa1 OK\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWrite(t, newIMAP, data) })
}
