package pop3

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrig/mailrig/mailtest/internal/fault"
)

func TestLineLengthLimit(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, newTestBackend(), Options{})
	c := dial(t, addr)
	runSteps(t, c, []step{
		{"USER " + strings.Repeat("a", 250), `\+OK.*`, nil}, // 255 octets: allowed
		{"USER " + strings.Repeat("a", 251), `-ERR command line too long`, nil},
		{strings.Repeat("x", 300), `-ERR command line too long`, nil},
	})
	// A huge line is drained, not buffered, and the session carries on.
	huge := bytes.Repeat([]byte("A"), 4<<20)
	go func() { _, _ = c.conn.Write(append(huge, "\r\n"...)) }()
	if got := c.readLine(); got != "-ERR command line too long" {
		t.Fatalf("got %q", got)
	}
	runSteps(t, c, []step{{"NOOP", `-ERR not logged in`, nil}})
	runSteps(t, c, loginAlice)
}

func TestGarbage(t *testing.T) {
	t.Parallel()
	tr := &transcript{}
	_, addr := startServer(t, newTestBackend(), Options{Trace: tr.trace, MaxBadCommands: 100})
	c := dial(t, addr)
	runSteps(t, c, []step{
		{"US\x00ER alice", `-ERR invalid command: .*`, nil},
		{"USER al\x00ice", `-ERR invalid command: control character.*`, nil},
		{"USER \xff\xfe", `-ERR invalid command: .*UTF-8`, nil},
		{"\xc3\xa9", `-ERR invalid command.*`, nil},
		{"USER ali\tce", `-ERR invalid command.*`, nil},
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", `-ERR invalid command.*`, nil},
		{"PASS secret\x00word", `-ERR invalid command.*`, nil},
		{"USER alice", `\+OK.*`, nil},
	})
	if got := tr.String(); strings.Contains(got, "\x00") || strings.Contains(got, "secret") {
		t.Errorf("transcript has raw bytes or secrets:\n%q", got)
	}
}

func TestBareLF(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, newTestBackend(), Options{})
	c := dial(t, addr)
	if _, err := c.conn.Write([]byte("USER alice\nPASS secret word\n")); err != nil {
		t.Fatal(err)
	}
	c.readLine()
	if got := c.readLine(); !strings.HasPrefix(got, "+OK maildrop") {
		t.Fatalf("got %q", got)
	}
}

func TestTooManyBadCommands(t *testing.T) {
	t.Parallel()
	b := newTestBackend()
	_, addr := startServer(t, b, Options{})
	c := dial(t, addr)
	runSteps(t, c, loginAlice)
	for i := 1; i < DefaultMaxBadCommands; i++ {
		if got := c.cmd("BOGUS"); got != "-ERR unknown command" {
			t.Fatalf("bad command %d: %q", i, got)
		}
	}
	if got := c.cmd("BOGUS"); got != "-ERR too many bad commands" {
		t.Fatalf("got %q", got)
	}
	c.expectClosed()
	b.waitCloses(t, 1)
}

func TestPipelining(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, newTestBackend(), Options{})
	c := dial(t, addr)
	c.send("USER alice\r\nPASS secret word\r\nSTAT\r\nRETR 1\r\nLIST\r\nDELE 1\r\nSTAT\r\nQUIT")
	want := []string{
		"+OK send PASS", "+OK maildrop has 2 messages (66 octets)", "+OK 2 66",
		"+OK 23 octets", "Subject: one", "", "hello", ".",
		"+OK 2 messages (66 octets)", "1 23", "2 43", ".",
		"+OK message 1 deleted", "+OK 1 43", "+OK bye (1 messages deleted)",
	}
	for i, w := range want {
		if got := c.readLine(); got != w {
			t.Fatalf("reply line %d = %q, want %q", i, got, w)
		}
	}
	c.expectClosed()
}

// TestPipelinedRepliesBatch checks that replies to pipelined commands leave
// in one write, not one per command.
func TestPipelinedRepliesBatch(t *testing.T) {
	t.Parallel()
	b := newTestBackend()
	srv := NewServer(b, Options{})
	conn := newMemConn("USER alice\r\nPASS secret word\r\nSTAT\r\nLIST\r\nUIDL\r\nQUIT\r\n")
	newSession(srv, conn).serve()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// One write for the greeting (the reader is empty then), one for the rest.
	if conn.writes != 2 {
		t.Errorf("%d writes, want 2; output:\n%s", conn.writes, conn.out.String())
	}
	if !strings.HasSuffix(conn.out.String(), "+OK bye (0 messages deleted)\r\n") {
		t.Errorf("output:\n%s", conn.out.String())
	}
}

