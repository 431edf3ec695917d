package imapfront

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailrig/mailrig/mailtest/internal/fault"
	"github.com/mailrig/mailrig/mailtest/internal/testcert"
)

// The capability lists the layer sends (APPENDLIMIT is the default).
const (
	capsCommon    = "UNSELECT ENABLE IDLE UTF8=ACCEPT NAMESPACE UIDPLUS ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS MOVE STATUS=SIZE BINARY CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LITERAL+ APPENDLIMIT=26214400 ID QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES"
	capsHead      = "IMAP4rev2 IMAP4rev1 SASL-IR LITERAL-"
	capsPreLogin  = capsHead + " AUTH=PLAIN " + capsCommon
	capsPostLogin = capsHead + " " + capsCommon
)

// rawGreeting dials and returns the connection and its greeting line.
func (e *env) rawGreeting(t *testing.T) (*rawConn, string) {
	t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	mustNoErr(t, err, "dial")
	t.Cleanup(func() { conn.Close() })
	rc := &rawConn{t: t, conn: conn}
	rc.r = bufio.NewReader(conn)
	return rc, rc.readResp()
}

func TestCapabilitiesBeforeAndAfterLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	rc, greeting := e.rawGreeting(t)
	if want := "* OK [CAPABILITY " + capsPreLogin + "] IMAP server ready"; greeting != want {
		t.Errorf("greeting:\n got %q\nwant %q", greeting, want)
	}
	expectLines(t, rc.ok("a", "CAPABILITY"), "* CAPABILITY "+capsPreLogin)
	_, tagged := rc.cmd("b", "LOGIN alice@example.com secret")
	if want := "b OK [CAPABILITY " + capsPostLogin + "] Logged in"; tagged != want {
		t.Errorf("login:\n got %q\nwant %q", tagged, want)
	}
	expectLines(t, rc.ok("c", "CAPABILITY"), "* CAPABILITY "+capsPostLogin)

	// AUTHENTICATE's tagged OK carries the same list.
	rc2 := e.raw(t)
	_, tagged = rc2.cmd("a", "AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==")
	if want := "a OK [CAPABILITY " + capsPostLogin + "] PLAIN authentication successful"; tagged != want {
		t.Errorf("authenticate:\n got %q\nwant %q", tagged, want)
	}
}

// TestGreetingListsIdle reads capabilities the way Python's imaplib does,
// from the greeting only, and finds IDLE and the layer's extensions.
func TestGreetingListsIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	_, greeting := e.rawGreeting(t)
	code, _, _ := strings.Cut(strings.TrimPrefix(greeting, "* OK [CAPABILITY "), "]")
	caps := strings.Fields(code)
	for _, want := range []string{"IDLE", "ID", "ENABLE", "LITERAL+", "SORT", "THREAD=REFERENCES", "QUOTA"} {
		if !slices.Contains(caps, want) {
			t.Errorf("greeting lacks %s: %q", want, greeting)
		}
	}
}

