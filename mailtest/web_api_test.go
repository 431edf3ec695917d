package mailtest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	netsmtp "net/smtp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailrig/mailrig/mailtest"
)

func TestWebSearch(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t)
	srv.Send(t, mailtest.Draft{From: "Alice Adams <alice@example.com>", To: []string{"bob@example.com"}, Subject: "Invoice March", Text: "total 10 EUR"})
	srv.Send(t, mailtest.Draft{From: "shop@example.org", To: []string{"carol@example.com"}, Cc: []string{"dave@example.com"}, Subject: "Your order ships",
		Text: "tracking number", Attachments: []mailtest.Attachment{{Filename: "label.pdf", Data: []byte("%PDF")}}})
	third := srv.Send(t, mailtest.Draft{From: "alice@example.com", To: []string{"carol@example.com"}, Subject: "lunch?", Text: "see you at noon", MessageID: "<lunch-1@example.com>"})
	// Read the third so is:read has something to find.
	do(t, "GET", hs.URL+"/api/v1/message/"+id(third), "")

	for _, tc := range []struct {
		query string
		want  []string // subjects, newest first
	}{
		{"", []string{"lunch?", "Your order ships", "Invoice March"}},
		{"subject:invoice", []string{"Invoice March"}},
		{"SUBJECT:INVOICE", []string{"Invoice March"}},
		{"from:alice", []string{"lunch?", "Invoice March"}},
		{`from:"alice adams"`, []string{"Invoice March"}},
		{"to:carol", []string{"lunch?", "Your order ships"}},
		{"cc:dave", []string{"Your order ships"}},
		{"has:attachment", []string{"Your order ships"}},
		{"-has:attachment", []string{"lunch?", "Invoice March"}},
		{"is:read", []string{"lunch?"}},
		{"is:unread", []string{"Your order ships", "Invoice March"}},
		{"message-id:lunch-1@example.com", []string{"lunch?"}},
		{"message-id:<lunch-1@example.com>", []string{"lunch?"}},
		{"noon", []string{"lunch?"}},
		{`"see you"`, []string{"lunch?"}},
		{"alice -lunch", []string{"Invoice March"}},
		{"from:alice to:carol", []string{"lunch?"}},
		{"filename:label", []string{"Your order ships"}},
		{"after:2000-01-01", []string{"lunch?", "Your order ships", "Invoice March"}},
		{"before:2000-01-01", nil},
		{"nothing-matches-this", nil},
	} {
		var list apiList
		getJSON(t, hs.URL+"/api/v1/search?query="+urlQuery(tc.query), &list)
		var got []string
		for _, m := range list.Messages {
			got = append(got, m.Subject)
		}
		if !slices.Equal(got, tc.want) || list.MessagesCount != len(tc.want) || list.Total != 3 || list.Unread != 2 {
			t.Errorf("search %q = %v (count %d, total %d, unread %d), want %v", tc.query, got, list.MessagesCount, list.Total, list.Unread, tc.want)
		}
	}
	if code, _, _ := do(t, "GET", hs.URL+"/api/v1/search?query=after:yesterday", ""); code != 400 {
		t.Errorf("bad date = %d, want 400", code)
	}
	// DELETE /api/v1/search deletes what matches, and only that.
	if code, _, body := do(t, "DELETE", hs.URL+"/api/v1/search?query=from:alice", ""); code != 200 || string(body) != "ok" {
		t.Fatalf("DELETE search = %d %q", code, body)
	}
	if got := srv.Messages(); len(got) != 1 || got[0].Subject() != "Your order ships" {
		t.Errorf("after DELETE search: %v", got)
	}
	if v := srv.IMAPView("carol@example.com"); len(v.Mailboxes[0].Messages) != 1 {
		t.Errorf("carol's INBOX has %d messages, want 1: the deleted copy must be expunged", len(v.Mailboxes[0].Messages))
	}
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "+", `"`, "%22", "<", "%3C", ">", "%3E", "?", "%3F").Replace(s)
}

