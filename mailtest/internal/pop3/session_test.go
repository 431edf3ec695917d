package pop3

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

const (
	msg1 = "Subject: one\r\n\r\nhello\r\n"
	msg2 = "Subject: two\r\nX: y\r\n\r\nline1\r\nline2\r\nline3\r\n"
)

// step is one client line and the expected reply: a regexp for the status
// line and, for multi-line replies, the exact body lines.
type step struct {
	send string
	want string   // regexp matched against the whole status line
	body []string // non-nil: a multi-line body follows
}

func runSteps(t *testing.T, c *client, steps []step) {
	t.Helper()
	for _, st := range steps {
		got := c.cmd(st.send)
		if !regexp.MustCompile("^(?:" + st.want + ")$").MatchString(got) {
			t.Fatalf("C: %s\nS: %s\nwant /%s/", st.send, got, st.want)
		}
		if st.body != nil {
			if gl := lines(c.readMulti()); strings.Join(gl, "|") != strings.Join(st.body, "|") {
				t.Fatalf("C: %s\nbody %q\nwant %q", st.send, gl, st.body)
			}
		}
	}
}

func newTestBackend() *fakeBackend {
	b := newFakeBackend()
	b.addUser("alice", "secret word", msg1, msg2)
	b.addUser("bob", "pw")
	b.addUser("broken", "pw").broken = true
	return b
}

var loginAlice = []step{
	{"USER alice", `\+OK.*`, nil},
	{"PASS secret word", `\+OK maildrop has 2 messages \(66 octets\)`, nil},
}

