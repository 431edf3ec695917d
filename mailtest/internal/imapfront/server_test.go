package imapfront

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailrig/mailrig/mailtest/internal/fault"
	"github.com/mailrig/mailrig/mailtest/internal/testcert"
	"github.com/mailrig/mailrig/memstore"
)

func TestIntercept(t *testing.T) {
	t.Parallel()
	var seen atomic.Value
	e := newEnv(t, Options{Intercept: func(c Command) *fault.Action {
		seen.Store(c)
		switch {
		case c.Name == "UID FETCH":
			return &fault.Action{Reply: "NO [UNAVAILABLE] try later"}
		case c.Name == "CREATE" && c.Mailbox == "Boom":
			return &fault.Action{Reply: "BYE going away"}
		case c.Name == "DELETE":
			return &fault.Action{Drop: true}
		case c.Name == "STATUS":
			return &fault.Action{Delay: 20 * time.Millisecond}
		}
		return nil
	}})
	rc := e.rawLogin(t, alice)
	if c := seen.Load().(Command); c.Name != "LOGIN" || c.User != alice || c.ConnID == 0 {
		t.Errorf("login command %+v", c)
	}
	rc.ok("a", "SELECT INBOX")
	if c := seen.Load().(Command); c.Name != "SELECT" || c.User != alice || c.Mailbox != "INBOX" {
		t.Errorf("select command %+v", c)
	}
	if _, tagged := rc.cmd("b", "UID FETCH 1:* (FLAGS)"); tagged != "b NO [UNAVAILABLE] try later" {
		t.Errorf("intercepted fetch: %q", tagged)
	}
	rc.ok("c", "FETCH 1:* (FLAGS)")
	start := time.Now()
	rc.ok("d", "STATUS INBOX (MESSAGES)")
	if time.Since(start) < 20*time.Millisecond {
		t.Error("STATUS not delayed")
	}
	rc.send("e CREATE Boom")
	if resp := rc.readResp(); resp != "* BYE going away" {
		t.Errorf("bye: %q", resp)
	}
	rc2 := e.rawLogin(t, alice)
	rc2.send("f DELETE Archive")
	_ = rc2.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc2.r.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Errorf("after Close action: %v", err)
	}
}

func TestRequireTLSAndSTARTTLS(t *testing.T) {
	t.Parallel()
	b, err := testcert.Get()
	mustNoErr(t, err, "cert")
	e := newEnv(t, Options{TLSConfig: testcert.ServerConfig(b.Certificate), RequireTLS: true})
	rc := e.raw(t)
	expectLines(t, rc.ok("a", "CAPABILITY"), "* CAPABILITY IMAP4rev2 IMAP4rev1 SASL-IR LITERAL- STARTTLS LOGINDISABLED UNSELECT ENABLE IDLE UTF8=ACCEPT NAMESPACE UIDPLUS ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS MOVE STATUS=SIZE BINARY CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LITERAL+ APPENDLIMIT=26214400 ID QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES")
	if _, tagged := rc.cmd("b", "LOGIN alice@example.com secret"); !strings.HasPrefix(tagged, "b NO [PRIVACYREQUIRED]") {
		t.Errorf("plaintext login: %q", tagged)
	}
	cfg := testcert.ClientConfig(b.Pool)
	cfg.ServerName = "127.0.0.1"
	c, err := imapclient.DialStartTLS(e.addr, &imapclient.Options{TLSConfig: cfg})
	mustNoErr(t, err, "starttls")
	defer c.Close()
	mustNoErr(t, c.Login(alice, pw).Wait(), "login over STARTTLS")
	_, err = c.Select("INBOX", nil).Wait()
	mustNoErr(t, err, "select")
	mustNoErr(t, c.Logout().Wait(), "logout")
}