// TestWebReadStateFollowsIMAP: PUT Read reaches every copy, an IMAP STORE
// on one copy shows in the API at once, and deletes agree with IMAP.
func TestWebReadStateFollowsIMAP(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithUser("carol@example.com", "pw"))
	m := srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com", "carol@example.com"}, Subject: "both"})
	other := srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com"}, Subject: "other"})

	readOf := func() map[string]bool {
		var list apiList
		getJSON(t, hs.URL+"/api/v1/messages", &list)
		out := map[string]bool{}
		for _, s := range list.Messages {
			out[s.ID] = s.Read
		}
		return out
	}
	c := srv.IMAPClient(t, "carol@example.com")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if r := readOf(); !r[id(m)] || r[id(other)] {
		t.Errorf("after carol's STORE \\Seen: %v, want %s read only", r, id(m))
	}
	// Unread through the API clears \Seen on every copy.
	if code, _, body := do(t, "PUT", hs.URL+"/api/v1/messages", `{"IDs":["`+id(m)+`"],"Read":false}`); code != 200 || string(body) != "ok" {
		t.Fatalf("PUT = %d %q", code, body)
	}
	for _, u := range []string{"bob@example.com", "carol@example.com"} {
		if mb, _ := srv.IMAPView(u).Mailbox("INBOX"); mb.Unseen() != len(mb.Messages) {
			t.Errorf("%s: unseen %d of %d after PUT Read=false", u, mb.Unseen(), len(mb.Messages))
		}
	}
	// No IDs: every message.
	do(t, "PUT", hs.URL+"/api/v1/messages", `{"Read":true}`)
	if r := readOf(); !r[id(m)] || !r[id(other)] {
		t.Errorf("after PUT all read: %v", r)
	}
	if mb, _ := srv.IMAPView("bob@example.com").Mailbox("INBOX"); mb.Unseen() != 0 {
		t.Errorf("bob unseen %d after PUT all", mb.Unseen())
	}
	// IMAP expunging a copy leaves the message listed, one copy fewer.
	if err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	var full struct{ Copies []struct{ User string } }
	getJSON(t, hs.URL+"/api/v1/message/"+id(m), &full)
	if len(full.Copies) != 1 || full.Copies[0].User != "bob@example.com" {
		t.Errorf("copies after carol's EXPUNGE: %+v", full.Copies)
	}
	// DELETE with no IDs deletes everything, from every mailbox.
	if code, _, body := do(t, "DELETE", hs.URL+"/api/v1/messages", ""); code != 200 || string(body) != "ok" {
		t.Fatalf("DELETE all = %d %q", code, body)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("Messages() = %d after DELETE all", n)
	}
	if mb, _ := srv.IMAPView("bob@example.com").Mailbox("INBOX"); len(mb.Messages) != 0 {
		t.Errorf("bob's INBOX still has %d", len(mb.Messages))
	}
}

