package mailtest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

const (
	trUser = "alice@example.com"
	trPass = "s3cret-Pa55"
)

// secretForms are the ways trPass could leak into a transcript.
var secretForms = []string{
	trPass,
	base64.StdEncoding.EncodeToString([]byte("\x00" + trUser + "\x00" + trPass)),
	base64.StdEncoding.EncodeToString([]byte(trPass)),
}

// lineStrings renders a transcript's lines as "C: ..." / "S: ...".
func lineStrings(t Transcript) []string {
	out := make([]string, len(t.Lines))
	for i, l := range t.Lines {
		d := "S: "
		if l.FromClient {
			d = "C: "
		}
		out[i] = d + l.Text
	}
	return out
}

// expectInOrder checks that each want (a prefix of a line) matches a line,
// in this order, and that timestamps never go back.
func expectInOrder(t *testing.T, tr Transcript, want ...string) {
	t.Helper()
	lines := lineStrings(tr)
	i := 0
	for _, w := range want {
		for i < len(lines) && !strings.HasPrefix(lines[i], w) {
			i++
		}
		if i == len(lines) {
			t.Fatalf("no line %q (in order) in transcript:\n%s", w, tr)
		}
		i++
	}
	for j := 1; j < len(tr.Lines); j++ {
		if tr.Lines[j].Time.Before(tr.Lines[j-1].Time) {
			t.Errorf("line %d goes back in time:\n%s", j, tr)
		}
	}
}

// checkNoSecrets fails if the password shows anywhere in any transcript.
func checkNoSecrets(t *testing.T, srv *Server) {
	t.Helper()
	for _, tr := range srv.Transcripts() {
		s := tr.String()
		for _, l := range tr.Lines {
			s += "\n" + l.Text
		}
		for _, secret := range secretForms {
			if strings.Contains(s, secret) {
				t.Errorf("secret %q in transcript:\n%s", secret, tr)
			}
		}
	}
}

func findTranscript(t *testing.T, srv *Server, p Listener, contains string) Transcript {
	t.Helper()
	for _, tr := range srv.Transcripts() {
		if tr.Listener == p && strings.Contains(tr.String(), contains) {
			return tr
		}
	}
	t.Fatalf("no %s transcript with %q among %d", p, contains, len(srv.Transcripts()))
	return Transcript{}
}