func TestCapabilitiesWithTLS(t *testing.T) {
	t.Parallel()
	b, err := testcert.Get()
	mustNoErr(t, err, "cert")
	serverCfg := testcert.ServerConfig(b.Certificate)
	clientCfg := testcert.ClientConfig(b.Pool)
	clientCfg.ServerName = "127.0.0.1"
	e := newEnv(t, Options{TLSConfig: serverCfg, RequireTLS: true})

	// Plaintext: STARTTLS and LOGINDISABLED, no AUTH=.
	rc, greeting := e.rawGreeting(t)
	wantPlain := capsHead + " STARTTLS LOGINDISABLED " + capsCommon
	if greeting != "* OK [CAPABILITY "+wantPlain+"] IMAP server ready" {
		t.Errorf("plaintext greeting: %q", greeting)
	}
	if _, tagged := rc.cmd("b", "AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA=="); tagged != "b NO [PRIVACYREQUIRED] TLS is required to authenticate" {
		t.Errorf("plaintext AUTHENTICATE: %q", tagged)
	}
	// After STARTTLS: AUTH=PLAIN, no STARTTLS.
	rc.send("c STARTTLS")
	if resp := rc.readResp(); resp != "c OK Begin TLS negotiation now" {
		t.Fatalf("STARTTLS: %q", resp)
	}
	tc := tls.Client(rc.conn, clientCfg)
	rc.conn, rc.r = tc, bufio.NewReader(tc)
	expectLines(t, rc.ok("d", "CAPABILITY"), "* CAPABILITY "+capsPreLogin)
	if _, tagged := rc.cmd("e", "STARTTLS"); tagged != "e BAD STARTTLS not available" {
		t.Errorf("second STARTTLS: %q", tagged)
	}
	_, tagged := rc.cmd("f", "LOGIN alice@example.com secret")
	if tagged != "f OK [CAPABILITY "+capsPostLogin+"] Logged in" {
		t.Errorf("login after STARTTLS: %q", tagged)
	}
	expectLines(t, rc.ok("g", "ID NIL"), `* ID ("name" "mailrig" "version" "`+serverVersion()+`" "vendor" "mailrig" "support-url" "https://github.com/mailrig/mailrig")`)

	// Implicit TLS: no STARTTLS from the start.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	mustNoErr(t, err, "listen")
	served := make(chan error, 1)
	go func() { served <- e.srv.ServeTLS(ln, serverCfg) }()
	t.Cleanup(func() { _ = ln.Close(); <-served })
	conn, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
	mustNoErr(t, err, "dial imaps")
	t.Cleanup(func() { conn.Close() })
	rs := &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	if g := rs.readResp(); g != "* OK [CAPABILITY "+capsPreLogin+"] IMAP server ready" {
		t.Errorf("IMAPS greeting: %q", g)
	}
	rs.ok("a", "LOGIN alice@example.com secret")
}

// TestHiddenLayerCapabilities: each capability of the layer, hidden, is
// listed nowhere, and its command is an unknown command.
func TestHiddenLayerCapabilities(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		hide    string
		gone    []string // capabilities no longer listed
		command string   // now answered "BAD Unknown command"
		still   string   // a command still served, "" if none
	}{
		{"ID", []string{"ID"}, `ID ("name" "x")`, ""},
		{"QUOTA", []string{"QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"}, "GETQUOTAROOT INBOX", ""},
		{"quota=res-message", []string{"QUOTA=RES-MESSAGE"}, "", "GETQUOTAROOT INBOX"},
		{"SORT", []string{"SORT", "SORT=DISPLAY"}, "SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL"},
		{"sort=display", []string{"SORT=DISPLAY"}, "", "SORT (DATE) UTF-8 ALL"},
		{"THREAD=ORDEREDSUBJECT", []string{"THREAD=ORDEREDSUBJECT"}, "", "THREAD REFERENCES UTF-8 ALL"},
		{"THREAD=REFERENCES", []string{"THREAD=REFERENCES"}, "", "THREAD ORDEREDSUBJECT UTF-8 ALL"},
	} {
		t.Run(tc.hide, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Options{Disable: []string{tc.hide}})
			rc, greeting := e.rawGreeting(t)
			pre := rc.ok("a", "CAPABILITY")
			_, login := rc.cmd("b", "LOGIN alice@example.com secret")
			for _, list := range []string{greeting, pre[0], login} {
				for _, c := range tc.gone {
					if slices.Contains(strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(list)), c) {
						t.Errorf("%s still listed: %q", c, list)
					}
				}
			}
			rc.ok("c", "SELECT INBOX")
			if tc.command != "" {
				if _, tagged := rc.cmd("d", tc.command); tagged != "d BAD Unknown command" {
					t.Errorf("%s: %q", tc.command, tagged)
				}
			}
			if tc.still != "" {
				rc.ok("e", tc.still)
			}
		})
	}
	t.Run("THREAD=REFERENCES and ORDEREDSUBJECT", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{Disable: []string{"THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT"}})
		rc := e.rawLogin(t, alice)
		rc.ok("a", "SELECT INBOX")
		if _, tagged := rc.cmd("b", "THREAD REFERENCES UTF-8 ALL"); tagged != "b BAD Unknown command" {
			t.Errorf("THREAD: %q", tagged)
		}
	})
	t.Run("THREAD=ORDEREDSUBJECT alone", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{Disable: []string{"THREAD=ORDEREDSUBJECT"}})
		rc := e.rawLogin(t, alice)
		rc.ok("a", "SELECT INBOX")
		if _, tagged := rc.cmd("b", "THREAD ORDEREDSUBJECT UTF-8 ALL"); tagged != "b BAD [CLIENTBUG] Unknown threading algorithm ORDEREDSUBJECT" {
			t.Errorf("THREAD: %q", tagged)
		}
	})
	t.Run("SORT=DISPLAY alone", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{Disable: []string{"SORT=DISPLAY"}})
		rc := e.rawLogin(t, alice)
		rc.ok("a", "SELECT INBOX")
		if _, tagged := rc.cmd("b", "SORT (DISPLAYFROM) UTF-8 ALL"); tagged != "b BAD [CLIENTBUG] Unknown sort key DISPLAYFROM" {
			t.Errorf("SORT: %q", tagged)
		}
	})
	t.Run("ID before login", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, Options{Disable: []string{"ID"}})
		rc := e.raw(t)
		// Like any unknown command before login (go-imap's rule against
		// cross-protocol attacks): BAD, then BYE.
		if _, tagged := rc.cmd("a", "ID NIL"); tagged != "a BAD Unknown command" {
			t.Errorf("ID: %q", tagged)
		}
		if resp := rc.readResp(); resp != "* BYE Unknown command" {
			t.Errorf("after ID: %q", resp)
		}
	})
}