// TestWebUserMailboxes: a user's folder lists what IMAP sees, APPENDed
// messages included, and the users endpoint counts them.
func TestWebUserMailboxes(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t, mailtest.WithUser("bob@example.com", "pw"))
	srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com"}, Subject: "delivered"})
	c := srv.IMAPClient(t, "bob@example.com")
	raw := "From: bob@example.com\r\nTo: x@example.com\r\nSubject: my draft\r\n\r\nwip\r\n"
	cmd := c.Append("Drafts", int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft, imap.FlagSeen}})
	cmd.Write([]byte(raw))
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	var list apiList
	getJSON(t, hs.URL+"/api/v1/messages?user=bob@example.com&mailbox=Drafts", &list)
	if list.Total != 1 || list.Messages[0].Subject != "my draft" || !list.Messages[0].Read {
		t.Errorf("Drafts = %+v", list)
	}
	var msg struct{ Subject, Text string }
	getJSON(t, hs.URL+"/api/v1/message/"+list.Messages[0].ID, &msg)
	if msg.Subject != "my draft" || !strings.Contains(msg.Text, "wip") {
		t.Errorf("appended message = %+v", msg)
	}
	getJSON(t, hs.URL+"/api/v1/messages?user=BOB@example.com", &list)
	if list.Total != 1 || list.Messages[0].Subject != "delivered" || list.Unread != 1 {
		t.Errorf("INBOX (default mailbox) = %+v", list)
	}
	getJSON(t, hs.URL+"/api/v1/search?user=bob@example.com&mailbox=Drafts&query=wip", &list)
	if list.MessagesCount != 1 {
		t.Errorf("search in Drafts = %+v", list)
	}
	if code, _, _ := do(t, "GET", hs.URL+"/api/v1/messages?user=bob@example.com&mailbox=Nope", ""); code != 404 {
		t.Errorf("unknown mailbox = %d", code)
	}
	if code, _, _ := do(t, "GET", hs.URL+"/api/v1/messages?user=nobody@example.com", ""); code != 404 {
		t.Errorf("unknown user = %d", code)
	}
	var users []struct {
		Address   string
		Aliases   []string
		Mailboxes []struct {
			Name, SpecialUse string
			Messages, Unread int
		}
	}
	getJSON(t, hs.URL+"/api/v1/users", &users)
	if len(users) != 1 || users[0].Address != "bob@example.com" {
		t.Fatalf("users = %+v", users)
	}
	counts := map[string][2]int{}
	for _, mb := range users[0].Mailboxes {
		counts[mb.Name] = [2]int{mb.Messages, mb.Unread}
		if mb.Name == "Drafts" && mb.SpecialUse != `\Drafts` {
			t.Errorf("Drafts special use %q", mb.SpecialUse)
		}
	}
	if counts["INBOX"] != [2]int{1, 1} || counts["Drafts"] != [2]int{1, 0} {
		t.Errorf("bob's counts = %v", counts)
	}

	var iv struct {
		User      string
		Mailboxes []struct {
			Name        string
			UIDValidity uint32
			Messages    []struct {
				UID     uint32
				Flags   []string
				ID      string
				Subject string
			}
		}
	}
	getJSON(t, hs.URL+"/api/v1/users/bob@example.com/imap", &iv)
	var drafts []string
	for _, mb := range iv.Mailboxes {
		if mb.Name == "Drafts" {
			for _, m := range mb.Messages {
				drafts = append(drafts, fmt.Sprintf("%d %v %s", m.UID, m.Flags, m.Subject))
			}
		}
	}
	if iv.User != "bob@example.com" || len(drafts) != 1 || drafts[0] != `1 [\Seen \Draft] my draft` {
		t.Errorf("IMAP view Drafts = %v", drafts)
	}
	var pv struct {
		User     string
		Locked   bool
		Size     int64
		Messages []struct {
			Number  int
			Size    int64
			UIDL    string
			Subject string
		}
	}
	getJSON(t, hs.URL+"/api/v1/users/bob@example.com/pop3", &pv)
	want := srv.POP3View("bob@example.com")
	if len(pv.Messages) != 1 || pv.Messages[0].UIDL != want.Messages[0].UIDL || pv.Size != want.Size() || pv.Messages[0].Subject != "delivered" {
		t.Errorf("POP3 view = %+v, want %+v", pv, want)
	}
	if code, _, _ := do(t, "GET", hs.URL+"/api/v1/users/nobody@example.com/imap", ""); code != 404 {
		t.Errorf("unknown user IMAP view = %d", code)
	}
}

