package mailtest_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// rawConn is the one raw protocol client of the mailtest tests: it speaks
// SMTP, POP3 and IMAP line by line, so a test controls every byte it sends
// and checks every line it gets back.
//
// Lines: send, line, want, wantPrefix, closedByServer, startTLS.
// SMTP: smtp (a command and its reply), smtpReply.
// POP3: pop3 (a command and its status line), pop3Multi, pop3Login.
// IMAP: imap (a tagged command and its responses), imapResult.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dialRaw connects to addr (over TLS if tlsConfig is set) and reads nothing.
func dialRaw(t *testing.T, addr string, tlsConfig *tls.Config) *rawConn {
	t.Helper()
	var conn net.Conn
	var err error
	d := &net.Dialer{Timeout: 5 * time.Second}
	if tlsConfig != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, tlsConfig)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// dialSMTP connects to addr and reads the 220 greeting.
func dialSMTP(t *testing.T, addr string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr, nil)
	if greet := c.smtpReply(); !strings.HasPrefix(greet, "220 ") {
		t.Fatalf("greeting = %q", greet)
	}
	return c
}

// smtpSession dials addr, reads the greeting and says EHLO.
func smtpSession(t *testing.T, addr string, tlsConfig *tls.Config) *rawConn {
	t.Helper()
	c := dialRaw(t, addr, tlsConfig)
	c.wantPrefix("220 ")
	c.send("EHLO client.example\r\n")
	c.smtpReply()
	return c
}

// dialPOP3 connects to addr (over TLS if tlsConfig is set) and reads the
// +OK greeting.
func dialPOP3(t *testing.T, addr string, tlsConfig *tls.Config) *rawConn {
	t.Helper()
	c := dialRaw(t, addr, tlsConfig)
	if greet := c.line(); !strings.HasPrefix(greet, "+OK") {
		t.Fatalf("greeting %q", greet)
	}
	return c
}

// pop3Session dials, reads the greeting and, if user is set, logs in.
func pop3Session(t *testing.T, addr string, tlsConfig *tls.Config, user, pass string) *rawConn {
	t.Helper()
	c := dialPOP3(t, addr, tlsConfig)
	if user != "" {
		c.pop3Login(user, pass)
	}
	return c
}

// imapSession dials, reads the greeting and, if user is set, logs in.
func imapSession(t *testing.T, addr string, tlsConfig *tls.Config, user, pass string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr, tlsConfig)
	c.wantPrefix("* OK ")
	if user != "" {
		if _, tagged := c.imap("L1", fmt.Sprintf("LOGIN %q %q", user, pass)); !strings.HasPrefix(tagged, "L1 OK") {
			t.Fatalf("LOGIN: %q", tagged)
		}
	}
	return c
}

// send writes s as it is: the caller adds the line endings.
func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write %q: %v", firstLine(s), err)
	}
}

// line reads one line without its line ending (LF or CRLF).
func (c *rawConn) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (partial %q)", err, l)
	}
	return strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
}

// want reads one line and checks it is exactly want.
func (c *rawConn) want(want string) {
	c.t.Helper()
	if got := c.line(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

// wantPrefix reads one line and checks it starts with prefix.
func (c *rawConn) wantPrefix(prefix string) string {
	c.t.Helper()
	got := c.line()
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("got %q, want prefix %q", got, prefix)
	}
	return got
}

// closedByServer reads until the server closes the connection and fails if
// that does not happen within d. It returns what was read.
func (c *rawConn) closedByServer(d time.Duration) string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c.r)
	if err != nil && !isConnReset(err) {
		c.t.Fatalf("connection not closed by the server within %s: %v (read %q)", d, err, b)
	}
	return string(b)
}

// startTLS runs the TLS handshake on the connection, after the server has
// accepted STARTTLS or STLS.
func (c *rawConn) startTLS(config *tls.Config) {
	c.t.Helper()
	tc := tls.Client(c.conn, config)
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

// smtp sends line and checks that its (possibly multi-line) reply ends
// with a line starting with prefix, which it returns.
func (c *rawConn) smtp(line, prefix string) string {
	c.t.Helper()
	c.send(line + "\r\n")
	got := c.smtpReply()
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("%q: reply %q, want prefix %q", firstLine(line), got, prefix)
	}
	return got
}

// smtpReply reads a possibly multi-line SMTP reply and returns its last line.
func (c *rawConn) smtpReply() string {
	c.t.Helper()
	for {
		l := c.line()
		if len(l) < 4 || l[3] != '-' {
			return l
		}
	}
}

// pop3 sends line and checks the status line starts with want.
func (c *rawConn) pop3(line, want string) string {
	c.t.Helper()
	c.send(line + "\r\n")
	got := c.line()
	if !strings.HasPrefix(got, want) {
		c.t.Fatalf("%q: got %q, want %q…", line, got, want)
	}
	return got
}

// pop3Multi reads a dot-terminated POP3 body, undoing byte-stuffing, with
// CRLF lines.
func (c *rawConn) pop3Multi() []byte {
	c.t.Helper()
	var buf bytes.Buffer
	for {
		l := c.line()
		if l == "." {
			return buf.Bytes()
		}
		l = strings.TrimPrefix(l, ".")
		buf.WriteString(l + "\r\n")
	}
}

// pop3Login logs in with USER and PASS.
func (c *rawConn) pop3Login(user, pass string) {
	c.t.Helper()
	c.pop3("USER "+user, "+OK")
	c.pop3("PASS "+pass, "+OK")
}

// imap sends "tag command" and returns the untagged lines and the tagged
// completion line.
func (c *rawConn) imap(tag, command string) (untagged []string, tagged string) {
	c.t.Helper()
	c.send(tag + " " + command + "\r\n")
	return c.imapResult(tag)
}

// imapResult reads responses up to the tagged completion of tag.
func (c *rawConn) imapResult(tag string) (untagged []string, tagged string) {
	c.t.Helper()
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l
		}
		untagged = append(untagged, l)
	}
}

// sendRaw speaks SMTP line by line, so the test controls every byte.
func sendRaw(t *testing.T, addr, from string, to []string, payload string) {
	t.Helper()
	c := dialSMTP(t, addr)
	c.smtp("EHLO client.example", "250")
	c.smtp("MAIL FROM:<"+from+">", "250 2.0.0")
	for _, r := range to {
		c.smtp("RCPT TO:<"+r+">", "250 2.0.0")
	}
	c.smtp("DATA", "354")
	c.smtp(payload+"\r\n.", "250 2.0.0")
	c.smtp("QUIT", "221")
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i] + "…"
	}
	return s
}

// isConnReset reports whether err is the connection closing under the
// reader (not a deadline).
func isConnReset(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}