func TestIDTranscript(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	serverID := `* ID ("name" "mailrig" "version" "` + serverVersion() + `" "vendor" "mailrig" "support-url" "https://github.com/mailrig/mailrig")`
	rc := e.raw(t)
	// Before login, with a quoted string, NIL and a synchronising literal.
	rc.send(`a ID ("name" "Thunderbird" "version" NIL "os" {5}`)
	if resp := rc.readResp(); resp != "+ Ready for literal data" {
		t.Fatalf("literal: %q", resp)
	}
	rc.send(`Linux "x-\"q\"" "a\\b")`)
	expectLines(t, []string{rc.readResp(), rc.readResp()}, serverID, "a OK ID completed")
	// A non-synchronising literal gets no "+".
	expectLines(t, rc.ok("b", "ID (\"name\" {4+}\r\nmutt)"), serverID)
	expectLines(t, rc.ok("c", "id nil"), serverID)
	for _, tc := range []struct{ args, want string }{
		{"", "d BAD [CLIENTBUG] Syntax error: expected SP"},
		{" (", "d BAD [CLIENTBUG] Syntax error: expected string"},
		{` ("name")`, "d BAD [CLIENTBUG] Syntax error: expected SP"},
		{` ("name" "x"`, "d BAD [CLIENTBUG] Syntax error: expected SP"},
		{` ("name" "x") extra`, "d BAD [CLIENTBUG] Syntax error: expected CRLF"},
		{` ("` + strings.Repeat("f", 31) + `" "x")`, "d BAD [CLIENTBUG] Syntax error: ID field longer than 30 octets"},
		{" FOO", "d BAD [CLIENTBUG] Syntax error: expected parameter list or NIL"},
		{" (" + strings.Repeat(`"f" "v" `, 30) + `"f" "v")`, "d BAD [CLIENTBUG] Syntax error: more than 30 ID parameters"},
	} {
		if _, tagged := rc.cmd("d", "ID"+tc.args); tagged != tc.want {
			t.Errorf("ID%s:\n got %q\nwant %q", tc.args, tagged, tc.want)
		}
	}
	// The last ID counts, and the session shows it.
	rc.ok("e", `LOGIN alice@example.com secret`)
	rc.ok("f", `ID ("name" "Thunderbird" "os" {5}`+"\r\nLinux)")
	rc.ok("g", "SELECT INBOX")
	var found bool
	for _, si := range e.srv.Sessions() {
		if si.User == alice {
			found = true
			if si.ClientID["name"] != "Thunderbird" || si.ClientID["os"] != "Linux" || len(si.ClientID) != 2 || si.Mailbox != "INBOX" {
				t.Errorf("session info: %+v", si)
			}
		}
	}
	if !found {
		t.Errorf("no session of alice in %+v", e.srv.Sessions())
	}
}