func TestWebHeadersRawPart(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t)
	m := srv.Send(t, mailtest.Draft{
		From: "x@example.com", To: []string{"bob@example.com"}, Subject: "files", Text: "see attached",
		Header: map[string]string{"X-Campaign": "spring", "List-Unsubscribe": "<https://example.com/u>, <mailto:u@example.com>"},
		Attachments: []mailtest.Attachment{
			{Filename: `"><img src=x onerror=alert(1)>.svg`, ContentType: "image/svg+xml", Data: []byte(`<svg onload="alert(1)"/>`)},
			{Filename: "photo.png", ContentType: "image/png", Data: []byte("\x89PNG")},
		},
	})
	var hdrs map[string][]string
	getJSON(t, hs.URL+"/api/v1/message/"+id(m)+"/headers", &hdrs)
	if !slices.Equal(hdrs["X-Campaign"], []string{"spring"}) || len(hdrs["Received"]) != 1 || !slices.Equal(hdrs["Subject"], []string{"files"}) {
		t.Errorf("headers = %v", hdrs)
	}
	code, h, body := do(t, "GET", hs.URL+"/api/v1/message/"+id(m)+"/raw", "")
	if code != 200 || string(body) != string(m.Raw()) || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Errorf("raw = %d %s, %d bytes, want %d", code, h.Get("Content-Type"), len(body), len(m.Raw()))
	}
	var msg struct {
		Attachments []struct {
			PartID, FileName, ContentType string
			Size                          int64
			Checksums                     struct{ MD5, SHA1, SHA256 string }
		}
		Inline          []any
		ListUnsubscribe struct {
			Header string
			Links  []string
		}
	}
	getJSON(t, hs.URL+"/api/v1/message/"+id(m), &msg)
	if len(msg.Attachments) != 2 || msg.Inline == nil || len(msg.Inline) != 0 {
		t.Fatalf("attachments = %+v inline %v", msg.Attachments, msg.Inline)
	}
	if a := msg.Attachments[1]; a.FileName != "photo.png" || a.Size != 4 || len(a.Checksums.MD5) != 32 || len(a.Checksums.SHA1) != 40 || len(a.Checksums.SHA256) != 64 {
		t.Errorf("attachment = %+v", a)
	}
	if !slices.Equal(msg.ListUnsubscribe.Links, []string{"https://example.com/u", "mailto:u@example.com"}) {
		t.Errorf("ListUnsubscribe = %+v", msg.ListUnsubscribe)
	}
	// The SVG is a download of an inert type, never rendered as SVG.
	code, h, body = do(t, "GET", hs.URL+"/api/v1/message/"+id(m)+"/part/"+msg.Attachments[0].PartID, "")
	if code != 200 || h.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment;") ||
		h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") || string(body) != `<svg onload="alert(1)"/>` {
		t.Errorf("svg part = %d %v %q", code, h, body)
	}
	code, h, body = do(t, "GET", hs.URL+"/api/v1/message/"+id(m)+"/part/"+msg.Attachments[1].PartID, "")
	if code != 200 || h.Get("Content-Type") != "image/png" || h.Get("Content-Disposition") != `attachment; filename=photo.png` || string(body) != "\x89PNG" {
		t.Errorf("png part = %d %v %q", code, h, body)
	}
	if code, _, _ := do(t, "GET", hs.URL+"/api/v1/message/"+id(m)+"/part/9", ""); code != 404 {
		t.Errorf("unknown part = %d", code)
	}
}

