package smtpfront

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netsmtp "net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrig/mailrig/mailtest/internal/fault"
	"github.com/mailrig/mailrig/mailtest/internal/testcert"
	"github.com/mailrig/mailrig/memstore"

	"github.com/mailrig/mailrig/mailtest/internal/pyscript"
)

var allHidden = []string{"PIPELINING", "SIZE", "CHUNKING", "8BITMIME"}

// frontServer starts a server with opts (Store set if nil) on a loopback
// listener, implicit TLS if implicit; it returns the server and its
// address. Close runs at cleanup.
func frontServer(t *testing.T, opts Options, implicit bool) (*Server, string) {
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

func TestFrontEHLO(t *testing.T) {
	t.Parallel()
	_, addr := frontServer(t, Options{Disable: allHidden, TLSConfig: serverTLS(t), RequireTLSForAuth: true}, false)
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

// TestFrontEHLOEdits: each hidden keyword leaves go-smtp's EHLO reply,
// and STARTTLS stands where go-smtp would list it, CHUNKING hidden or not.
func TestFrontEHLOEdits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		hide     []string
		startTLS bool
		want     []string
	}{
		{"nothing hidden", nil, true, []string{"Hello x", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS", "AUTH PLAIN LOGIN", "SMTPUTF8", "SIZE 26214400", "LIMITS RCPTMAX=100"}},
		{"no STARTTLS offered", nil, false, []string{"Hello x", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "AUTH PLAIN LOGIN", "SMTPUTF8", "SIZE 26214400", "LIMITS RCPTMAX=100"}},
		{"SIZE", []string{"size"}, false, []string{"Hello x", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "AUTH PLAIN LOGIN", "SMTPUTF8", "LIMITS RCPTMAX=100"}},
		{"CHUNKING with STARTTLS", []string{"CHUNKING"}, true, []string{"Hello x", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "STARTTLS", "AUTH PLAIN LOGIN", "SMTPUTF8", "SIZE 26214400", "LIMITS RCPTMAX=100"}},
		{"all", append([]string{"STARTTLS", "SMTPUTF8", "AUTH"}, allHidden...), true, []string{"Hello x", "ENHANCEDSTATUSCODES", "LIMITS RCPTMAX=100"}},
	} {
		opts := Options{Disable: tc.hide}
		if tc.startTLS {
			opts.TLSConfig = serverTLS(t)
		}
		_, addr := frontServer(t, opts, false)
		c := dialRaw(t, addr, false)
		got := c.expect("EHLO x", "250 ")
		var want []string
		for i, l := range tc.want {
			sep := "-"
			if i == len(tc.want)-1 {
				sep = " "
			}
			want = append(want, "250"+sep+l)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: EHLO\n%s\nwant\n%s", tc.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestBadSequence: commands out of sequence (MAIL before EHLO, RCPT
// before MAIL, DATA or BDAT without a sender and a recipient) are answered
// 503 5.5.1 (RFC 5321 §4.3.2), where go-smtp says 502; over plain,
// implicit TLS and after STARTTLS alike.
func TestBadSequence(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"plain", "implicit TLS", "STARTTLS"} {
		_, addr := frontServer(t, Options{TLSConfig: serverTLS(t)}, mode == "implicit TLS")
		c := dialRaw(t, addr, mode == "implicit TLS")
		if mode == "STARTTLS" {
			c.expect("EHLO client.example", "250 ")
			c.startTLS()
		}
		if mode != "STARTTLS" {
			c.expect("MAIL FROM:<a@example.com>", "503 5.5.1 Please introduce yourself first.")
		}
		c.expect("EHLO client.example", "250 ")
		c.expect("RCPT TO:<b@example.com>", "503 5.5.1 Bad sequence of commands")
		c.expect("DATA", "503 5.5.1 Bad sequence of commands")
		c.expect("MAIL FROM:<a@example.com>", "250")
		c.expect("DATA", "503 5.5.1 Bad sequence of commands")
		// The chunk of a refused BDAT is read and dropped.
		c.send("BDAT 4 LAST\r\nNOOP")
		if got := c.reply(); got[0] != "503 5.5.1 Bad sequence of commands" {
			t.Errorf("%s: BDAT: %q", mode, got)
		}
		c.expect("NOOP", "250 ")
		c.expect("RCPT TO:<b@example.com>", "250")
		c.expect("DATA", "354")
		c.expect("Subject: x\r\n\r\nx\r\n.", "250 ")
		c.expect("QUIT", "221")
	}

	// net/smtp sees the code as a *textproto.Error.
	_, addr := frontServer(t, Options{}, false)
	nc, err := netsmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, err = nc.Data()
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 503 || te.Msg != "5.5.1 Bad sequence of commands" {
		t.Errorf("net/smtp DATA: %v, want 503 5.5.1 Bad sequence of commands", err)
	}
}

// TestPythonSmtplib: Python's smtplib, an independent client, sees 503
// for DATA out of sequence and sends through STARTTLS.
func TestPythonSmtplib(t *testing.T) {
	t.Parallel()
	b, err := testcert.Get()
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, b.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	_, addr := frontServer(t, Options{Store: store, TLSConfig: serverTLS(t)}, false)
	host, port, _ := net.SplitHostPort(addr)
	out := pyscript.Run(t, "testdata/smtplib_check.py", host, port, ca)
	want := "data: 503 5.5.1 Bad sequence of commands\n" +
		"SMTPDataError: 503 5.5.1 Bad sequence of commands\n" +
		"starttls: 220\n" +
		"sendmail: {}\n"
	if string(out) != want {
		t.Errorf("smtplib said\n%s\nwant\n%s", out, want)
	}
	msgs := store.Received()
	if len(msgs) != 1 || !msgs[0].Envelope().TLS {
		t.Fatalf("stored %d messages, want 1 sent under TLS", len(msgs))
	}
	if !bytes.HasSuffix(msgs[0].Raw(), []byte("Subject: from smtplib\r\n\r\nhello\r\n")) {
		t.Errorf("stored %q", msgs[0].Raw())
	}
}

// TestFrontSTARTTLS: frontConn does TLS; the session learns so (envelope,
// Received, AUTH), and starts over as go-smtp's STARTTLS makes it.
func TestFrontSTARTTLS(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	if _, err := store.AddUser("bob@example.com", "pw"); err != nil {
		t.Fatal(err)
	}
	_, addr := frontServer(t, Options{Store: store, Disable: allHidden, TLSConfig: serverTLS(t), RequireTLSForAuth: true, RequireAuth: true}, false)
	c := dialRaw(t, addr, false)
	c.expect("EHLO client.example", "250 ")
	c.expect("AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==", "523 5.7.10")
	c.startTLS()
	c.expect("MAIL FROM:<bob@example.com>", "503 5.5.1 Please introduce yourself first")
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

// TestFrontImplicitTLS: SMTPS, with go-smtp behind frontConn.
func TestFrontImplicitTLS(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	_, addr := frontServer(t, Options{Store: store, Disable: []string{"PIPELINING"}, TLSConfig: serverTLS(t), RequireTLSForAuth: true}, true)
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

// TestFrontData: a message that holds command lines is passed through as
// it is; commands after it are commands again.
func TestFrontData(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	_, addr := frontServer(t, Options{Store: store, Disable: allHidden, TLSConfig: serverTLS(t), NoTraceHeaders: true}, false)
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

// TestFrontRefusals: BDAT without CHUNKING (after its chunk), SIZE=
// without SIZE and BODY= without 8BITMIME are refused.
func TestFrontRefusals(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	_, addr := frontServer(t, Options{Store: store, Disable: allHidden}, false)
	c := dialRaw(t, addr, false)
	c.expect("EHLO client.example", "250 ")
	c.expect("MAIL FROM:<a@example.com> SIZE=100", "555 5.5.4 SIZE parameter not supported")
	c.expect("MAIL FROM:<a@example.com> BODY=8BITMIME", "555 5.5.4")
	// Pipelined: answered in order.
	c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 4 LAST\r\nabcdNOOP\r\n")
	for _, want := range []string{"250 2.0.0 Roger", "250 2.0.0 I'll", "502 5.5.1 Command not implemented", "250 2.0.0 I have"} {
		if got := c.reply(); !strings.HasPrefix(got[0], want) {
			t.Fatalf("pipelined reply %q, want %q", got, want)
		}
	}
	c.expect("MAIL FROM:<a@example.com>", "250")
	c.expect("RCPT TO:<b@example.com>", "250")
	c.expect("DATA", "354")
	c.expect("Subject: x\r\n\r\nx\r\n.", "250 ")
	c.expect("QUIT", "221")
	if n := len(store.Received()); n != 1 {
		t.Errorf("%d messages stored, want the one sent with DATA", n)
	}
}

// TestFrontBDAT: with CHUNKING shown (another extension hidden) chunks pass
// through whole, command-like lines and all.
func TestFrontBDAT(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	_, addr := frontServer(t, Options{Store: store, Disable: []string{"SIZE"}, NoTraceHeaders: true}, false)
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

// TestFrontTranscript: the debug stream shows the conversation as the
// client had it: edited EHLO replies, our STARTTLS, one greeting.
func TestFrontTranscript(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var debug bytes.Buffer
	var notes []string
	ended := make(chan struct{})
	_, addr := frontServer(t, Options{Disable: []string{"8BITMIME"}, TLSConfig: serverTLS(t), Trace: func(string, string, bool) Trace {
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

// TestFrontClose: Close ends connections in every state, and waits for
// their goroutines (goleak checks at exit).
func TestFrontClose(t *testing.T) {
	t.Parallel()
	s, addr := frontServer(t, Options{Disable: allHidden, TLSConfig: serverTLS(t)}, false)
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

// TestFrontIdleTimeout: an idle client is timed out by go-smtp.
func TestFrontIdleTimeout(t *testing.T) {
	t.Parallel()
	_, addr := frontServer(t, Options{Disable: allHidden, ReadTimeout: 100 * time.Millisecond}, false)
	c := dialRaw(t, addr, false)
	c.expect("EHLO client.example", "250 ")
	if got := c.reply(); got[0] != "421 4.4.2 Idle timeout, bye bye" {
		t.Errorf("after idling: %q", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestFrontFaults: an Intercept drop closes the client's connection; a
// line too long is refused by go-smtp.
func TestFrontFaults(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	_, addr := frontServer(t, Options{Store: store, Disable: allHidden, Intercept: func(c Command) *fault.Action {
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

// TestDeferGoesWithSession: an action kept by Defer lives in the session;
// a client that quits between RCPT and DATA leaves nothing behind (the
// action becomes garbage), and the next transaction does not see it.
func TestDeferGoesWithSession(t *testing.T) {
	t.Parallel()
	released := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var deferred []*fault.Action
	_, addr := frontServer(t, Options{Intercept: func(c Command) *fault.Action {
		switch {
		case c.Name == "RCPT" && strings.HasPrefix(c.Arg, "later"):
			act := &fault.Action{Reply: "451 4.3.0 Later"}
			if c.Arg == "later-quit@example.com" {
				runtime.SetFinalizer(act, func(*fault.Action) { once.Do(func() { close(released) }) })
			}
			c.Defer(act)
		case c.Name == "DATA":
			mu.Lock()
			deferred = append(deferred, c.Deferred)
			mu.Unlock()
			return c.Deferred
		}
		return nil
	}}, false)

	c := dialRaw(t, addr, false)
	c.expect("EHLO client.example", "250 ")
	c.expect("MAIL FROM:<a@example.com>", "250")
	c.expect("RCPT TO:<later@example.com>", "250")
	c.expect("RSET", "250")
	c.expect("MAIL FROM:<a@example.com>", "250")
	c.expect("RCPT TO:<b@example.com>", "250")
	c.expect("DATA", "354")
	c.expect("Subject: x\r\n\r\nx\r\n.", "250 ") // RSET forgot it
	c.expect("MAIL FROM:<a@example.com>", "250")
	c.expect("RCPT TO:<later@example.com>", "250")
	c.expect("RCPT TO:<b@example.com>", "250")
	c.expect("DATA", "354")
	c.expect("Subject: x\r\n\r\nx\r\n.", "451 4.3.0 Later")
	c.expect("MAIL FROM:<a@example.com>", "250")
	c.expect("RCPT TO:<b@example.com>", "250")
	c.expect("DATA", "354")
	c.expect("Subject: x\r\n\r\nx\r\n.", "250 ") // DATA used it up
	mu.Lock()
	if len(deferred) != 3 || deferred[0] != nil || deferred[1] == nil || deferred[2] != nil {
		t.Errorf("DATA saw Deferred %v, want nil, the action, nil", deferred)
	}
	deferred = nil // the test's own references go
	mu.Unlock()

	// Quit between RCPT and DATA: once the session is gone, so is the
	// action (the finalizer runs only when nothing refers to it).
	q := dialRaw(t, addr, false)
	q.expect("EHLO client.example", "250 ")
	q.expect("MAIL FROM:<a@example.com>", "250")
	q.expect("RCPT TO:<later-quit@example.com>", "250")
	q.expect("QUIT", "221")
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		runtime.GC()
		select {
		case <-released:
			return
		case <-deadline.C:
			t.Fatal("the deferred action is still referenced after its sessions ended")
		case <-time.After(10 * time.Millisecond): // the finalizer runs on its own goroutine
		}
	}
}

// TestFrontBadHandshake: a client that answers STARTTLS's 220 with
// something other than a TLS handshake loses the connection (go-smtp
// itself wrote a plaintext 550 into the half-started handshake and went
// on), and the server stays fine for the next client.
func TestFrontBadHandshake(t *testing.T) {
	t.Parallel()
	_, addr := frontServer(t, Options{TLSConfig: serverTLS(t)}, false)
	c := dialRaw(t, addr, false)
	c.expect("EHLO client.example", "250 ")
	c.expect("STARTTLS", "220 2.0.0 Ready to start TLS")
	c.send("EHLO not.tls\r\n")
	var got []byte
	buf := make([]byte, 512)
	for {
		n, err := c.r.Read(buf)
		got = append(got, buf[:n]...)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the connection stayed open after a bad handshake")
		}
		if err != nil {
			break
		}
	}
	// Only a TLS alert may come back: no plaintext reply.
	if bytes.Contains(got, []byte("\r\n")) && bytes.Contains(got, []byte(" 5.")) {
		t.Errorf("after a bad handshake the server said %q", got)
	}
	d := dialRaw(t, addr, false)
	d.expect("EHLO client.example", "250 ")
	d.startTLS()
	d.expect("EHLO client.example", "250 ")
}