func TestIDWithImapclient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	c := e.client(t, alice, nil)
	data, err := c.ID(&imap.IDData{Name: "go-imap", Version: "2", Vendor: "emersion"}).Wait()
	mustNoErr(t, err, "ID")
	if data.Name != "mailrig" || data.Version != serverVersion() || data.Vendor != "mailrig" || data.SupportURL == "" {
		t.Errorf("server ID: %+v", data)
	}
	sessions := e.srv.Sessions()
	if len(sessions) != 1 || sessions[0].ClientID["name"] != "go-imap" || sessions[0].ClientID["version"] != "2" || sessions[0].ClientID["vendor"] != "emersion" {
		t.Errorf("sessions: %+v", sessions)
	}
}

func TestQuotaTranscript(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	u, _ := e.store.User(alice)
	u.SetQuota(10 << 10)
	u.SetMessageQuota(5)
	e.appendMsg(t, alice, "INBOX", simpleMsg("one", strings.Repeat("x", 1500)), time.Time{})
	_, used := u.Quota()
	usedKiB := (used + 1023) / 1024

	rc := e.raw(t)
	if _, tagged := rc.cmd("a", "GETQUOTAROOT INBOX"); tagged != "a BAD [CLIENTBUG] This command is only valid in the authenticated state" {
		t.Errorf("before login: %q", tagged)
	}
	rc.ok("b", "LOGIN alice@example.com secret")
	quota := `* QUOTA "" (STORAGE ` + itoa(int(usedKiB)) + ` 10 MESSAGE 1 5)`
	expectLines(t, rc.ok("c", "GETQUOTAROOT inbox"), `* QUOTAROOT inbox ""`, quota)
	expectLines(t, rc.ok("d", `GETQUOTAROOT "Sent"`), `* QUOTAROOT Sent ""`, quota)
	expectLines(t, rc.ok("e", `GETQUOTAROOT {6}`+"\r\nDrafts"), "+ Ready for literal data", `* QUOTAROOT Drafts ""`, quota)
	expectLines(t, rc.ok("f", `GETQUOTA ""`), quota)
	for _, tc := range []struct{ cmd, want string }{
		{"GETQUOTAROOT Nope", "g NO [NONEXISTENT] GETQUOTAROOT: no such mailbox"},
		{`GETQUOTA "user.alice"`, "g NO [NONEXISTENT] No such quota root"},
		{"GETQUOTA", "g BAD [CLIENTBUG] Syntax error: expected SP"},
		{"GETQUOTAROOT INBOX x", "g BAD [CLIENTBUG] Syntax error: expected CRLF"},
		{`SETQUOTA "" (STORAGE 512)`, "g NO [NOPERM] Quota limits cannot be changed"},
		{`SETQUOTA "" (MESSAGE 1)`, "g NO [NOPERM] Quota limits cannot be changed"},
		{`SETQUOTA "" (STORAGE)`, "g BAD [CLIENTBUG] Syntax error: expected SP"},
		{`SETQUOTA "" STORAGE 1`, "g BAD [CLIENTBUG] Syntax error: expected '('"},
	} {
		if _, tagged := rc.cmd("g", tc.cmd); !strings.HasPrefix(tagged, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, tagged, tc.want)
		}
	}
	if limit, _ := u.Quota(); limit != 10<<10 {
		t.Errorf("refused SETQUOTA changed the limit to %d", limit)
	}
	if limit, _ := u.MessageQuota(); limit != 5 {
		t.Errorf("refused SETQUOTA changed the message limit to %d", limit)
	}
	// Only limited resources are listed (RFC 9208 §4.2.2).
	u.SetQuota(0)
	expectLines(t, rc.ok("h", `GETQUOTA ""`), `* QUOTA "" (MESSAGE 1 5)`)
	u.SetQuota(10 << 10)
	u.SetMessageQuota(0)
	expectLines(t, rc.ok("i", `GETQUOTA ""`), `* QUOTA "" (STORAGE `+itoa(int(usedKiB))+` 10)`)
	u.SetQuota(0)
	expectLines(t, rc.ok("j", `GETQUOTAROOT INBOX`), `* QUOTAROOT INBOX ""`, `* QUOTA "" ()`)
}

func TestSetQuotaAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{AllowSetQuota: true})
	rc, greeting := e.rawGreeting(t)
	if !strings.Contains(greeting, " QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE QUOTASET ") {
		t.Errorf("greeting: %q", greeting)
	}
	rc.ok("a", "LOGIN alice@example.com secret")
	u, _ := e.store.User(alice)
	limits := func(wantBytes, wantMessages int64) {
		t.Helper()
		if limit, _ := u.Quota(); limit != wantBytes {
			t.Errorf("byte limit %d, want %d", limit, wantBytes)
		}
		if limit, _ := u.MessageQuota(); limit != wantMessages {
			t.Errorf("message limit %d, want %d", limit, wantMessages)
		}
	}
	expectLines(t, rc.ok("b", `SETQUOTA "" (STORAGE 512)`), `* QUOTA "" (STORAGE 0 512)`)
	limits(512*1024, 0)
	// The new list replaces the old one (RFC 9208 §4.1.3): STORAGE goes.
	expectLines(t, rc.ok("c", `SETQUOTA "" (MESSAGE 5)`), `* QUOTA "" (MESSAGE 0 5)`)
	limits(0, 5)
	expectLines(t, rc.ok("d", `SETQUOTA "" (message 2 Storage 64)`), `* QUOTA "" (STORAGE 0 64 MESSAGE 0 2)`)
	limits(64*1024, 2)
	for _, tc := range []struct{ cmd, want string }{
		{`SETQUOTA "" (MAILBOX 5)`, "e NO [LIMIT] Resource MAILBOX cannot be limited"},
		{`SETQUOTA "" (MESSAGE 5 MAILBOX 5)`, "e NO [LIMIT] Resource MAILBOX cannot be limited"},
		{`SETQUOTA "other" (MESSAGE 5)`, "e NO [NONEXISTENT] No such quota root"},
		{`SETQUOTA "" (MESSAGE 1 message 2)`, "e BAD [CLIENTBUG] Syntax error: resource MESSAGE given twice"},
		{`SETQUOTA "" (MESSAGE -1)`, "e BAD [CLIENTBUG] Syntax error: expected number"},
		{`SETQUOTA "" (MESSAGE 1`, "e BAD [CLIENTBUG] Syntax error: expected SP"},
	} {
		if _, tagged := rc.cmd("e", tc.cmd); tagged != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, tagged, tc.want)
		}
	}
	limits(64*1024, 2) // a refused SETQUOTA changes nothing
	expectLines(t, rc.ok("f", `SETQUOTA "" ()`), `* QUOTA "" ()`)
	limits(0, 0)
}