func TestWebSendInfoInboxes(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t)
	body := `{"From":{"Email":"app@example.com","Name":"App"},"To":[{"Email":"bob@example.com","Name":"Bob"}],
		"Bcc":["audit@example.com"],"Subject":"via API","Text":"hi","HTML":"<p>hi</p>","Headers":{"X-Test":"1"},
		"Attachments":[{"Filename":"a.txt","Content":"aGVsbG8="}]}`
	code, _, resp := do(t, "POST", hs.URL+"/api/v1/send", body, "Content-Type", "application/json")
	if code != 200 {
		t.Fatalf("send = %d %s", code, resp)
	}
	var sent struct{ ID string }
	if err := json.Unmarshal(resp, &sent); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 || id(got[0]) != sent.ID {
		t.Fatalf("Messages() = %v, want one with ID %s", got, sent.ID)
	}
	m := got[0]
	// Delivered exactly as over SMTP: an SMTP session with an envelope.
	if env := m.Envelope(); env.MailFrom != "app@example.com" || !slices.Equal(env.Rcpts, []string{"bob@example.com", "audit@example.com"}) || !strings.HasPrefix(env.SessionID, "smtp-") {
		t.Errorf("envelope = %+v", env)
	}
	if m.Subject() != "via API" || m.FromName() != "App" || m.HTML() != "<p>hi</p>" || len(m.Attachments()) != 1 || string(m.Attachments()[0].Data) != "hello" {
		t.Errorf("message = %v", m)
	}
	if code, _, _ := do(t, "POST", hs.URL+"/api/v1/send", `{"From":{"Email":"a@example.com"}}`); code != 400 {
		t.Errorf("no recipient = %d, want 400", code)
	}
	if code, _, _ := do(t, "POST", hs.URL+"/api/v1/send", `{"From":{"Email":"a@example.com"},"To":[{"Email":"b@example.com"}],"Attachments":[{"Content":"!!"}]}`); code != 400 {
		t.Errorf("bad base64 = %d, want 400", code)
	}

	var tr struct {
		ID, Protocol string
		Lines        []struct {
			FromClient bool
			Text       string
		}
	}
	getJSON(t, hs.URL+"/api/v1/message/"+sent.ID+"/transcript", &tr)
	if tr.ID != m.Envelope().SessionID || tr.Protocol != "smtp" || len(tr.Lines) < 4 || !strings.HasPrefix(tr.Lines[0].Text, "220 ") {
		t.Errorf("transcript = %+v", tr)
	}

	var info struct {
		Version      string
		Messages     int
		Unread       int
		Tags         map[string]int
		RuntimeStats struct{ SMTPAccepted int }
	}
	getJSON(t, hs.URL+"/api/v1/info", &info)
	if info.Version == "" || info.Messages != 1 || info.Unread != 1 || info.Tags == nil || info.RuntimeStats.SMTPAccepted != 1 {
		t.Errorf("info = %+v", info)
	}

	// Two fresh inboxes differ, and each logs in over IMAP and POP3.
	var a, b struct{ Address, Password string }
	for _, in := range []*struct{ Address, Password string }{&a, &b} {
		code, _, resp := do(t, "POST", hs.URL+"/api/v1/inboxes", "")
		if code != 200 || json.Unmarshal(resp, in) != nil || in.Address == "" || in.Password == "" {
			t.Fatalf("inboxes = %d %s", code, resp)
		}
	}
	if a.Address == b.Address || a.Password == b.Password {
		t.Errorf("inboxes not unique: %v %v", a, b)
	}
	srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{a.Address}, Subject: "for a"})
	c, err := imapclient.DialInsecure(srv.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(a.Address, a.Password).Wait(); err != nil {
		t.Fatalf("IMAP login as new inbox: %v", err)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Errorf("STATUS = %v %v", st, err)
	}
	c.Logout().Wait()
	if got := pop3Stat(t, srv.POP3Addr(), b.Address, b.Password); got != "+OK 0 0" {
		t.Errorf("POP3 STAT of inbox b = %q", got)
	}
}

// pop3Stat logs in over POP3 and returns the STAT line.
func pop3Stat(t *testing.T, addr, user, pass string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	line := func() string {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimRight(l, "\r\n")
	}
	line()
	var stat string
	for _, cmd := range []string{"USER " + user, "PASS " + pass, "STAT", "QUIT"} {
		fmt.Fprintf(conn, "%s\r\n", cmd)
		l := line()
		if !strings.HasPrefix(l, "+OK") {
			t.Fatalf("%s: %s", strings.Fields(cmd)[0], l)
		}
		if cmd == "STAT" {
			stat = l
		}
	}
	return stat
}

