package pop3

import (
	"fmt"
	"strings"
	"testing"
)

func TestByteStuffingRoundTrip(t *testing.T) {
	t.Parallel()
	msgs := []string{
		".first line starts with a dot\r\n\r\n.\r\n..two\r\nmiddle\r\n.\r\n",
		"Subject: no trailing CRLF\r\n\r\n.body without end",
		"",
		".",
		"\r\n",
		"Subject: x\r\n\r\nbare\nLF .\n.\n",
	}
	b := newFakeBackend()
	b.addUser("u", "p", msgs...)
	_, addr := startServer(t, b, Options{})
	c := dial(t, addr)
	runSteps(t, c, []step{{"USER u", `\+OK.*`, nil}, {"PASS p", `\+OK.*`, nil}})
	for i, m := range msgs {
		n := i + 1
		if got := c.cmd(fmt.Sprintf("LIST %d", n)); got != fmt.Sprintf("+OK %d %d", n, len(m)) {
			t.Errorf("LIST %d = %q, want size %d", n, got, len(m))
		}
		if got := c.cmd(fmt.Sprintf("RETR %d", n)); got != fmt.Sprintf("+OK %d octets", len(m)) {
			t.Fatalf("RETR %d = %q", n, got)
		}
		want := m
		if want != "" && !strings.HasSuffix(want, "\n") {
			want += "\r\n"
		}
		if got := string(c.readMulti()); got != want {
			t.Errorf("RETR %d round trip:\n got %q\nwant %q", n, got, want)
		}
	}
}

func TestStuffedWireFormat(t *testing.T) {
	t.Parallel()
	b := newFakeBackend()
	b.addUser("u", "p", ".a\r\nb\r\n.\r\n")
	_, addr := startServer(t, b, Options{})
	c := dial(t, addr)
	runSteps(t, c, []step{{"USER u", `\+OK.*`, nil}, {"PASS p", `\+OK.*`, nil}, {"RETR 1", `\+OK 10 octets`, nil}})
	var raw []string
	for range 4 {
		raw = append(raw, c.readLine())
	}
	if want := []string{"..a", "b", "..", "."}; strings.Join(raw, "|") != strings.Join(want, "|") {
		t.Errorf("wire lines %q, want %q", raw, want)
	}
}

func TestTop(t *testing.T) {
	t.Parallel()
	const m = "Subject: t\r\nX: y\r\n\r\n.b1\r\nb2\r\nb3\r\n"
	b := newFakeBackend()
	b.addUser("u", "p", m, "Subject: header only\r\nX: y\r\n", "no final newline\r\n\r\nbody")
	_, addr := startServer(t, b, Options{})
	c := dial(t, addr)
	runSteps(t, c, []step{
		{"USER u", `\+OK.*`, nil},
		{"PASS p", `\+OK.*`, nil},
		{"TOP 1 0", `\+OK.*`, []string{"Subject: t", "X: y", ""}},
		{"TOP 1 1", `\+OK.*`, []string{"Subject: t", "X: y", "", ".b1"}},
		{"TOP 1 2", `\+OK.*`, []string{"Subject: t", "X: y", "", ".b1", "b2"}},
		{"TOP 1 3", `\+OK.*`, []string{"Subject: t", "X: y", "", ".b1", "b2", "b3"}},
		{"TOP 1 100", `\+OK.*`, []string{"Subject: t", "X: y", "", ".b1", "b2", "b3"}},
		{"TOP 1 99999999999999999999999999", `\+OK.*`, []string{"Subject: t", "X: y", "", ".b1", "b2", "b3"}},
		{"TOP 2 5", `\+OK.*`, []string{"Subject: header only", "X: y"}},
		{"TOP 3 0", `\+OK.*`, []string{"no final newline", ""}},
		{"TOP 3 1", `\+OK.*`, []string{"no final newline", "", "body"}},
		{"TOP 4 1", `-ERR no such message`, nil},
	})
}

func TestTopLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 0, ""},
		{"\r\nbody\r\n", 0, "\r\n"},
		{"\r\nbody\r\n", 1, "\r\nbody\r\n"},
		{"H: 1\r\n\r\na\r\nb", 1, "H: 1\r\n\r\na\r\n"},
		{"H: 1\r\n\r\na\r\nb", 2, "H: 1\r\n\r\na\r\nb"},
		{"H: 1\n\nb\n", 0, "H: 1\n\n"},
		{"H: 1", 3, "H: 1"},
	}
	for _, tc := range tests {
		if got := string(topLines([]byte(tc.in), tc.n)); got != tc.want {
			t.Errorf("topLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestRetrievedOnlyAfterWholeMessage(t *testing.T) {
	t.Parallel()
	b := newFakeBackend()
	u := b.addUser("u", "p", strings.Repeat("x", 100)+"\r\n")
	_, addr := startServer(t, b, Options{})
	c := dial(t, addr)
	runSteps(t, c, []step{{"USER u", `\+OK.*`, nil}, {"PASS p", `\+OK.*`, nil}, {"TOP 1 5", `\+OK.*`, []string{strings.Repeat("x", 100)}}})
	b.mu.Lock()
	if len(u.retrieved) != 0 {
		t.Errorf("TOP marked retrieved: %v", u.retrieved)
	}
	u.msgs[0].gone = true
	b.mu.Unlock()
	runSteps(t, c, []step{{"RETR 1", `-ERR message 1 no longer exists`, nil}})
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(u.retrieved) != 0 {
		t.Errorf("retrieved %v", u.retrieved)
	}
}