// TestMessageQuotaTranscript: a client sets a MESSAGE limit and runs into
// it with APPEND and COPY; MOVE keeps the count, EXPUNGE gives it back.
func TestMessageQuotaTranscript(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{AllowSetQuota: true})
	rc := e.rawLogin(t, alice)
	expectLines(t, rc.ok("a", `SETQUOTA "" (MESSAGE 2)`), `* QUOTA "" (MESSAGE 0 2)`)
	msg := simpleMsg("hello", "hi")
	var untagged []string // of the last APPEND
	appendCmd := func(tag string) string {
		rc.send(tag + " APPEND INBOX {" + itoa(len(msg)) + "}")
		if resp := rc.readResp(); resp != "+ Ready for literal data" {
			t.Fatalf("%s APPEND: %q", tag, resp)
		}
		rc.send(msg)
		untagged = nil
		for {
			resp := rc.readResp()
			if strings.HasPrefix(resp, tag+" ") {
				return resp
			}
			untagged = append(untagged, resp)
		}
	}
	for _, tag := range []string{"b", "c"} {
		if tagged := appendCmd(tag); !strings.HasPrefix(tagged, tag+" OK [APPENDUID ") {
			t.Fatalf("APPEND under the limit: %q", tagged)
		}
	}
	if tagged := appendCmd("d"); tagged != "d NO [OVERQUOTA] Cannot append: over quota: alice@example.com stores 2 of 2 messages" {
		t.Errorf("APPEND over the limit: %q", tagged)
	}
	expectLines(t, rc.ok("e", "GETQUOTAROOT INBOX"), `* QUOTAROOT INBOX ""`, `* QUOTA "" (MESSAGE 2 2)`)
	expectLines(t, rc.ok("f", "SELECT INBOX")[:1], "* 2 EXISTS")
	if _, tagged := rc.cmd("g", "COPY 1 Archive"); tagged != "g NO [OVERQUOTA] Cannot copy: over quota: alice@example.com stores 2 of 2 messages" {
		t.Errorf("COPY over the limit: %q", tagged)
	}
	untagged, tagged := rc.cmd("h", "MOVE 1 Archive")
	if !strings.HasPrefix(tagged, "h OK") || len(untagged) != 2 || !strings.HasPrefix(untagged[0], "* OK [COPYUID ") || untagged[1] != "* 1 EXPUNGE" {
		t.Errorf("MOVE at the limit: %q %q", untagged, tagged)
	}
	expectLines(t, rc.ok("i", `GETQUOTA ""`), `* QUOTA "" (MESSAGE 2 2)`)
	rc.ok("j", `STORE 1 +FLAGS.SILENT (\Deleted)`)
	expectLines(t, rc.ok("k", "EXPUNGE"), "* 1 EXPUNGE")
	expectLines(t, rc.ok("l", `GETQUOTA ""`), `* QUOTA "" (MESSAGE 1 2)`)
	if tagged := appendCmd("m"); !strings.HasPrefix(tagged, "m OK [APPENDUID ") {
		t.Errorf("APPEND after EXPUNGE: %q", tagged)
	}
	expectLines(t, untagged, "* 1 EXISTS", "* 1 RECENT")
	u, _ := e.store.User(alice)
	if _, used := u.MessageQuota(); used != 2 || len(e.mailbox(t, alice, "INBOX").Snapshot().Entries) != 1 || len(e.mailbox(t, alice, "Archive").Snapshot().Entries) != 1 {
		t.Errorf("stored %d messages: INBOX %d, Archive %d", used, len(e.mailbox(t, alice, "INBOX").Snapshot().Entries), len(e.mailbox(t, alice, "Archive").Snapshot().Entries))
	}
	// DELETE gives back the deleted mailbox's messages.
	rc.ok("n", "DELETE Archive")
	expectLines(t, rc.ok("o", `GETQUOTA ""`), `* QUOTA "" (MESSAGE 1 2)`)
}

// TestHiddenMessageQuota: with QUOTA=RES-MESSAGE hidden the server acts as
// one without the MESSAGE resource: not listed, not reported, not set.
func TestHiddenMessageQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{AllowSetQuota: true, Disable: []string{"QUOTA=RES-MESSAGE"}})
	u, _ := e.store.User(alice)
	u.SetQuota(4 << 10)
	u.SetMessageQuota(3)
	rc, greeting := e.rawGreeting(t)
	if !strings.Contains(greeting, " QUOTA QUOTA=RES-STORAGE QUOTASET ") {
		t.Errorf("greeting: %q", greeting)
	}
	rc.ok("a", "LOGIN alice@example.com secret")
	expectLines(t, rc.ok("b", `GETQUOTA ""`), `* QUOTA "" (STORAGE 0 4)`)
	if _, tagged := rc.cmd("c", `SETQUOTA "" (MESSAGE 5)`); tagged != "c NO [LIMIT] Resource MESSAGE cannot be limited" {
		t.Errorf("SETQUOTA MESSAGE: %q", tagged)
	}
	expectLines(t, rc.ok("d", `SETQUOTA "" (STORAGE 8)`), `* QUOTA "" (STORAGE 0 8)`)
	if limit, _ := u.MessageQuota(); limit != 3 {
		t.Errorf("message limit %d, want the 3 the test set", limit)
	}
}