func TestTranscriptSubmissionStartTLSAuthPlain(t *testing.T) {
	t.Parallel()
	srv := NewServer(t, WithUser(trUser, trPass))
	c, err := gosmtp.DialStartTLS(srv.SubmissionAddr(), srv.ClientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", trUser, trPass)); err != nil {
		t.Fatal(err)
	}
	body := "Subject: hello\r\n\r\nHi Bob.\r\n"
	if err := c.SendMail(trUser, []string{"bob@example.com"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	msg := srv.WaitForMessage(t, To("bob@example.com"))
	srv.Close() // every session has ended: transcripts are whole

	id := msg.Envelope().SessionID
	tr, ok := srv.Transcript(id)
	if !ok {
		t.Fatalf("no transcript for the message's session %q", id)
	}
	if tr.ID != id || tr.Listener != Submission || tr.RemoteAddr == "" || tr.Start.IsZero() {
		t.Errorf("transcript %q %q %q %v", tr.ID, tr.Listener, tr.RemoteAddr, tr.Start)
	}
	expectInOrder(t, tr,
		"S: 220 ", "C: EHLO ", "S: 250-", "C: STARTTLS", "S: 220 ",
		"C: EHLO ", "C: AUTH PLAIN ***", "S: 235 ",
		"C: MAIL FROM:<"+trUser+">", "S: 250 ", "C: RCPT TO:<bob@example.com>", "S: 250 ",
		"C: DATA", "S: 354 ", fmt.Sprintf("C: <message %d octets>", len(body)), "S: 250 ",
		"C: QUIT", "S: 221 ")
	checkNoSecrets(t, srv)
}

func TestTranscriptNetSMTPAndFault(t *testing.T) {
	t.Parallel()
	srv := NewServer(t)
	srv.Inject(t, Fault{Protocol: SMTP, Command: "MAIL", Arg: "slow@", Delay: 50 * time.Millisecond, Reply: "451 4.3.0 Try later", Times: 1})
	srv.Inject(t, Fault{Protocol: SMTP, Command: "RCPT", Arg: "gone@", Drop: true, Times: 1})
	msg := []byte("Subject: x\r\n\r\nbody\r\n")
	if err := smtp.SendMail(srv.SMTPAddr(), nil, "a@example.com", []string{"b@example.com"}, msg); err != nil {
		t.Fatal(err)
	}
	if err := smtp.SendMail(srv.SMTPAddr(), nil, "slow@example.com", []string{"b@example.com"}, msg); err == nil {
		t.Fatal("MAIL fault: no error")
	}
	if err := smtp.SendMail(srv.SMTPAddr(), nil, "a@example.com", []string{"gone@example.com"}, msg); err == nil {
		t.Fatal("RCPT fault: no error")
	}
	got := srv.WaitForMessage(t, To("b@example.com"))
	srv.Close()

	tr, ok := srv.Transcript(got.Envelope().SessionID)
	if !ok {
		t.Fatalf("no transcript for %q", got.Envelope().SessionID)
	}
	expectInOrder(t, tr, "S: 220 ", "C: EHLO ", "C: MAIL FROM:<a@example.com>", "C: DATA", "S: 354 ", fmt.Sprintf("C: <message %d octets>", len(msg)), "S: 250 ", "C: QUIT")
	if tr.Listener != SMTP {
		t.Errorf("protocol %q", tr.Listener)
	}

	slow := findTranscript(t, srv, SMTP, "slow@")
	expectInOrder(t, slow, "C: MAIL FROM:<slow@example.com>", `S: <delayed 50ms, then answered 451 4.3.0 Try later by fault smtp MAIL "slow@">`, "S: 451 4.3.0 Try later")
	for i, l := range slow.Lines {
		if l.Text == "451 4.3.0 Try later" {
			if d := l.Time.Sub(slow.Lines[i-1].Time); d < 50*time.Millisecond {
				t.Errorf("reply %v after the fault note, want the 50ms delay", d)
			}
		}
	}
	gone := findTranscript(t, srv, SMTP, "gone@")
	expectInOrder(t, gone, "C: RCPT TO:<gone@example.com>", `S: <dropped by fault smtp RCPT "gone@">`)
}

func TestTranscriptIMAPSLogin(t *testing.T) {
	t.Parallel()
	srv := NewServer(t, WithUser(trUser, trPass))
	body := "Subject: hi\r\n\r\n" + strings.Repeat("A long line of the body.\r\n", 10)
	if err := smtp.SendMail(srv.SMTPAddr(), nil, "a@example.com", []string{trUser}, []byte(body)); err != nil {
		t.Fatal(err)
	}
	srv.WaitForMessage(t, To(trUser))
	c, err := imapclient.DialTLS(srv.IMAPSAddr(), &imapclient.Options{TLSConfig: srv.ClientTLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(trUser, trPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v, %d", err, len(msgs))
	}
	size := 0
	for _, b := range msgs[0].BodySection {
		size = len(b.Bytes)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	srv.Close()

	tr := findTranscript(t, srv, IMAPS, "LOGIN")
	if !strings.HasPrefix(tr.ID, "imap-") {
		t.Errorf("ID %q", tr.ID)
	}
	if got, ok := srv.Transcript(tr.ID); !ok || len(got.Lines) != len(tr.Lines) {
		t.Errorf("Transcript(%q) = %v", tr.ID, ok)
	}
	var login, fetch string
	for _, l := range lineStrings(tr) {
		if strings.Contains(l, " LOGIN ") {
			login = l
		}
		if strings.Contains(l, " FETCH ") && strings.HasPrefix(l, "C: ") {
			fetch = l
		}
	}
	tag := strings.Fields(strings.TrimPrefix(login, "C: "))[0]
	if login != "C: "+tag+` LOGIN "`+trUser+`" ***` && login != "C: "+tag+" LOGIN "+trUser+" ***" {
		t.Errorf("LOGIN line %q", login)
	}
	ftag := strings.Fields(strings.TrimPrefix(fetch, "C: "))[0]
	expectInOrder(t, tr, "C: "+tag+" LOGIN ", "S: "+tag+" OK ",
		"C: "+ftag+" FETCH ", "S: * 1 FETCH ", fmt.Sprintf("S: <literal %d octets>", size), "S: "+ftag+" OK ",
		"S: * BYE", "S: ")
	checkNoSecrets(t, srv)
}

func TestTranscriptPOP3Raw(t *testing.T) {
	t.Parallel()
	srv := NewServer(t, WithUser(trUser, trPass))
	if err := smtp.SendMail(srv.SMTPAddr(), nil, "a@example.com", []string{trUser}, []byte("Subject: x\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	srv.WaitForMessage(t, To(trUser))
	conn, err := net.Dial("tcp", srv.POP3Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	readLine := func() string {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return strings.TrimRight(l, "\r\n")
	}
	send := func(cmd string) string {
		fmt.Fprintf(conn, "%s\r\n", cmd)
		return readLine()
	}
	readLine() // greeting
	send("USER " + trUser)
	if l := send("PASS " + trPass); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("PASS: %s", l)
	}
	if l := send("RETR 1"); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("RETR: %s", l)
	}
	for readLine() != "." {
	}
	send("QUIT")
	srv.Close()

	tr := findTranscript(t, srv, POP3, "USER")
	expectInOrder(t, tr, "S: +OK ", "C: USER "+trUser, "S: +OK", "C: PASS ****", "S: +OK", "C: RETR 1", "S: +OK ", "S: <message ", "S: .", "C: QUIT", "S: +OK")
	checkNoSecrets(t, srv)
}

func TestTranscriptLogAndOff(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	srv := NewServer(t, WithTranscriptLog(slog.New(slog.NewTextHandler(&buf, nil))))
	if err := smtp.SendMail(srv.SMTPAddr(), nil, "a@example.com", []string{"b@example.com"}, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	out := buf.String()
	for _, want := range []string{`msg="session ended" session=smtp-`, "protocol=smtp", `msg="C: EHLO localhost" session=smtp-`, `msg="S: 221 `} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}

	off := NewServer(t, WithTranscripts(false))
	if err := smtp.SendMail(off.SMTPAddr(), nil, "a@example.com", []string{"b@example.com"}, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	m := off.WaitForMessage(t, To("b@example.com"))
	if ts := off.Transcripts(); ts != nil {
		t.Errorf("transcripts while off: %v", ts)
	}
	if _, ok := off.Transcript(m.Envelope().SessionID); ok {
		t.Error("Transcript found while off")
	}
}

// reportTranscripts is what NewServer's cleanup runs after Close with
// tb.Failed() and tb.Log (testing.TB cannot be faked outside package
// testing); TestTranscriptFailedTestLogs checks the real cleanup.
func TestTranscriptReport(t *testing.T) {
	t.Parallel()
	srv := NewServer(t)
	if err := smtp.SendMail(srv.SMTPAddr(), nil, "a@example.com", []string{"b@example.com"}, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	var logged []string
	log := func(args ...any) { logged = append(logged, fmt.Sprint(args...)) }
	srv.reportTranscripts(false, log)
	if len(logged) != 0 {
		t.Fatalf("logged for a passing test: %q", logged)
	}
	srv.reportTranscripts(true, log)
	if len(logged) != 2 || !strings.Contains(logged[0], "transcripts of its 1 sessions") ||
		!strings.HasPrefix(logged[1], "smtp session smtp-") || !strings.Contains(logged[1], "C: EHLO localhost") {
		t.Fatalf("logged: %q", logged)
	}
}

// TestTranscriptFailedTestLogs runs a test that fails in a child process
// (the test binary itself) and checks that NewServer's cleanup logged the
// transcripts, and that a passing test logs none.
func TestTranscriptFailedTestLogs(t *testing.T) {
	if os.Getenv("MAILTEST_TRANSCRIPT_CHILD") != "" {
		t.Skip("child")
	}
	t.Parallel()
	run := func(fail string) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTranscriptChild$", "-test.v")
		cmd.Env = append(os.Environ(), "MAILTEST_TRANSCRIPT_CHILD="+fail)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	out := run("fail")
	for _, want := range []string{"--- FAIL: TestTranscriptChild", "mailtest: the test failed; transcripts of its 1 sessions", "C: EHLO localhost", "C: <message ", "S: 221 "} {
		if !strings.Contains(out, want) {
			t.Errorf("failing child's output lacks %q:\n%s", want, out)
		}
	}
	if out := run("pass"); !strings.Contains(out, "--- PASS: TestTranscriptChild") || strings.Contains(out, "transcripts of") {
		t.Errorf("passing child's output:\n%s", out)
	}
}

// TestTranscriptChild is run by TestTranscriptFailedTestLogs.
func TestTranscriptChild(t *testing.T) {
	mode := os.Getenv("MAILTEST_TRANSCRIPT_CHILD")
	if mode == "" {
		t.Skip("run by TestTranscriptFailedTestLogs")
	}
	srv := NewServer(t)
	if err := smtp.SendMail(srv.SMTPAddr(), nil, "a@example.com", []string{"b@example.com"}, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	srv.WaitForMessage(t, To("b@example.com"))
	if mode == "fail" {
		t.Error("failing on purpose")
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestTranscriptIMAPCommandLayer: the command layer's commands, literals
// and continuation requests are recorded in order with go-imap's lines,
// also after STARTTLS.
func TestTranscriptIMAPCommandLayer(t *testing.T) {
	t.Parallel()
	srv := NewServer(t, WithUser(trUser, trPass))
	c, err := imapclient.DialStartTLS(srv.IMAPAddr(), &imapclient.Options{TLSConfig: srv.ClientTLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ID(&imap.IDData{Name: "trclient"}).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(trUser, trPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sort(&imapclient.SortOptions{SearchCriteria: &imap.SearchCriteria{}, SortCriteria: []imapclient.SortCriterion{{Key: imapclient.SortKeyArrival}}}).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	tr := findTranscript(t, srv, IMAP, "SORT")
	// imapclient numbers its tags T1, T2, ...
	expectInOrder(t, tr, "C: T1 STARTTLS", "S: T1 OK Begin TLS negotiation now", `C: T2 ID ("name" "trclient")`,
		`S: * ID ("name" "mailrig" "version" "`, "S: T2 OK ID completed", "C: T3 CAPABILITY", "S: * CAPABILITY IMAP4rev2 ",
		"S: T3 OK CAPABILITY completed", "C: T4 LOGIN ", "S: T4 OK [CAPABILITY ", "C: T5 SELECT INBOX", "S: T5 OK ",
		"C: T6 SORT (ARRIVAL) UTF-8 ALL", "S: * SORT", "S: T6 OK SORT completed", "C: T7 LOGOUT", "S: * BYE")
	checkNoSecrets(t, srv)
}
