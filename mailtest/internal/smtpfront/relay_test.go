package smtpfront

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrig/mailrig/mailtest/internal/fault"
	"github.com/mailrig/mailrig/mailtest/internal/testcert"
	"github.com/mailrig/mailrig/memstore"
)

var allRelayHidden = []string{"PIPELINING", "SIZE", "CHUNKING", "8BITMIME"}

// relayServer starts a server with opts (Store set if nil) on a loopback
// listener, implicit TLS if implicit; it returns the server and its
// address. Close runs at cleanup.
func relayServer(t *testing.T, opts Options, implicit bool) (*Server, string) {
	t.Helper()
	if opts.Store == nil {
		opts.Store = memstore.New()
	}
	s := NewServer(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		if implicit {
			done <- s.ServeTLS(ln, serverTLS(t))
		} else {
			done <- s.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s, ln.Addr().String()
}

func serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	b, err := testcert.Get()
	if err != nil {
		t.Fatal(err)
	}
	return testcert.ServerConfig(b.Certificate)
}

func clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	b, err := testcert.Get()
	if err != nil {
		t.Fatal(err)
	}
	c := testcert.ClientConfig(b.Pool)
	c.ServerName = "localhost"
	return c
}

// rawClient speaks SMTP line by line.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string, implicit bool) *rawClient {
	t.Helper()
	var conn net.Conn
	var err error
	if implicit {
		conn, err = tls.Dial("tcp", addr, clientTLS(t))
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	if greet := c.reply(); !strings.HasPrefix(greet[0], "220 ") {
		t.Fatalf("greeting %q", greet)
	}
	return c
}

// reply reads one reply, all its lines.
func (c *rawClient) reply() []string {
	c.t.Helper()
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply: %v (so far %q)", err, lines)
		}
		if !strings.HasSuffix(line, "\r\n") {
			c.t.Fatalf("reply line %q does not end in CRLF", line)
		}
		line = strings.TrimSuffix(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return lines
		}
	}
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// expect sends a command and checks its reply's last line starts with
// want; it returns every line of the reply.
func (c *rawClient) expect(cmd, want string) []string {
	c.t.Helper()
	c.send(cmd + "\r\n")
	got := c.reply()
	if last := got[len(got)-1]; !strings.HasPrefix(last, want) {
		c.t.Fatalf("%q: reply %q, want %q", cmd, got, want)
	}
	return got
}