func TestQuotaWithImapclient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{AllowSetQuota: true})
	u, _ := e.store.User(alice)
	u.SetQuota(1 << 20)
	u.SetMessageQuota(50)
	e.appendMsg(t, alice, "INBOX", simpleMsg("one", strings.Repeat("x", 3000)), time.Time{})
	e.appendMsg(t, alice, "Sent", simpleMsg("two", "short"), time.Time{})
	c := e.client(t, alice, nil)
	if got := c.Caps().QuotaResourceTypes(); !slices.Equal(slices.Sorted(slices.Values(got)), []imap.QuotaResourceType{imap.QuotaResourceMessage, imap.QuotaResourceStorage}) {
		t.Errorf("resource types: %v", got)
	}
	_, used := u.Quota()
	check := func(what string, q imapclient.QuotaData) {
		t.Helper()
		if q.Root != "" || len(q.Resources) != 2 {
			t.Fatalf("%s: %+v", what, q)
		}
		if st := q.Resources[imap.QuotaResourceStorage]; st.Limit != 1024 || st.Usage != (used+1023)/1024 || st.Usage == 0 {
			t.Errorf("%s storage: %+v", what, st)
		}
		if m := q.Resources[imap.QuotaResourceMessage]; m.Limit != 50 || m.Usage != 2 {
			t.Errorf("%s message: %+v", what, m)
		}
	}
	roots, err := c.GetQuotaRoot("INBOX").Wait()
	mustNoErr(t, err, "GETQUOTAROOT")
	if len(roots) != 1 {
		t.Fatalf("roots: %+v", roots)
	}
	check("GETQUOTAROOT", roots[0])
	q, err := c.GetQuota("").Wait()
	mustNoErr(t, err, "GETQUOTA")
	check("GETQUOTA", *q)

	// go-imap's SETQUOTA sets both; over the message limit its APPEND
	// reports OVERQUOTA.
	limits := map[imap.QuotaResourceType]int64{imap.QuotaResourceStorage: 1024, imap.QuotaResourceMessage: 2}
	mustNoErr(t, c.SetQuota("", limits).Wait(), "SETQUOTA")
	if l, _ := u.MessageQuota(); l != 2 {
		t.Errorf("message limit after SETQUOTA: %d", l)
	}
	if l, _ := u.Quota(); l != 1<<20 {
		t.Errorf("byte limit after SETQUOTA: %d", l)
	}
	raw := simpleMsg("three", "x")
	app := c.Append("INBOX", int64(len(raw)), nil)
	_, _ = io.WriteString(app, raw)
	mustNoErr(t, app.Close(), "APPEND close")
	if _, err := app.Wait(); imapCode(err) != imap.ResponseCodeOverQuota {
		t.Errorf("APPEND over the message limit: %v", err)
	}
	if _, n := u.MessageQuota(); n != 2 {
		t.Errorf("%d messages after a refused APPEND", n)
	}
}

func TestLayerIntercept(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	e := newEnv(t, Options{Intercept: func(c Command) *fault.Action {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, c.Name+" "+c.Mailbox)
		if c.Name == "UID THREAD" {
			return &fault.Action{Reply: "NO [UNAVAILABLE] threads are down"}
		}
		if c.Name == "GETQUOTA" {
			return &fault.Action{Reply: "BYE going away"}
		}
		return nil
	}})
	rc := e.rawLogin(t, alice)
	rc.ok("a", "ID NIL")
	rc.ok("b", "GETQUOTAROOT Sent")
	rc.ok("c", `SELECT INBOX`)
	rc.ok("d", "SORT (DATE) UTF-8 ALL")
	rc.ok("e", "UID SORT (DATE) UTF-8 ALL")
	rc.ok("f", "THREAD REFERENCES UTF-8 ALL")
	if _, tagged := rc.cmd("g", "UID THREAD REFERENCES UTF-8 ALL"); tagged != "g NO [UNAVAILABLE] threads are down" {
		t.Errorf("UID THREAD: %q", tagged)
	}
	_, _ = rc.cmd("h", `SETQUOTA "" (STORAGE 1)`)
	rc.send(`i GETQUOTA ""`)
	if resp := rc.readResp(); resp != "* BYE going away" {
		t.Errorf("GETQUOTA: %q", resp)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"CONNECT ", "LOGIN ", "ID ", "GETQUOTAROOT Sent", "SELECT INBOX", "SORT INBOX", "UID SORT INBOX",
		"THREAD INBOX", "UID THREAD INBOX", "SETQUOTA INBOX", "GETQUOTA INBOX"}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("intercepted:\n got %q\nwant %q", seen, want)
	}
}