func TestWebWait(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t)
	srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com"}, Subject: "early"})

	// A wait started before the send sees it.
	type result struct {
		code int
		list apiList
	}
	done := make(chan result, 1)
	started := make(chan struct{})
	var once sync.Once
	go func() {
		req, _ := http.NewRequest("GET", hs.URL+"/api/v1/wait?query=subject:confirm&count=2&timeout=10s", nil)
		once.Do(func() { close(started) })
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{code: -1}
			return
		}
		defer resp.Body.Close()
		var r result
		r.code = resp.StatusCode
		json.NewDecoder(resp.Body).Decode(&r.list)
		done <- r
	}()
	<-started
	srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com"}, Subject: "confirm 1"})
	srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"carol@example.com"}, Subject: "confirm 2"})
	select {
	case r := <-done:
		if r.code != 200 || r.list.MessagesCount != 2 || r.list.Messages[0].Subject != "confirm 2" {
			t.Errorf("wait = %d %+v", r.code, r.list)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return")
	}
	// Already there: answers at once.
	var list apiList
	getJSON(t, hs.URL+"/api/v1/wait?query=subject:early", &list)
	if list.MessagesCount != 1 {
		t.Errorf("wait for present = %+v", list)
	}
	// Timeout: 408 with what did arrive.
	code, _, body := do(t, "GET", hs.URL+"/api/v1/wait?query=subject:confirm&count=3&timeout=50ms", "")
	if code != http.StatusRequestTimeout || json.Unmarshal(body, &list) != nil || list.MessagesCount != 2 {
		t.Errorf("wait timeout = %d %s", code, body)
	}
	for _, bad := range []string{"count=0", "count=x", "timeout=soon", "query=before:nope"} {
		if code, _, _ := do(t, "GET", hs.URL+"/api/v1/wait?"+bad, ""); code != 400 {
			t.Errorf("wait?%s = %d, want 400", bad, code)
		}
	}
}

// TestWebWaitEndsWithServer: Close ends a pending wait (no goroutine leaks).
func TestWebWaitEndsWithServer(t *testing.T) {
	t.Parallel()
	srv, err := mailtest.New()
	if err != nil {
		t.Fatal(err)
	}
	h := srv.WebHandler()
	if h != srv.WebHandler() {
		t.Error("WebHandler returns a new handler each call")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1/api/v1/wait?timeout=60s", nil)
	rec := &recorder{header: http.Header{}}
	finished := make(chan struct{})
	go func() { h.ServeHTTP(rec, req); close(finished) }()
	srv.Close()
	select {
	case <-finished:
	case <-ctx.Done():
		t.Fatal("wait still running after Close")
	}
}

type recorder struct {
	header http.Header
	code   int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(code int)        { r.code = code }

func TestWebFaults(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t)
	code, _, body := do(t, "POST", hs.URL+"/api/v1/faults", `{"Protocol":"SMTP","Command":"rcpt","Arg":"full@","Reply":"452 4.2.2 Mailbox full","Times":1}`)
	if code != 200 {
		t.Fatalf("POST fault = %d %s", code, body)
	}
	var f struct {
		ID                     int
		Protocol, Command, Arg string
		Times                  int
		Reply, Delay           string
	}
	if err := json.Unmarshal(body, &f); err != nil || f.ID == 0 || f.Command != "RCPT" || f.Protocol != "SMTP" {
		t.Fatalf("fault = %+v (%v)", f, err)
	}
	code, _, body = do(t, "POST", hs.URL+"/api/v1/faults", `{"Protocol":"pop3","Command":"RETR","Delay":"10ms"}`)
	if code != 200 {
		t.Fatalf("POST pop3 fault = %d %s", code, body)
	}
	var list []struct {
		ID    int
		Times int
		Delay string
	}
	getJSON(t, hs.URL+"/api/v1/faults", &list)
	if len(list) != 2 || list[0].ID != f.ID || list[0].Times != 1 || list[1].Delay != "10ms" {
		t.Errorf("faults = %+v", list)
	}
	// The fault acts over real SMTP, once.
	err := webSendRaw(srv.SMTPAddr(), "x@example.com", "full@example.com")
	if err == nil || !strings.Contains(err.Error(), "452") {
		t.Errorf("send with fault: %v, want 452", err)
	}
	if err := webSendRaw(srv.SMTPAddr(), "x@example.com", "full@example.com"); err != nil {
		t.Errorf("second send (fault used up): %v", err)
	}
	getJSON(t, hs.URL+"/api/v1/faults", &list)
	if len(list) != 1 {
		t.Errorf("faults after use = %+v", list)
	}
	for _, bad := range []string{
		`{"Protocol":"FTP","Command":"RETR"}`, `{"Protocol":"SMTP"}`, `{"Protocol":"SMTP","Command":"MAIL","Reply":"nonsense"}`,
		`{"Protocol":"IMAP","Command":"LOGIN","Reply":"OK fine"}`, `{"Protocol":"POP3","Command":"RETR","Delay":"forever"}`,
		`{"Protocol":"SMTP","Command":"MAIL","Times":-1}`, `[1,2]`, `{"Protocol":5}`,
	} {
		if code, _, body := do(t, "POST", hs.URL+"/api/v1/faults", bad); code != 400 {
			t.Errorf("POST %s = %d %s, want 400", bad, code, body)
		}
	}
	if code, _, _ := do(t, "DELETE", hs.URL+"/api/v1/faults?id=999", ""); code != 404 {
		t.Errorf("DELETE unknown fault = %d", code)
	}
	if code, _, body := do(t, "DELETE", hs.URL+"/api/v1/faults?id="+fmt.Sprint(list[0].ID), ""); code != 200 || string(body) != "ok" {
		t.Errorf("DELETE fault = %d %q", code, body)
	}
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.IMAP, Command: "SELECT"})
	getJSON(t, hs.URL+"/api/v1/faults", &list)
	if len(list) != 1 {
		t.Errorf("Go-injected fault not listed: %+v", list)
	}
	do(t, "DELETE", hs.URL+"/api/v1/faults", "")
	getJSON(t, hs.URL+"/api/v1/faults", &list)
	if len(list) != 0 {
		t.Errorf("after DELETE all: %+v", list)
	}
}