func TestServeTLS(t *testing.T) {
	t.Parallel()
	b, err := testcert.Get()
	mustNoErr(t, err, "cert")
	store := memstore.New()
	if _, err := store.AddUser(alice, pw); err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Options{Store: store, RequireTLS: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	mustNoErr(t, err, "listen")
	served := make(chan error, 1)
	go func() {
		served <- srv.ServeTLS(ln, testcert.ServerConfig(b.Certificate))
	}()
	c, err := imapclient.DialTLS(ln.Addr().String(), &imapclient.Options{TLSConfig: testcert.ClientConfig(b.Pool)})
	mustNoErr(t, err, "dial tls")
	defer c.Close()
	mustNoErr(t, c.Login(alice, pw).Wait(), "login over IMAPS")
	_, err = c.Select("INBOX", nil).Wait()
	mustNoErr(t, err, "select")
	// Close with the session still open: it must end every goroutine.
	mustNoErr(t, srv.Close(), "close")
	mustNoErr(t, <-served, "serve")
	// Like net/http's, Serve after Close returns nil, closing ln.
	if err := srv.Serve(ln); err != nil {
		t.Errorf("Serve after Close: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept on ln after Serve after Close: %v", err)
	}
}

// TestCloseEndsIdleAndStalledSessions: Close returns only when every
// connection goroutine is gone, including idling ones and ones blocked on
// a client that does not read (goleak checks the rest at exit).
func TestCloseEndsIdleAndStalledSessions(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	if _, err := store.AddUser(alice, pw); err != nil {
		t.Fatal(err)
	}
	big := simpleMsg("big", strings.Repeat("y", 32<<10))
	inbox := func() *memstore.Mailbox { u, _ := store.User(alice); return u.Inbox() }()
	for i := 0; i < 100; i++ {
		if _, err := inbox.Append(memstore.NewMessage([]byte(big), time.Time{}, memstore.Envelope{}), memstore.Flags{}); err != nil {
			t.Fatal(err)
		}
	}
	srv := NewServer(Options{Store: store})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	mustNoErr(t, err, "listen")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	dial := func(lines ...string) net.Conn {
		conn, err := net.Dial("tcp", ln.Addr().String())
		mustNoErr(t, err, "dial")
		t.Cleanup(func() { conn.Close() })
		r := bufio.NewReader(conn)
		_, _ = r.ReadString('\n')
		for _, l := range lines {
			_, _ = io.WriteString(conn, l+"\r\n")
			for {
				resp, err := r.ReadString('\n')
				mustNoErr(t, err, "read")
				if !strings.HasPrefix(resp, "* ") {
					break
				}
			}
		}
		return conn
	}
	dial("a LOGIN "+alice+" "+pw, "b SELECT INBOX", "c IDLE")
	dial("a LOGIN "+alice+" "+pw, "c IDLE")
	stalled := dial("a LOGIN "+alice+" "+pw, "b SELECT INBOX")
	_, _ = io.WriteString(stalled, "c FETCH 1:* BODY.PEEK[]\r\n")
	dial() // not logged in
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	mustNoErr(t, waitFor(t, closed, 10*time.Second, "Close"), "close")
	mustNoErr(t, <-served, "serve")
}

func TestDisableCapabilities(t *testing.T) {
	t.Parallel()
	b, err := testcert.Get()
	mustNoErr(t, err, "cert")
	e := newEnv(t, Options{
		TLSConfig: testcert.ServerConfig(b.Certificate),
		Disable:   []string{"move", "UIDPLUS", "STARTTLS", "SPECIAL-USE", "IDLE"},
	})
	e.appendMsg(t, alice, "INBOX", simpleMsg("x", "y"), time.Time{})
	rc := e.raw(t)
	expectLines(t, rc.ok("a", "CAPABILITY"), "* CAPABILITY IMAP4rev1 SASL-IR LITERAL- AUTH=PLAIN UNSELECT ENABLE UTF8=ACCEPT NAMESPACE ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS STATUS=SIZE BINARY CHILDREN LITERAL+ APPENDLIMIT=26214400 ID QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES")
	_, tagged := rc.cmd("b", "LOGIN alice@example.com secret")
	want := "b OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- UNSELECT ENABLE UTF8=ACCEPT NAMESPACE ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS STATUS=SIZE BINARY CHILDREN LITERAL+ APPENDLIMIT=26214400 ID QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES] Logged in"
	if tagged != want {
		t.Errorf("caps:\n got %q\nwant %q", tagged, want)
	}
	rc.ok("c", "SELECT INBOX")
	if _, tagged := rc.cmd("d", "MOVE 1 Trash"); !strings.HasPrefix(tagged, "d BAD") {
		t.Errorf("MOVE: %q", tagged)
	}
	_, tagged = rc.cmd("e", "COPY 1 Trash")
	if tagged != "e OK COPY completed" {
		t.Errorf("COPY without UIDPLUS: %q", tagged)
	}
	expectLines(t, rc.ok("f", `LIST "" "Trash"`), `* LIST (\HasNoChildren) "/" "Trash"`)
	if _, tagged := rc.cmd("g", "CREATE X (USE (\\Sent))"); !strings.HasPrefix(tagged, "g BAD") {
		t.Errorf("CREATE USE: %q", tagged)
	}
	// A hidden IDLE is refused at once, without the "+" a client would
	// answer with DONE.
	if _, tagged := rc.cmd("h", "IDLE"); tagged != "h BAD [CLIENTBUG] IDLE is not supported" {
		t.Errorf("IDLE: %q", tagged)
	}
	if _, tagged := rc.cmd("i", "STARTTLS"); !strings.HasPrefix(tagged, "i NO") && !strings.HasPrefix(tagged, "i BAD") {
		t.Errorf("STARTTLS: %q", tagged)
	}
}

// TestLoggerReceivesGoIMAPMessages: go-imap's own diagnostics go to
// Options.Logger, not the global log package.
func TestLoggerReceivesGoIMAPMessages(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	e := newEnv(t, Options{Logger: logger})
	rc := e.raw(t)
	rc.send("a1") // no command name: go-imap logs and hangs up
	_ = rc.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.ReadAll(rc.r) // the server hangs up
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := buf.String()
		mu.Unlock()
		if strings.Contains(got, "imapserver:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no go-imap message in the logger: %q", got)
		}
		runtime.Gosched()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