// TestPassThroughLiterals: go-imap's own commands still get their
// literals through the layer, synchronising or not, and a literal go-imap
// refuses leaves the stream in step.
func TestPassThroughLiterals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{AppendLimit: 100})
	rc := e.raw(t)
	rc.send("a LOGIN {17}")
	if resp := rc.readResp(); !strings.HasPrefix(resp, "+ ") {
		t.Fatalf("LOGIN literal: %q", resp)
	}
	rc.send("alice@example.com {6+}\r\nsecret")
	if resp := rc.readResp(); !strings.HasPrefix(resp, "a OK [CAPABILITY "+capsHead) {
		t.Fatalf("LOGIN: %q", resp)
	}
	msg := "Subject: hi\r\n\r\nSORT (DATE) UTF-8 ALL\r\n"
	rc.send("b APPEND INBOX {" + itoa(len(msg)) + "+}\r\n" + msg)
	if resp := rc.readResp(); !strings.HasPrefix(resp, "b OK [APPENDUID ") {
		t.Fatalf("APPEND: %q", resp)
	}
	// Over the APPEND limit: refused before the literal, no "+".
	rc.send("c APPEND INBOX {500}")
	if resp := rc.readResp(); !strings.HasPrefix(resp, "c NO [TOOBIG]") {
		t.Fatalf("big APPEND: %q", resp)
	}
	rc.ok("d", "SELECT INBOX")
	expectLines(t, rc.ok("e", "SORT (ARRIVAL) UTF-8 ALL"), "* SORT 1")
	// The layer's own literals are limited like go-imap's buffered ones.
	rc.send("f SORT (ARRIVAL) UTF-8 SUBJECT {5000}")
	if resp := rc.readResp(); resp != "f NO [TOOBIG] Literals are limited to 4096 bytes for this command" {
		t.Fatalf("big literal: %q", resp)
	}
	rc.send("g SORT (ARRIVAL) UTF-8 SUBJECT {5000+}\r\n" + strings.Repeat("x", 5000))
	if resp := rc.readResp(); resp != "g NO [TOOBIG] Literals are limited to 4096 bytes for this command" {
		t.Fatalf("big non-sync literal: %q", resp)
	}
	rc.ok("h", "NOOP")
}

// TestTimeoutsByWhatIsRead: the wait for IDLE's DONE and for the next
// command after login get IdleTimeout, a half-sent command ReadTimeout,
// told apart by what the layer reads, not by the length of go-imap's
// deadlines.
func TestTimeoutsByWhatIsRead(t *testing.T) {
	t.Parallel()
	const read, idle = 100 * time.Millisecond, 2 * time.Second
	e := newEnv(t, Options{ReadTimeout: read, IdleTimeout: idle})
	hangUp := func(rc *rawConn) time.Duration {
		start := time.Now()
		_ = rc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, rc.r); err != nil {
			t.Fatalf("not closed by the server: %v", err)
		}
		return time.Since(start)
	}
	for _, tc := range []struct {
		name  string
		start func(rc *rawConn)
		long  bool // IdleTimeout applies
	}{
		{"IDLE", func(rc *rawConn) {
			rc.send("i IDLE")
			if resp := rc.readResp(); resp != "+ idling" {
				t.Fatalf("IDLE: %q", resp)
			}
		}, true},
		{"between commands", func(rc *rawConn) {}, true},
		{"half a command", func(rc *rawConn) { _, _ = io.WriteString(rc.conn, "h SEL") }, false},
		{"half a literal", func(rc *rawConn) { _, _ = io.WriteString(rc.conn, "h ID (\"a\" {5+}\r\nab") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := e.rawLogin(t, alice)
			rc.ok("s", "SELECT INBOX")
			tc.start(rc)
			d := hangUp(rc)
			if tc.long && d < idle*3/4 {
				t.Errorf("closed after %v, before IdleTimeout %v", d, idle)
			}
			if !tc.long && d >= idle*3/4 {
				t.Errorf("closed after %v; ReadTimeout is %v", d, read)
			}
		})
	}
}