func webSendRaw(addr, from, to string) error {
	return netsmtp.SendMail(addr, nil, from, []string{to}, []byte("Subject: x\r\n\r\nx\r\n"))
}

// TestWebCopiesFollowClients: MOVE, COPY, DELETE of a folder and a POP3
// QUIT deletion show in a message's Copies and in the WebSocket at once.
func TestWebCopiesFollowClients(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithUser("carol@example.com", "pw"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	m := srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com", "carol@example.com"}, Subject: "travels"})
	copies := func() []string {
		t.Helper()
		var msg struct {
			Copies []struct {
				User, Mailbox string
				UID           uint32
			}
		}
		getJSON(t, hs.URL+"/api/v1/message/"+id(m), &msg)
		var out []string
		for _, c := range msg.Copies {
			out = append(out, fmt.Sprintf("%s/%s/%d", c.User, c.Mailbox, c.UID))
		}
		slices.Sort(out)
		return out
	}
	c := srv.IMAPClient(t, "bob@example.com")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.UIDSetNum(1), "Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	if got := copies(); !slices.Equal(got, []string{"bob@example.com/Archive/1", "carol@example.com/INBOX/1"}) {
		t.Errorf("after MOVE: %v", got)
	}
	if err := c.Create("Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Copy(imap.UIDSetNum(1), "Work").Wait(); err != nil {
		t.Fatal(err)
	}
	if got := copies(); len(got) != 3 || got[1] != "bob@example.com/Work/1" {
		t.Errorf("after COPY: %v", got)
	}
	if err := c.Delete("Work").Wait(); err != nil {
		t.Fatal(err)
	}
	if got := copies(); len(got) != 2 {
		t.Errorf("after DELETE Work: %v", got)
	}
	// A POP3 client downloads and deletes carol's copy.
	pop3DeleteAll(t, srv.POP3Addr(), "carol@example.com", "pw")
	if got := copies(); !slices.Equal(got, []string{"bob@example.com/Archive/1"}) {
		t.Errorf("after POP3 QUIT: %v", got)
	}
	var list apiList
	getJSON(t, hs.URL+"/api/v1/messages", &list)
	if list.Total != 1 {
		t.Errorf("a copy deleted by POP3 removed the message: %+v", list)
	}
	getJSON(t, hs.URL+"/api/v1/messages?user=carol@example.com", &list)
	if list.Total != 0 {
		t.Errorf("carol's INBOX after QUIT: %+v", list)
	}
	seenMailbox := map[string]bool{}
	// Delivery, MOVE, COPY and the folder's deletion each announce the
	// folders they changed.
	for !seenMailbox["bob@example.com/Archive"] || !seenMailbox["bob@example.com/Work"] || !seenMailbox["carol@example.com/INBOX"] {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("mailbox frames missing: %v (saw %v)", err, seenMailbox)
		}
		var ev struct {
			Type string
			Data struct{ User, Mailbox string }
		}
		json.Unmarshal(b, &ev)
		if ev.Type == "mailbox" {
			seenMailbox[ev.Data.User+"/"+ev.Data.Mailbox] = true
		}
	}
	// srv.Purge from Go code: the page hears "truncate".
	srv.Purge()
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("no truncate frame: %v", err)
		}
		if strings.Contains(string(b), `"Type":"truncate"`) {
			break
		}
	}
	getJSON(t, hs.URL+"/api/v1/messages", &list)
	if list.Total != 0 || len(list.Messages) != 0 {
		t.Errorf("after Purge: %+v", list)
	}
}