func TestTranscripts(t *testing.T) {
	t.Parallel()
	capa := []string{"TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "SASL PLAIN", "IMPLEMENTATION mailrig"}
	tests := []struct {
		name  string
		steps []step
	}{
		{"capa", []step{{"CAPA", `\+OK.*`, capa}}},
		{"capa lower case", []step{{"capa", `\+OK.*`, capa}}},
		{"quit in authorization", []step{{"QUIT", `\+OK bye`, nil}}},
		{"unknown", []step{{"FROB", `-ERR unknown command`, nil}}},
		{"empty line", []step{{"", `-ERR invalid command.*`, nil}}},
		{"keyword with digits", []step{{"US3R x", `-ERR invalid command.*`, nil}}},
		{"transaction command before login", []step{
			{"STAT", `-ERR not logged in`, nil},
			{"LIST", `-ERR not logged in`, nil},
			{"RETR 1", `-ERR not logged in`, nil},
			{"NOOP", `-ERR not logged in`, nil},
		}},
		{"pass without user", []step{{"PASS x", `-ERR USER first`, nil}}},
		{"user without name", []step{{"USER", `-ERR usage: USER name`, nil}}},
		{"pass without password", []step{{"USER alice", `\+OK.*`, nil}, {"PASS", `-ERR usage.*`, nil}}},
		{"wrong password", []step{{"USER alice", `\+OK.*`, nil}, {"PASS nope", `-ERR \[AUTH\] invalid credentials`, nil}}},
		{"unknown user", []step{{"USER mallory", `\+OK.*`, nil}, {"PASS x", `-ERR \[AUTH\] .*`, nil}}},
		{"backend error", []step{{"USER broken", `\+OK.*`, nil}, {"PASS pw", `-ERR \[SYS/TEMP\] .*`, nil}}},
		{"user then other command resets", []step{
			{"USER alice", `\+OK.*`, nil}, {"CAPA", `\+OK.*`, capa}, {"PASS secret word", `-ERR USER first`, nil},
		}},
		{"pass consumes user", []step{
			{"USER alice", `\+OK.*`, nil}, {"PASS bad", `-ERR \[AUTH\].*`, nil}, {"PASS secret word", `-ERR USER first`, nil},
		}},
		{"apop bad syntax", []step{{"APOP alice", `-ERR usage.*`, nil}, {"APOP alice nothex", `-ERR usage.*`, nil}}},
		{"apop wrong digest", []step{{"APOP alice " + strings.Repeat("0", 32), `-ERR \[AUTH\] .*`, nil}}},
		{"auth list", []step{{"AUTH", `\+OK.*`, []string{"PLAIN"}}}},
		{"auth unknown mechanism", []step{{"AUTH CRAM-MD5", `-ERR unsupported SASL mechanism`, nil}}},
		{"auth bad base64", []step{{"AUTH PLAIN !!!", `-ERR invalid base64.*`, nil}}},
		{"auth plain wrong", []step{{"AUTH PLAIN " + b64("\x00alice\x00bad"), `-ERR \[AUTH\] .*`, nil}}},
		{"auth plain other authzid", []step{{"AUTH PLAIN " + b64("bob\x00alice\x00secret word"), `-ERR \[AUTH\] .*`, nil}}},
		{"auth plain malformed", []step{{"AUTH PLAIN " + b64("alice"), `-ERR \[AUTH\] .*`, nil}}},
		{"stls not configured", []step{{"STLS", `-ERR STLS not available`, nil}}},
		{"transaction", append(append([]step{}, loginAlice...), []step{
			{"STAT", `\+OK 2 66`, nil},
			{"LIST", `\+OK 2 messages \(66 octets\)`, []string{"1 23", "2 43"}},
			{"LIST 2", `\+OK 2 43`, nil},
			{"UIDL", `\+OK.*`, []string{"1 uid-101", "2 uid-102"}},
			{"UIDL 1", `\+OK 1 uid-101`, nil},
			{"LIST 0", `-ERR no such message`, nil},
			{"LIST 3", `-ERR no such message`, nil},
			{"LIST -1", `-ERR invalid message number`, nil},
			{"LIST +1", `-ERR invalid message number`, nil},
			{"LIST 99999999999999999999999", `-ERR no such message`, nil},
			{"LIST 1 2", `-ERR usage.*`, nil},
			{"RETR", `-ERR usage: RETR msg`, nil},
			{"RETR x", `-ERR invalid message number`, nil},
			{"TOP 1", `-ERR usage: TOP msg lines`, nil},
			{"TOP 1 x", `-ERR invalid line count`, nil},
			{"TOP 1 -1", `-ERR invalid line count`, nil},
			{"NOOP", `\+OK`, nil},
			{"NOOP x", `-ERR.*`, nil},
			{"STAT x", `-ERR.*`, nil},
			{"RSET x", `-ERR.*`, nil},
			{"USER alice", `-ERR already logged in`, nil},
			{"STLS", `-ERR already logged in`, nil},
			{"CAPA", `\+OK.*`, capa},
			{"DELE 1", `\+OK message 1 deleted`, nil},
			{"DELE 1", `-ERR message 1 already deleted`, nil},
			{"RETR 1", `-ERR message 1 already deleted`, nil},
			{"TOP 1 0", `-ERR message 1 already deleted`, nil},
			{"LIST 1", `-ERR message 1 already deleted`, nil},
			{"UIDL 1", `-ERR message 1 already deleted`, nil},
			{"STAT", `\+OK 1 43`, nil},
			{"LIST", `\+OK 1 messages \(43 octets\)`, []string{"2 43"}},
			{"UIDL", `\+OK.*`, []string{"2 uid-102"}},
			{"RSET", `\+OK maildrop has 2 messages \(66 octets\)`, nil},
			{"STAT", `\+OK 2 66`, nil},
			{"RETR 1", `\+OK 23 octets`, []string{"Subject: one", "", "hello"}},
			{"rEtR 2", `\+OK 43 octets`, []string{"Subject: two", "X: y", "", "line1", "line2", "line3"}},
			{"QUIT", `\+OK bye \(0 messages deleted\)`, nil},
		}...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, addr := startServer(t, newTestBackend(), Options{Hostname: "pop.test", MaxBadCommands: 1000})
			c := dial(t, addr)
			if !regexp.MustCompile(`^\+OK mailrig POP3 server ready <\d+\.\d+@pop\.test>$`).MatchString(c.greeting) {
				t.Fatalf("greeting %q", c.greeting)
			}
			runSteps(t, c, tc.steps)
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestQuitCommitsDeletions(t *testing.T) {
	t.Parallel()
	b := newTestBackend()
	_, addr := startServer(t, b, Options{})
	c := dial(t, addr)
	runSteps(t, c, append(loginAlice,
		step{"DELE 2", `\+OK.*`, nil},
		step{"RETR 1", `\+OK 23 octets`, []string{"Subject: one", "", "hello"}},
		step{"QUIT", `\+OK bye \(1 messages deleted\)`, nil},
	))
	c.expectClosed()
	u := b.user("alice")
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(u.commits) != 1 || len(u.commits[0]) != 1 || u.commits[0][0] != 102 {
		t.Errorf("commits %v", u.commits)
	}
	if len(u.retrieved) != 1 || u.retrieved[0] != 101 {
		t.Errorf("retrieved %v", u.retrieved)
	}
	if b.closes != 1 || u.locked {
		t.Errorf("closes %d locked %v", b.closes, u.locked)
	}
}

func TestCommitFailure(t *testing.T) {
	t.Parallel()
	b := newTestBackend()
	b.user("alice").failCommit = true
	_, addr := startServer(t, b, Options{})
	c := dial(t, addr)
	runSteps(t, c, append(loginAlice, step{"DELE 1", `\+OK.*`, nil}, step{"QUIT", `-ERR \[SYS/TEMP\] .*`, nil}))
	c.expectClosed()
}

func TestDropWithoutQuitDeletesNothing(t *testing.T) {
	t.Parallel()
	b := newTestBackend()
	_, addr := startServer(t, b, Options{})
	c := dial(t, addr)
	runSteps(t, c, append(loginAlice, step{"DELE 1", `\+OK.*`, nil}))
	c.conn.Close()
	// A second session can lock the maildrop once the first one is gone.
	b.waitCloses(t, 1)
	c2 := dial(t, addr)
	runSteps(t, c2, append(loginAlice, step{"STAT", `\+OK 2 66`, nil}))
	b.mu.Lock()
	defer b.mu.Unlock()
	if u := b.users["alice"]; len(u.commits) != 0 {
		t.Errorf("commits %v", u.commits)
	}
}

func TestInUse(t *testing.T) {
	t.Parallel()
	b := newTestBackend()
	_, addr := startServer(t, b, Options{})
	c1 := dial(t, addr)
	runSteps(t, c1, loginAlice)
	c2 := dial(t, addr)
	runSteps(t, c2, []step{
		{"USER alice", `\+OK.*`, nil},
		{"PASS secret word", `-ERR \[IN-USE\] .*`, nil},
	})
	runSteps(t, c1, []step{{"QUIT", `\+OK.*`, nil}})
	c1.expectClosed()
	runSteps(t, c2, loginAlice)
}

func TestAPOP(t *testing.T) {
	t.Parallel()
	b := newTestBackend()
	tr := &transcript{}
	_, addr := startServer(t, b, Options{Trace: tr.trace})
	c := dial(t, addr)
	ts := regexp.MustCompile(`<[^>]+>`).FindString(c.greeting)
	d := apopDigest(ts, "secret word")
	runSteps(t, c, []step{{"APOP alice " + strings.ToUpper(d), `\+OK maildrop has 2 messages.*`, nil}})
	if strings.Contains(strings.ToLower(tr.String()), d) {
		t.Errorf("digest leaked into transcript:\n%s", tr)
	}
	if !strings.Contains(tr.String(), "C: APOP alice ****") {
		t.Errorf("transcript:\n%s", tr)
	}
}

func TestAuthPlain(t *testing.T) {
	t.Parallel()
	tr := &transcript{}
	_, addr := startServer(t, newTestBackend(), Options{Trace: tr.trace})

	t.Run("initial response", func(t *testing.T) {
		c := dial(t, addr)
		runSteps(t, c, []step{
			{"AUTH PLAIN " + b64("\x00alice\x00secret word"), `\+OK maildrop has 2 messages.*`, nil},
			{"QUIT", `\+OK.*`, nil},
		})
		c.expectClosed() // the maildrop is unlocked before the server hangs up
	})
	t.Run("authzid equals authcid", func(t *testing.T) {
		c := dial(t, addr)
		runSteps(t, c, []step{
			{"auth plain " + b64("alice\x00alice\x00secret word"), `\+OK maildrop.*`, nil},
			{"QUIT", `\+OK.*`, nil},
		})
		c.expectClosed() // the maildrop is unlocked before the server hangs up
	})
	t.Run("continuation", func(t *testing.T) {
		c := dial(t, addr)
		runSteps(t, c, []step{
			{"AUTH PLAIN", `\+ `, nil},
			{b64("\x00alice\x00secret word"), `\+OK maildrop.*`, nil},
			{"QUIT", `\+OK.*`, nil},
		})
		c.expectClosed() // the maildrop is unlocked before the server hangs up
	})
	t.Run("empty initial response", func(t *testing.T) {
		c := dial(t, addr)
		runSteps(t, c, []step{{"AUTH PLAIN =", `-ERR \[AUTH\].*`, nil}})
	})
	t.Run("cancel", func(t *testing.T) {
		c := dial(t, addr)
		runSteps(t, c, []step{
			{"AUTH PLAIN", `\+ `, nil},
			{"*", `-ERR authentication cancelled`, nil},
			{"NOOP", `-ERR not logged in`, nil},
		})
	})
	t.Run("bad continuation", func(t *testing.T) {
		c := dial(t, addr)
		runSteps(t, c, []step{
			{"AUTH PLAIN", `\+ `, nil},
			{"%%%", `-ERR invalid base64.*`, nil},
			{"AUTH PLAIN", `\+ `, nil},
			{b64("\x00alice\x00wrong"), `-ERR \[AUTH\].*`, nil},
		})
	})
	got := tr.String()
	for _, secret := range []string{"secret", b64("\x00alice\x00secret word"), b64("\x00alice\x00wrong")} {
		if strings.Contains(got, secret) {
			t.Errorf("transcript leaks %q:\n%s", secret, got)
		}
	}
	for _, want := range []string{"C: AUTH PLAIN ****", "C: auth plain ****", "C: ****", "S: + ", "C: *"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("transcript lacks %q:\n%s", want, got)
		}
	}
}

func TestTranscriptMasksPassAndSummarisesBodies(t *testing.T) {
	t.Parallel()
	tr := &transcript{}
	_, addr := startServer(t, newTestBackend(), Options{Trace: tr.trace})
	c := dial(t, addr)
	runSteps(t, c, append(loginAlice,
		step{"RETR 2", `\+OK 43 octets`, []string{"Subject: two", "X: y", "", "line1", "line2", "line3"}},
		step{"pass oops", `-ERR already logged in`, nil},
		step{"QUIT", `\+OK.*`, nil},
	))
	c.expectClosed()
	got := tr.String()
	want := strings.Join([]string{
		"C: USER alice",
		"S: +OK send PASS",
		"C: PASS ****",
		"S: +OK maildrop has 2 messages (66 octets)",
		"C: RETR 2",
		"S: +OK 43 octets",
		"S: <message 43 octets>",
		"S: .",
		"C: pass ****",
		"S: -ERR already logged in",
		"C: QUIT",
		"S: +OK bye (0 messages deleted)",
	}, "\n")
	if !strings.HasSuffix(got, want) || strings.Contains(got, "secret") {
		t.Errorf("transcript:\n%s\nwant suffix:\n%s", got, want)
	}
}