func TestClientVanishesMidRETR(t *testing.T) {
	t.Parallel()
	b := newFakeBackend()
	b.addUser("u", "p", strings.Repeat("0123456789abcdef\r\n", 1<<20)) // 18 MiB
	srv, addr := startServer(t, b, Options{})
	c := dial(t, addr)
	runSteps(t, c, []step{{"USER u", `\+OK.*`, nil}, {"PASS p", `\+OK.*`, nil}, {"RETR 1", `\+OK \d+ octets`, nil}})
	buf := make([]byte, 64<<10)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		t.Fatal(err)
	}
	c.conn.Close()
	b.waitCloses(t, 1)
	done := make(chan struct{})
	go func() { _ = srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	u := b.user("u")
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(u.retrieved) != 0 || len(u.commits) != 0 {
		t.Errorf("retrieved %v commits %v", u.retrieved, u.commits)
	}
}

// TestCloseWithOpenSessions checks Close cuts every session, stuck ones
// included, and releases every maildrop.
func TestCloseWithOpenSessions(t *testing.T) {
	t.Parallel()
	b := newTestBackend()
	b.addUser("big", "p", strings.Repeat("x", 8<<20))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(b, Options{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()

	idle := dial(t, addr)
	loggedIn := dial(t, addr)
	runSteps(t, loggedIn, loginAlice)
	stuck := dial(t, addr) // asks for 8 MiB and never reads it
	runSteps(t, stuck, []step{{"USER big", `\+OK.*`, nil}, {"PASS p", `\+OK.*`, nil}})
	stuck.send("RETR 1")
	// The status line arrives once the server is writing the message; the
	// client reads nothing more, so the server blocks on the rest.
	if line := stuck.readLine(); !strings.HasPrefix(line, "+OK") {
		t.Fatalf("RETR: %q", line)
	}

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	idle.expectClosed()
	loggedIn.expectClosed()
	if logins, closes, errs := b.stats(); logins != 2 || closes != 2 || len(errs) != 0 {
		t.Errorf("logins %d closes %d errs %v", logins, closes, errs)
	}
	// Like net/http's, Serve after Close returns nil, closing ln.
	if err := srv.Serve(ln); err != nil {
		t.Errorf("Serve after Close = %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("listener still open")
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	t.Run("read", func(t *testing.T) {
		t.Parallel()
		_, addr := startServer(t, newTestBackend(), Options{ReadTimeout: 100 * time.Millisecond})
		c := dial(t, addr)
		if _, err := c.conn.Write([]byte("NOO")); err != nil {
			t.Fatal(err)
		}
		if got := c.readLine(); got != "-ERR [SYS/TEMP] timeout reading command" {
			t.Fatalf("got %q", got)
		}
		c.expectClosed()
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		b := newTestBackend()
		_, addr := startServer(t, b, Options{IdleTimeout: 100 * time.Millisecond})
		c := dial(t, addr)
		runSteps(t, c, append(loginAlice, step{"DELE 1", `\+OK.*`, nil}))
		if got := c.readLine(); got != "-ERR [SYS/TEMP] autologout: idle for too long" {
			t.Fatalf("got %q", got)
		}
		c.expectClosed()
		b.waitCloses(t, 1)
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.users["alice"].commits) != 0 {
			t.Error("autologout committed deletions")
		}
	})
	t.Run("sasl continuation", func(t *testing.T) {
		t.Parallel()
		_, addr := startServer(t, newTestBackend(), Options{IdleTimeout: 100 * time.Millisecond})
		c := dial(t, addr)
		runSteps(t, c, []step{{"AUTH PLAIN", `\+ `, nil}})
		if got := c.readLine(); !strings.HasPrefix(got, "-ERR [SYS/TEMP]") {
			t.Fatalf("got %q", got)
		}
		c.expectClosed()
	})
}

func TestIntercept(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	b := newTestBackend()
	b.addUser("big", "p", strings.Repeat("y", 10000))
	hook := func(s SessionInfo, cmd string, args []string) *fault.Action {
		mu.Lock()
		seen = append(seen, s.State.String()+":"+cmd+":"+s.Username)
		mu.Unlock()
		switch {
		case cmd == "STAT":
			return &fault.Action{Reply: "-ERR [SYS/TEMP] injected"}
		case cmd == "NOOP":
			return &fault.Action{Reply: "+OK fine, really"}
		case cmd == "DELE":
			return &fault.Action{Drop: true}
		case cmd == "UIDL":
			return &fault.Action{Delay: 20 * time.Millisecond, Reply: "-ERR [SYS/PERM] going away"}
		case cmd == "RETR" && len(args) == 1 && args[0] == "1":
			return &fault.Action{DropAfter: 1000}
		}
		return nil
	}
	_, addr := startServer(t, b, Options{Intercept: hook})

	c := dial(t, addr)
	runSteps(t, c, append(loginAlice,
		step{"STAT", `-ERR \[SYS/TEMP\] injected`, nil},
		step{"NOOP", `\+OK fine, really`, nil},
	))
	c.send("DELE 1")
	c.expectClosed()

	c = dial(t, addr)
	start := time.Now()
	runSteps(t, c, append(loginAlice, step{"UIDL", `-ERR \[SYS/PERM\] going away`, nil}))
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("UIDL answered after %v, want a 20ms delay", d)
	}
	c.conn.Close() // without QUIT: nothing is committed

	c = dial(t, addr)
	runSteps(t, c, []step{{"USER big", `\+OK.*`, nil}, {"PASS p", `\+OK.*`, nil}})
	c.send("RETR 1")
	got, err := io.ReadAll(c.r)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1000 || !strings.HasPrefix(string(got), "+OK 10000 octets\r\nyyy") {
		t.Errorf("cut RETR read %d octets: %.40q", len(got), got)
	}
	b.waitCloses(t, 3)
	b.mu.Lock()
	if u := b.users["alice"]; len(u.commits) != 0 {
		t.Errorf("dropped session committed: %v", u.commits)
	}
	if u := b.users["big"]; len(u.retrieved) != 0 {
		t.Errorf("cut RETR counted as retrieved")
	}
	b.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if seen[0] != "AUTHORIZATION:CONNECT:" || !strings.Contains(strings.Join(seen, " "), "TRANSACTION:STAT:alice") {
		t.Errorf("hook saw %v", seen)
	}
}

func TestInterceptGreeting(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, newTestBackend(), Options{
		Intercept: func(s SessionInfo, cmd string, args []string) *fault.Action {
			if cmd == "CONNECT" {
				return &fault.Action{Reply: "-ERR [SYS/TEMP] maintenance"}
			}
			return nil
		},
	})
	c := dial(t, addr)
	if c.greeting != "-ERR [SYS/TEMP] maintenance" {
		t.Errorf("greeting %q", c.greeting)
	}
	c.expectClosed()
}

// TestInterceptDelayCutByClose checks a long fault delay does not stop
// Close from returning, and drops the connection.
func TestInterceptDelayCutByClose(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(newTestBackend(), Options{
		Intercept: func(s SessionInfo, cmd string, args []string) *fault.Action {
			if cmd == "NOOP" {
				close(entered)
				return &fault.Action{Delay: time.Hour, Reply: "+OK never"}
			}
			return nil
		},
	})
	go func() { _ = srv.Serve(ln) }()
	c := dial(t, ln.Addr().String())
	c.send("NOOP")
	<-entered
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	c.expectClosed() // without the delayed reply
}

func TestBackendPanicIsContained(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, addr := startServer(t, panicBackend{}, Options{Logger: logger})
	c := dial(t, addr)
	c.send("USER x")
	c.readLine()
	c.send("PASS y")
	c.expectClosed()
	// The server still serves.
	c = dial(t, addr)
	runSteps(t, c, []step{{"QUIT", `\+OK bye`, nil}})
	// Close returns once every session has ended, so the log is complete.
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "panic in session") {
		t.Errorf("the panic was not logged:\n%s", logs.String())
	}
}

type panicBackend struct{}

func (panicBackend) Login(context.Context, string, string, ConnInfo) (Maildrop, error) {
	panic("backend bug")
}

func (panicBackend) LoginAPOP(context.Context, string, string, string, ConnInfo) (Maildrop, error) {
	panic("backend bug")
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