func (c *rawClient) startTLS() {
	c.t.Helper()
	c.expect("STARTTLS", "220 2.0.0 Ready to start TLS")
	tc := tls.Client(c.conn, clientTLS(c.t))
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

func TestRelayEHLO(t *testing.T) {
	t.Parallel()
	_, addr := relayServer(t, Options{Disable: allRelayHidden, TLSConfig: serverTLS(t), RequireTLSForAuth: true}, false)
	c := dialRaw(t, addr, false)
	got := c.expect("EHLO client.example", "250 ")
	want := []string{
		"250-Hello client.example",
		"250-ENHANCEDSTATUSCODES",
		"250-STARTTLS",
		"250-SMTPUTF8",
		"250 LIMITS RCPTMAX=100",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("EHLO before TLS:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c.startTLS()
	got = c.expect("EHLO client.example", "250 ")
	want = []string{
		"250-Hello client.example",
		"250-ENHANCEDSTATUSCODES",
		"250-AUTH PLAIN LOGIN",
		"250-SMTPUTF8",
		"250 LIMITS RCPTMAX=100",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("EHLO after TLS:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// HELO is a single line and passes unchanged.
	c.expect("HELO client.example", "250 2.0.0 Hello client.example")
}

// TestRelayEditEHLO covers the edits on their own, including a hidden
// last line.
func TestRelayEditEHLO(t *testing.T) {
	t.Parallel()
	lines := func(s ...string) [][]byte {
		var b [][]byte
		for _, l := range s {
			b = append(b, []byte(l+"\r\n"))
		}
		return b
	}
	for _, tc := range []struct {
		name     string
		hide     []string
		startTLS bool
		isTLS    bool
		in       [][]byte
		want     string
	}{
		{"last line hidden", []string{"SIZE"}, false, false,
			lines("250-Hello x", "250-PIPELINING", "250 SIZE 100"),
			"250-Hello x\r\n250 PIPELINING\r\n"},
		{"all hidden", allRelayHidden, false, false,
			lines("250-Hello x", "250-PIPELINING", "250-8BITMIME", "250-CHUNKING", "250 SIZE"),
			"250 Hello x\r\n"},
		{"starttls in go-smtp's place", []string{"CHUNKING"}, true, false,
			lines("250-Hello x", "250-PIPELINING", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-CHUNKING", "250-SMTPUTF8", "250 SIZE 5"),
			"250-Hello x\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-SMTPUTF8\r\n250 SIZE 5\r\n"},
		{"starttls last", []string{"SIZE"}, true, false,
			lines("250-Hello x", "250-PIPELINING", "250 SIZE 5"),
			"250-Hello x\r\n250-PIPELINING\r\n250 STARTTLS\r\n"},
		{"no starttls under TLS", []string{"SIZE"}, true, true,
			lines("250-Hello x", "250-PIPELINING", "250 SIZE 5"),
			"250-Hello x\r\n250 PIPELINING\r\n"},
		{"error reply untouched", allRelayHidden, true, false,
			lines("451 4.0.0 no"),
			"451 4.0.0 no\r\n"},
	} {
		r := &relay{s: NewServer(Options{Store: memstore.New(), Disable: tc.hide})}
		if tc.startTLS {
			r.startTLS = &tls.Config{}
		}
		if got := string(r.editEHLO(tc.in, tc.isTLS)); got != tc.want {
			t.Errorf("%s: got\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}
}

// TestRelaySTARTTLS: the relay does TLS; the session behind it learns so
// (envelope, Received, AUTH), and starts over as go-smtp's STARTTLS makes
// it.
func TestRelaySTARTTLS(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	if _, err := store.AddUser("bob@example.com", "pw"); err != nil {
		t.Fatal(err)
	}
	_, addr := relayServer(t, Options{Store: store, Disable: allRelayHidden, TLSConfig: serverTLS(t), RequireTLSForAuth: true, RequireAuth: true}, false)
	c := dialRaw(t, addr, false)
	c.expect("EHLO client.example", "250 ")
	c.expect("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==", "523 5.7.10")
	c.startTLS()
	c.expect("MAIL FROM:<bob@example.com>", "502 5.5.1 Please introduce yourself first")
	c.expect("EHLO client.example", "250 ")
	c.expect("STARTTLS", "502 5.5.1 Already running in TLS")
	// AUTH with a challenge: the response line is not a command.
	c.expect("AUTH PLAIN", "334")
	c.expect("AGJvYkBleGFtcGxlLmNvbQBwdw==", "235 2.0.0")
	c.expect("MAIL FROM:<bob@example.com>", "250")
	c.expect("RCPT TO:<alice@example.com>", "250")
	c.expect("DATA", "354")
	c.expect("Subject: hi\r\n\r\nover TLS\r\n.", "250")
	c.expect("QUIT", "221")

	msgs := store.Received()
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored", len(msgs))
	}
	env := msgs[0].Envelope()
	if !env.TLS || env.AuthUser != "bob@example.com" {
		t.Errorf("envelope %+v, want TLS and AuthUser", env)
	}
	if !bytes.Contains(msgs[0].Raw(), []byte(" with ESMTPSA id ")) {
		t.Errorf("Received does not say ESMTPSA:\n%s", msgs[0].Raw())
	}
}

// TestRelayImplicitTLS: SMTPS through the relay.
func TestRelayImplicitTLS(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	_, addr := relayServer(t, Options{Store: store, Disable: []string{"PIPELINING"}, TLSConfig: serverTLS(t), RequireTLSForAuth: true}, true)
	c := dialRaw(t, addr, true)
	ehlo := strings.Join(c.expect("EHLO client.example", "250 "), "\n")
	if strings.Contains(ehlo, "PIPELINING") || strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "AUTH PLAIN") || !strings.Contains(ehlo, "SIZE") {
		t.Errorf("EHLO over implicit TLS:\n%s", ehlo)
	}
	c.expect("STARTTLS", "502 5.5.1 Already running in TLS")
	c.expect("MAIL FROM:<a@example.com>", "250")
	c.expect("RCPT TO:<b@example.com>", "250")
	c.expect("DATA", "354")
	c.expect("Subject: hi\r\n\r\nhi\r\n.", "250")
	if msgs := store.Received(); len(msgs) != 1 || !msgs[0].Envelope().TLS {
		t.Errorf("stored %d messages, want 1 with envelope TLS", len(msgs))
	}
}

// TestRelayData: a message that holds command lines is passed through as
// it is; commands after it are commands again.
func TestRelayData(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	_, addr := relayServer(t, Options{Store: store, Disable: allRelayHidden, TLSConfig: serverTLS(t), NoTraceHeaders: true}, false)
	c := dialRaw(t, addr, false)
	c.expect("EHLO client.example", "250 ")
	c.expect("MAIL FROM:<a@example.com>", "250")
	c.expect("RCPT TO:<b@example.com>", "250")
	c.expect("DATA", "354")
	body := "Subject: tricky\r\n\r\nSTARTTLS\r\nBDAT 5\r\nDATA\r\n..not the end\r\n.\r\n"
	c.send(body)
	if got := c.reply(); !strings.HasPrefix(got[0], "250 ") {
		t.Fatalf("after the message: %q", got)
	}
	// Pipelined after the message, in one write: answered in order.
	c.send("NOOP\r\nRSET\r\nNOOP\r\n")
	for _, want := range []string{"250 2.0.0 I have", "250 2.0.0 Session reset", "250 2.0.0 I have"} {
		if got := c.reply(); !strings.HasPrefix(got[0], want) {
			t.Fatalf("pipelined reply %q, want %q", got, want)
		}
	}
	msgs := store.Received()
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored", len(msgs))
	}
	want := "Subject: tricky\r\n\r\nSTARTTLS\r\nBDAT 5\r\nDATA\r\n.not the end\r\n"
	if got := string(msgs[0].Raw()); got != want {
		t.Errorf("stored %q, want %q", got, want)
	}
}

// TestRelayRefusals: BDAT without CHUNKING, SIZE= without SIZE and BODY=
// without 8BITMIME are refused; the octets after a refused BDAT are read
// as commands.
func TestRelayRefusals(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var notes []string
	_, addr := relayServer(t, Options{Disable: allRelayHidden, Trace: func(string, string, bool) Trace {
		return Trace{Note: func(s string) { mu.Lock(); notes = append(notes, s); mu.Unlock() }}
	}}, false)
	c := dialRaw(t, addr, false)
	c.expect("EHLO client.example", "250 ")
	c.expect("MAIL FROM:<a@example.com> SIZE=100", "555 5.5.4 SIZE parameter not supported")
	c.expect("MAIL FROM:<a@example.com> BODY=8BITMIME", "555 5.5.4")
	// Pipelined: the relay's own answer waits for the replies before it.
	c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 4 LAST\r\nNOOP\r\n")
	for _, want := range []string{"250 2.0.0 Roger", "250 2.0.0 I'll", "502 5.5.1 Command not implemented", "250 2.0.0 I have"} {
		if got := c.reply(); !strings.HasPrefix(got[0], want) {
			t.Fatalf("pipelined reply %q, want %q", got, want)
		}
	}
	c.expect("QUIT", "221")
	mu.Lock()
	defer mu.Unlock()
	if len(notes) != 1 || !strings.Contains(notes[0], `"BDAT 4 LAST" refused by the relay: 502 5.5.1`) {
		t.Errorf("notes %q", notes)
	}
}

// TestRelayBDAT: with CHUNKING shown (another extension hidden) chunks pass
// through whole, command-like lines and all.
func TestRelayBDAT(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	_, addr := relayServer(t, Options{Store: store, Disable: []string{"SIZE"}, NoTraceHeaders: true}, false)
	c := dialRaw(t, addr, false)
	ehlo := strings.Join(c.expect("EHLO client.example", "250 "), "\n")
	if !strings.Contains(ehlo, "CHUNKING") || strings.Contains(ehlo, "SIZE") {
		t.Errorf("EHLO:\n%s", ehlo)
	}
	c.expect("MAIL FROM:<a@example.com>", "250")
	c.expect("RCPT TO:<b@example.com>", "250")
	chunk1 := "Subject: c\r\n\r\nSTARTTLS\r\n"
	chunk2 := "BDAT 5\r\n.\r\n"
	c.expect(fmt.Sprintf("BDAT %d\r\n%s", len(chunk1), chunk1[:len(chunk1)-2]), "250 2.0.0 Continue")
	c.expect(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk2), chunk2[:len(chunk2)-2]), "250")
	c.expect("BDAT x", "501 5.5.4")
	c.expect("NOOP", "250")
	msgs := store.Received()
	if len(msgs) != 1 || string(msgs[0].Raw()) != chunk1+chunk2 {
		t.Fatalf("stored %d messages; want %q", len(msgs), chunk1+chunk2)
	}
}

// TestRelayTranscript: the debug stream shows the conversation as the
// client had it: edited EHLO replies, the relay's STARTTLS, one greeting.
func TestRelayTranscript(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var debug bytes.Buffer
	var notes []string
	ended := make(chan struct{})
	_, addr := relayServer(t, Options{Disable: []string{"8BITMIME"}, TLSConfig: serverTLS(t), Trace: func(string, string, bool) Trace {
		return Trace{
			Debug: writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return debug.Write(p) }),
			Note:  func(s string) { mu.Lock(); notes = append(notes, s); mu.Unlock() },
			End:   func() { close(ended) },
		}
	}}, false)
	c := dialRaw(t, addr, false)
	c.expect("EHLO before.example", "250 ")
	c.startTLS()
	c.expect("EHLO after.example", "250 ")
	c.expect("QUIT", "221")
	<-ended
	mu.Lock()
	defer mu.Unlock()
	d := debug.String()
	if strings.Count(d, "Service Ready") != 1 || !strings.Contains(d, "EHLO before.example\r\n250-Hello before.example\r\n") ||
		!strings.Contains(d, "\r\n250-STARTTLS\r\n") || !strings.Contains(d, "\r\nSTARTTLS\r\n220 2.0.0 Ready to start TLS\r\nEHLO after.example\r\n") ||
		strings.Contains(d, "8BITMIME") || !strings.HasSuffix(d, "QUIT\r\n221 2.0.0 Bye\r\n") {
		t.Errorf("debug stream:\n%s", d)
	}
	if len(notes) != 0 {
		t.Errorf("notes %q", notes)
	}
}

// TestRelayClose: Close ends connections in every state, and waits for
// their goroutines (goleak checks at exit).
func TestRelayClose(t *testing.T) {
	t.Parallel()
	s, addr := relayServer(t, Options{Disable: allRelayHidden, TLSConfig: serverTLS(t)}, false)
	idle := dialRaw(t, addr, false)
	data := dialRaw(t, addr, false)
	data.expect("EHLO client.example", "250 ")
	data.expect("MAIL FROM:<a@example.com>", "250")
	data.expect("RCPT TO:<b@example.com>", "250")
	data.expect("DATA", "354")
	data.send("Subject: unfinished\r\n")
	tlsC := dialRaw(t, addr, false)
	tlsC.startTLS()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*rawClient{idle, data, tlsC} {
		if _, err := c.r.ReadString('\n'); err == nil {
			t.Error("a connection is still open after Close")
		}
	}
}

// TestRelayIdleTimeout: the relay times out an idle client like go-smtp.
func TestRelayIdleTimeout(t *testing.T) {
	t.Parallel()
	_, addr := relayServer(t, Options{Disable: allRelayHidden, ReadTimeout: 100 * time.Millisecond}, false)
	c := dialRaw(t, addr, false)
	c.expect("EHLO client.example", "250 ")
	if got := c.reply(); got[0] != "421 4.4.2 Idle timeout, bye bye" {
		t.Errorf("after idling: %q", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestRelayFaults: an Intercept drop behind the relay closes the client's
// connection; a line too long for anyone is refused by go-smtp.
func TestRelayFaults(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	_, addr := relayServer(t, Options{Store: store, Disable: allRelayHidden, Intercept: func(c Command) *fault.Action {
		if c.Name == "DATA" {
			return &fault.Action{Drop: true}
		}
		return nil
	}}, false)
	c := dialRaw(t, addr, false)
	c.expect("EHLO client.example", "250 ")
	c.expect("MAIL FROM:<a@example.com>", "250")
	c.expect("RCPT TO:<b@example.com>", "250")
	c.expect("DATA", "354")
	c.send("Subject: x\r\n\r\nx\r\n.\r\n")
	if line, err := c.r.ReadString('\n'); err == nil {
		t.Errorf("after a dropped DATA: %q, want the connection closed", line)
	}
	if n := len(store.Received()); n != 1 {
		t.Errorf("%d messages stored, want the dropped one", n)
	}

	c = dialRaw(t, addr, false)
	c.expect("NOOP "+strings.Repeat("x", 10000), "500 5.4.0 Too long line")

	// A last command without its line end, then a half-close: go-smtp
	// acts on it, and the client still gets the reply.
	c = dialRaw(t, addr, false)
	c.send("QUIT")
	if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got := c.reply(); !strings.HasPrefix(got[0], "221 ") {
		t.Errorf("QUIT before a half-close: %q", got)
	}
}