// pop3DeleteAll logs in over POP3, deletes every message and QUITs.
func pop3DeleteAll(t *testing.T, addr, user, pass string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	cmd := func(line string) string {
		t.Helper()
		if line != "" {
			fmt.Fprintf(conn, "%s\r\n", line)
		}
		l, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("POP3 %q: %q %v", line, l, err)
		}
		return l
	}
	cmd("")
	cmd("USER " + user)
	cmd("PASS " + pass)
	var n int
	fmt.Sscanf(cmd("STAT"), "+OK %d", &n)
	for i := 1; i <= n; i++ {
		cmd(fmt.Sprintf("DELE %d", i))
	}
	cmd("QUIT")
}

// TestWebUsernameAndSendLimit: Username is the SMTP AUTH identity, and a
// send body beyond the message size limit is refused before it is read.
func TestWebUsernameAndSendLimit(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t, mailtest.WithUser("app@example.com", "apppw"), mailtest.WithMaxMessageBytes(10000))
	conn, err := net.Dial("tcp", srv.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	c, err := netsmtp.NewClient(conn, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(netsmtp.PlainAuth("", "app@example.com", "apppw", "localhost")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("app@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@example.com"); err != nil {
		t.Fatal(err)
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(wc, "Subject: authed\r\n\r\nx\r\n")
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	var list apiList
	getJSON(t, hs.URL+"/api/v1/messages", &list)
	if len(list.Messages) != 1 || list.Messages[0].Username != "app@example.com" {
		t.Errorf("Username = %+v", list.Messages)
	}
	big := `{"From":{"Email":"a@example.com"},"To":[{"Email":"b@example.com"}],"Text":"` + strings.Repeat("x", 2<<20) + `"}`
	if code, _, _ := do(t, "POST", hs.URL+"/api/v1/send", big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize send = %d, want 413", code)
	}
	// Within the HTTP bound but beyond the SMTP size limit: SMTP refuses it.
	mid := `{"From":{"Email":"a@example.com"},"To":[{"Email":"b@example.com"}],"Text":"` + strings.Repeat("x", 20000) + `"}`
	if code, _, body := do(t, "POST", hs.URL+"/api/v1/send", mid); code != 400 || !strings.Contains(string(body), "552") {
		t.Errorf("send beyond SMTP limit = %d %s", code, body)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages after refused sends", n)
	}
}
