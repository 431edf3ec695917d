package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestDevServerBinary builds the command, starts it on port-0 addresses,
// reads the addresses from its banner, sends a message over SMTP, reads it
// back as the catch-all account over IMAPS and POP3S, then stops it with
// SIGTERM and expects a clean exit.
func TestDevServerBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "devserver")
	build := exec.Command(goCommand(t), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	certFile := filepath.Join(dir, "cert.pem")
	args := []string{"-cert-out", certFile, "-user", "bob@example.com:bobpw"}
	for _, p := range []string{"smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s", "http"} {
		args = append(args, "-"+p, "127.0.0.1:0")
	}
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{}) // closed once the process has been reaped
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	addrs, rest := readBanner(t, stdout)
	for _, p := range []string{"smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s"} {
		if !strings.HasPrefix(addrs[p], "127.0.0.1:") {
			t.Fatalf("banner has no loopback address for %s: %v", p, addrs)
		}
	}

	web := strings.TrimSuffix(addrs["http"], "/")
	if !strings.HasPrefix(web, "http://127.0.0.1:") {
		t.Fatalf("banner has no web address: %v", addrs)
	}
	// A WebSocket stays open through the shutdown below, which must still
	// be clean; a wait started before the send sees the message.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(web, "http")+"/api/events", nil)
	if err != nil {
		t.Fatalf("WebSocket: %v", err)
	}
	defer ws.CloseNow()
	waited := make(chan string, 1)
	go func() {
		resp, err := http.Get(web + "/api/v1/wait?query=subject:%22from+the+app%22&timeout=10s")
		if err != nil {
			waited <- err.Error()
			return
		}
		defer resp.Body.Close()
		var list struct {
			Messages []struct{ ID, Subject string } `json:"messages"`
		}
		json.NewDecoder(resp.Body).Decode(&list)
		if resp.StatusCode != 200 || len(list.Messages) != 1 {
			waited <- fmt.Sprintf("%d %+v", resp.StatusCode, list)
			return
		}
		waited <- list.Messages[0].Subject
	}()

	body := "From: app@example.com\r\nTo: bob@example.com\r\nSubject: from the app\r\n\r\nhello dev\r\n"
	if err := smtp.SendMail(addrs["smtp"], nil, "app@example.com", []string{"bob@example.com"}, []byte(body)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	if got := <-waited; got != "from the app" {
		t.Errorf("wait over HTTP = %s", got)
	}
	for {
		_, frame, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("WebSocket: no new-message frame: %v", err)
		}
		if strings.Contains(string(frame), `"Type":"new"`) {
			if !strings.Contains(string(frame), `"Subject":"from the app"`) {
				t.Errorf("new-message frame = %s", frame)
			}
			break
		}
	}
	checkWebAPI(t, web)

	tlsConfig := trustPEM(t, certFile)
	// The catch-all account sees the message over IMAPS. The copy is filed
	// right after delivery, so wait for it with IDLE rather than guess.
	subject := imapSubject(t, addrs["imaps"], tlsConfig, "dev@localhost", "dev")
	if subject != "from the app" {
		t.Errorf("catch-all IMAPS subject = %q", subject)
	}
	// The recipient, given a password with -user, downloads it over POP3S.
	if got := pop3Retr(t, addrs["pop3s"], tlsConfig, "bob@example.com", "bobpw"); !strings.Contains(got, "hello dev") {
		t.Errorf("POP3S RETR = %q", got)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, rest)
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", waitErr, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10s of SIGTERM")
	}
}

func goCommand(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command found: %v", err)
	}
	return p
}

// readBanner reads lines until the banner's last line and returns the
// protocol → address map.
func readBanner(t testing.TB, r io.Reader) (map[string]string, *bufio.Reader) {
	t.Helper()
	br := bufio.NewReader(r)
	addrs := make(map[string]string)
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				errc <- err
				return
			}
			lines <- line
			if strings.Contains(line, "any other recipient") {
				errc <- nil
				return
			}
		}
	}()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line := <-lines:
			if f := strings.Fields(line); len(f) == 2 && strings.Contains(f[1], ":") {
				addrs[f[0]] = f[1]
			}
		case err := <-errc:
			if err != nil {
				t.Fatalf("banner: %v", err)
			}
			return addrs, br
		case <-timeout:
			t.Fatal("no banner within 10s")
		}
	}
}

func trustPEM(t *testing.T, file string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("-cert-out wrote no certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

func imapSubject(t *testing.T, addr string, tlsConfig *tls.Config, user, pass string) string {
	t.Helper()
	exists := make(chan uint32, 4)
	c, err := imapclient.DialTLS(addr, &imapclient.Options{
		TLSConfig: tlsConfig,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		idle, err := c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-exists:
		case <-time.After(5 * time.Second):
			t.Fatal("catch-all copy did not arrive within 5s")
		}
		idle.Close()
		idle.Wait()
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v %v", msgs, err)
	}
	c.Logout().Wait()
	return msgs[0].Envelope.Subject
}

func pop3Retr(t *testing.T, addr string, tlsConfig *tls.Config, user, pass string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(conn)
	expect := func(cmd string) {
		t.Helper()
		if cmd != "" {
			tp.PrintfLine("%s", cmd)
		}
		line, err := tp.ReadLine()
		if err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("%q: %q %v", cmd, line, err)
		}
	}
	expect("")
	expect("USER " + user)
	expect("PASS " + pass)
	expect("RETR 1")
	lines, err := tp.ReadDotLines()
	if err != nil {
		t.Fatal(err)
	}
	expect("QUIT")
	return strings.Join(lines, "\n")
}

// TestRunRefusesPublicAddress: a non-loopback address needs -public.
func TestRunRefusesPublicAddress(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // run must refuse before it would wait for a signal
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"-smtp", "0.0.0.0:0"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "-public") {
		t.Fatalf("err = %v, want a refusal mentioning -public", err)
	}
}

// checkWebAPI reads the delivered message through the dev server's HTTP
// API, as an end-to-end test in another language would, and checks that
// the listener refuses a foreign Host.
func checkWebAPI(t *testing.T, web string) {
	t.Helper()
	resp, err := http.Get(web + "/api/v1/message/latest")
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Subject, Text string
		To            []struct{ Address string }
		Envelope      struct{ Rcpts []string }
	}
	err = json.NewDecoder(resp.Body).Decode(&msg)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || msg.Subject != "from the app" || !strings.Contains(msg.Text, "hello dev") ||
		len(msg.Envelope.Rcpts) != 1 || msg.Envelope.Rcpts[0] != "bob@example.com" {
		t.Errorf("GET message/latest = %d %+v (%v)", resp.StatusCode, msg, err)
	}
	resp, err = http.Get(web + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<html") {
		t.Errorf("GET / = %d %.100s", resp.StatusCode, page)
	}
	req, _ := http.NewRequest("GET", web+"/api/v1/messages", nil)
	req.Host = "attacker.example"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Host = %d, want 403", resp.StatusCode)
	}
	req, _ = http.NewRequest("DELETE", web+"/api/v1/messages", nil)
	req.Header.Set("Origin", "https://attacker.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Origin DELETE = %d, want 403", resp.StatusCode)
	}
}

// TestRunRefusesPublicHTTP: the web listener follows the loopback rule too.
func TestRunRefusesPublicHTTP(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"-http", "0.0.0.0:0", "-smtp", "off", "-submission", "off", "-smtps", "off",
		"-imap", "off", "-imaps", "off", "-pop3", "off", "-pop3s", "off"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "-public") || !strings.Contains(err.Error(), "-http") {
		t.Fatalf("err = %v, want a refusal of -http mentioning -public", err)
	}
	err = run(ctx, []string{"-http-auth", "nocolon"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "user:password") {
		t.Fatalf("-http-auth without colon: %v", err)
	}
}

// TestRunHTTPOff: -http off leaves the web listener out of the banner;
// otherwise the banner gives its URL.
func TestRunHTTPOff(t *testing.T) {
	t.Parallel()
	ports := []string{"-smtp", "127.0.0.1:0", "-submission", "off", "-smtps", "off", "-imap", "off", "-imaps", "off", "-pop3", "off", "-pop3s", "off"}
	for _, tc := range []struct {
		http string
		want bool
	}{{"off", false}, {"127.0.0.1:0", true}} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // run prints its banner, then stops at once
		var out, errOut bytes.Buffer
		if err := run(ctx, append([]string{"-http", tc.http}, ports...), &out, &errOut); err != nil {
			t.Fatalf("-http %s: %v\n%s", tc.http, err, errOut.String())
		}
		if got := strings.Contains(out.String(), "  http       http://127.0.0.1:"); got != tc.want {
			t.Errorf("-http %s: banner has the web URL = %v, want %v:\n%s", tc.http, got, tc.want, out.String())
		}
	}
}
