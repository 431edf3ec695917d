package mailtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mailrig/mailrig/mailtest"
	"github.com/mailrig/mailrig/memstore"
)

// webServer starts a mail server and its web handler on an httptest server.
func webServer(t *testing.T, opts ...mailtest.Option) (*mailtest.Server, *httptest.Server) {
	t.Helper()
	srv := mailtest.NewServer(t, opts...)
	hs := httptest.NewServer(srv.WebHandler())
	t.Cleanup(hs.Close)
	return srv, hs
}

// do sends a request and returns the status, the headers and the body.
func do(t *testing.T, method, url string, body string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// getJSON GETs url, expects 200 and decodes the body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, _, body := do(t, "GET", url, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", url, code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

type apiAddress struct{ Name, Address string }

type apiSummary struct {
	ID, MessageID              string
	Read                       bool
	From                       *apiAddress
	To, Cc, Bcc, ReplyTo       []apiAddress
	Subject, Username, Snippet string
	Created                    time.Time
	Tags                       []string
	Size                       int64
	Attachments                int
}

type apiList struct {
	Total          int          `json:"total"`
	Unread         int          `json:"unread"`
	MessagesCount  int          `json:"messages_count"`
	MessagesUnread int          `json:"messages_unread"`
	Start          int          `json:"start"`
	Tags           []string     `json:"tags"`
	Messages       []apiSummary `json:"messages"`
}

func TestWebListAndMessage(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t)
	first := srv.Send(t, mailtest.Draft{From: "App <app@example.com>", To: []string{"Bob <bob@example.com>"}, Subject: "first", Text: "hello one"})
	second := srv.Send(t, mailtest.Draft{
		From: "app@example.com", To: []string{"bob@example.com"}, Cc: []string{"carol@example.com"},
		Bcc: []string{"dave@example.com"}, Subject: "second <b>bold</b>", Text: "hello two", HTML: "<p>hello <a href=\"https://example.com/x\">two</a></p>",
	})

	var list apiList
	getJSON(t, hs.URL+"/api/v1/messages", &list)
	if list.Total != 2 || list.Unread != 2 || list.MessagesCount != 2 || list.Start != 0 || len(list.Messages) != 2 {
		t.Fatalf("list = %+v", list)
	}
	if list.Tags == nil {
		t.Errorf("tags is null, want []")
	}
	newest := list.Messages[0]
	if newest.ID != id(second) || list.Messages[1].ID != id(first) {
		t.Errorf("order = %s, %s; want %s, %s (newest first)", newest.ID, list.Messages[1].ID, id(second), id(first))
	}
	if newest.Subject != "second <b>bold</b>" || newest.Read || newest.From.Address != "app@example.com" {
		t.Errorf("summary = %+v", newest)
	}
	if len(newest.Cc) != 1 || newest.Cc[0].Address != "carol@example.com" || len(newest.Bcc) != 1 || newest.Bcc[0].Address != "dave@example.com" {
		t.Errorf("Cc %v Bcc %v", newest.Cc, newest.Bcc)
	}
	if strings.ContainsAny(newest.MessageID, "<>") || newest.MessageID != second.MessageID() {
		t.Errorf("MessageID = %q, want %q", newest.MessageID, second.MessageID())
	}
	// Mailpit: a summary's empty Cc is null.
	_, _, raw := do(t, "GET", hs.URL+"/api/v1/messages?limit=1&start=1", "")
	if !bytes.Contains(raw, []byte(`"Cc":null`)) {
		t.Errorf("summary without Cc: %s", raw)
	}
	if err := json.Unmarshal(raw, &list); err != nil || len(list.Messages) != 1 || list.Messages[0].ID != id(first) || list.Start != 1 {
		t.Errorf("page 2 = %+v (%v)", list, err)
	}

	code, hdr, body := do(t, "GET", hs.URL+"/api/v1/message/"+id(second), "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("message = %d %s", code, body)
	}
	var msg struct {
		ID, MessageID, Subject, Text, HTML, ReturnPath string
		To, Cc, Bcc, ReplyTo                           []apiAddress
		Links                                          []string
		Envelope                                       mailtest.Envelope
		Copies                                         []struct {
			User, Mailbox string
			UID           uint32
			Flags         []string
			POP3          bool
		}
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Text != "hello two\n" && msg.Text != "hello two" {
		t.Errorf("Text = %q", msg.Text)
	}
	if !strings.Contains(msg.HTML, "<a href") || len(msg.Links) != 1 || msg.Links[0] != "https://example.com/x" {
		t.Errorf("HTML %q Links %v", msg.HTML, msg.Links)
	}
	if msg.Envelope.MailFrom != "app@example.com" || len(msg.Envelope.Rcpts) != 3 || msg.ReturnPath != "app@example.com" {
		t.Errorf("Envelope %+v ReturnPath %q", msg.Envelope, msg.ReturnPath)
	}
	if len(msg.Copies) != 3 {
		t.Fatalf("Copies = %+v, want bob, carol, dave", msg.Copies)
	}
	for _, c := range msg.Copies {
		if c.Mailbox != "INBOX" || !c.POP3 || len(c.Flags) != 1 || c.Flags[0] != `\Seen` {
			t.Errorf("copy %+v: want INBOX, \\Seen (opening marks read)", c)
		}
	}
	// Mailpit: the full message's empty ReplyTo is [].
	if !bytes.Contains(body, []byte(`"ReplyTo":[]`)) {
		t.Errorf("ReplyTo not []: %s", body)
	}
	// Opening it marked every copy \Seen, which IMAP shows.
	v := srv.IMAPView("carol@example.com")
	if mb, _ := v.Mailbox("INBOX"); mb.Unseen() != 0 {
		t.Errorf("carol's INBOX unseen = %d after GET message", mb.Unseen())
	}
	getJSON(t, hs.URL+"/api/v1/messages", &list)
	if list.Unread != 1 || !list.Messages[0].Read || list.Messages[1].Read {
		t.Errorf("after open: unread %d, reads %v %v", list.Unread, list.Messages[0].Read, list.Messages[1].Read)
	}

	code, _, body = do(t, "GET", hs.URL+"/api/v1/message/latest", "")
	if code != 200 || !bytes.Contains(body, []byte(`"ID":"`+id(second)+`"`)) {
		t.Errorf("latest = %d %s", code, body)
	}
	if code, _, _ := do(t, "GET", hs.URL+"/api/v1/message/999999", ""); code != 404 {
		t.Errorf("unknown ID = %d, want 404", code)
	}
	if code, _, _ := do(t, "GET", hs.URL+"/api/v1/message/nope", ""); code != 404 {
		t.Errorf("bad ID = %d, want 404", code)
	}
}

func id(m *mailtest.Message) string { return strconv.FormatUint(m.ID(), 10) }

func TestWebViewHTMLIsSandboxed(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t)
	m := srv.Send(t, mailtest.Draft{
		From: "x@example.com", To: []string{"bob@example.com"}, Subject: "<script>alert(1)</script>",
		Text: "plain <script>", HTML: `<meta http-equiv="refresh" content="0;url=javascript:alert(1)"><img src="cid:logo"><img src="https://tracker.example/p.png"><script>alert(1)</script>`,
		Attachments: []mailtest.Attachment{{Filename: "logo.png", ContentType: "image/png", ContentID: "logo", Inline: true, Data: []byte("\x89PNG fake")}},
	})
	code, hdr, body := do(t, "GET", hs.URL+"/view/"+id(m)+".html", "")
	if code != 200 {
		t.Fatalf("view = %d %s", code, body)
	}
	csp := hdr.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "sandbox", "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "allow-scripts") || strings.Contains(csp, "https:") {
		t.Errorf("CSP %q allows script or remote images", csp)
	}
	if hdr.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Errorf("headers %v", hdr)
	}
	if bytes.Contains(body, []byte(" http-equiv=")) || !bytes.Contains(body, []byte(`src="/api/v1/message/`+id(m)+`/part/1"`)) {
		t.Errorf("body not rewritten: %s", body)
	}
	_, hdr, _ = do(t, "GET", hs.URL+"/view/"+id(m)+".html?remote=1", "")
	if !strings.Contains(hdr.Get("Content-Security-Policy"), "https:") {
		t.Errorf("remote=1 CSP %q does not allow remote images", hdr.Get("Content-Security-Policy"))
	}
	code, hdr, body = do(t, "GET", hs.URL+"/view/"+id(m)+".txt", "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") || !strings.Contains(string(body), "plain <script>") || !strings.Contains(hdr.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("txt = %d %v %q", code, hdr, body)
	}
	// JSON escapes the hostile subject; it is data, never markup.
	_, _, body = do(t, "GET", hs.URL+"/api/v1/messages", "")
	if bytes.Contains(body, []byte("<script>")) || !bytes.Contains(body, []byte(`\u003cscript\u003e`)) {
		t.Errorf("subject in JSON: %s", body)
	}
}

func TestWebEventsWebSocket(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	m := srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com"}, Subject: "live"})
	var ev struct {
		Type string
		Data json.RawMessage
	}
	next := func(want string) json.RawMessage {
		t.Helper()
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("read while waiting for %q: %v", want, err)
			}
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Type == want {
				return ev.Data
			}
		}
	}
	var s apiSummary
	if err := json.Unmarshal(next("new"), &s); err != nil || s.ID != id(m) || s.Subject != "live" {
		t.Errorf("new = %+v (%v)", s, err)
	}
	// The change an IMAP STORE makes, straight on the store.
	u, _ := srv.Store().User("bob@example.com")
	if _, err := u.Inbox().SetFlags([]uint32{1}, memstore.AddFlags, memstore.NewFlags(memstore.FlagSeen), nil); err != nil {
		t.Fatal(err)
	}
	var up struct {
		ID   string
		Read bool
	}
	if err := json.Unmarshal(next("update"), &up); err != nil || up.ID != id(m) || !up.Read {
		t.Errorf("update = %+v (%v)", up, err)
	}
	if code, _, body := do(t, "DELETE", hs.URL+"/api/v1/messages", `{"IDs":["`+id(m)+`"]}`); code != 200 || string(body) != "ok" {
		t.Fatalf("DELETE = %d %q", code, body)
	}
	var del struct{ ID string }
	if err := json.Unmarshal(next("delete"), &del); err != nil || del.ID != id(m) {
		t.Errorf("delete = %+v (%v)", del, err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("Messages() = %d after API delete", n)
	}
}

func TestWebSecurityRefusals(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t, mailtest.WithWebHosts("mail.test"))
	srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com"}, Subject: "s"})
	port := hs.URL[strings.LastIndex(hs.URL, ":"):]
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   string
		hdr    []string
		want   int
	}{
		{"loopback IP", "GET", "/api/v1/messages", "", nil, 200},
		{"localhost", "GET", "/api/v1/messages", "", []string{"Host", "localhost" + port}, 200},
		{"IPv6 loopback", "GET", "/api/v1/messages", "", []string{"Host", "[::1]" + port}, 200},
		{"extra host", "GET", "/api/v1/messages", "", []string{"Host", "mail.test" + port}, 200},
		{"rebinding host", "GET", "/api/v1/messages", "", []string{"Host", "evil.example" + port}, 403},
		{"rebinding host page", "GET", "/", "", []string{"Host", "evil.example"}, 403},
		{"foreign origin delete", "DELETE", "/api/v1/messages", "", []string{"Origin", "https://evil.example"}, 403},
		{"foreign origin put", "PUT", "/api/v1/messages", `{"Read":true}`, []string{"Origin", "http://evil.example"}, 403},
		{"foreign origin send", "POST", "/api/v1/send", `{}`, []string{"Origin", "null"}, 403},
		{"local origin other port", "PUT", "/api/v1/messages", `{"Read":true}`, []string{"Origin", "http://localhost:3000"}, 200},
		{"foreign origin read", "GET", "/api/v1/messages", "", []string{"Origin", "https://evil.example"}, 200},
		{"oversize body", "PUT", "/api/v1/messages", `{"IDs":["` + strings.Repeat("1", 2<<20) + `"]}`, nil, 413},
		{"malformed body", "PUT", "/api/v1/messages", `{"IDs":`, nil, 400},
		{"bad ID in body", "DELETE", "/api/v1/messages", `{"IDs":["x"]}`, nil, 400},
		{"wrong method", "POST", "/api/v1/messages", "", nil, 405},
	} {
		code, hdr, body := do(t, tc.method, hs.URL+tc.path, tc.body, tc.hdr...)
		if code != tc.want {
			t.Errorf("%s: %s %s = %d %q, want %d", tc.name, tc.method, tc.path, code, body, tc.want)
		}
		if tc.name == "foreign origin read" && hdr.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("CORS header for a foreign origin: %q", hdr.Get("Access-Control-Allow-Origin"))
		}
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("refused requests changed the store: %d messages", n)
	}

	// The WebSocket refuses a foreign Origin (cross-site WebSocket hijacking).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(hs.URL, "http") + "/api/events"
	_, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Errorf("foreign-origin WebSocket: err %v, resp %v; want 403", err, resp)
	}
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://127.0.0.1" + port}}})
	if err != nil {
		t.Fatalf("same-origin WebSocket: %v", err)
	}
	c.CloseNow()
}

func TestWebBasicAuth(t *testing.T) {
	t.Parallel()
	_, hs := webServer(t, mailtest.WithWebAuth("dev", "s3cret"))
	code, hdr, _ := do(t, "GET", hs.URL+"/api/v1/messages", "")
	if code != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("no credentials = %d %v", code, hdr)
	}
	req, _ := http.NewRequest("GET", hs.URL+"/api/v1/messages", nil)
	req.SetBasicAuth("dev", "wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("wrong password: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	req.SetBasicAuth("dev", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("right password: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestWebViewLatestAndPage(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t)
	srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com"}, Subject: "one", Text: "latest text"})
	code, _, body := do(t, "GET", hs.URL+"/view/latest.txt", "")
	if code != 200 || !strings.Contains(string(body), "latest text") {
		t.Errorf("view/latest.txt = %d %q", code, body)
	}
	if code, _, _ := do(t, "GET", hs.URL+"/view/latest.html", ""); code != 404 {
		t.Errorf("HTML view of a text-only message = %d, want 404", code)
	}
	if code, _, _ := do(t, "GET", hs.URL+"/view/1.exe", ""); code != 404 {
		t.Errorf("view/1.exe = %d", code)
	}
	code, hdr, body := do(t, "GET", hs.URL+"/", "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte("<html")) || hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("page = %d %v %.100s", code, hdr, body)
	}
}

// TestWebMailpitShapes: the field names Mailpit v1's swagger document
// gives, exactly for summaries and listings, at least for the message.
func TestWebMailpitShapes(t *testing.T) {
	t.Parallel()
	srv, hs := webServer(t)
	m := srv.Send(t, mailtest.Draft{From: "x@example.com", To: []string{"bob@example.com"}, Subject: "shape", Text: "t"})
	keys := func(v map[string]any) []string {
		var out []string
		for k := range v {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	var list map[string]any
	getJSON(t, hs.URL+"/api/v1/messages", &list)
	if got, want := keys(list), []string{"messages", "messages_count", "messages_unread", "start", "tags", "total", "unread"}; !slices.Equal(got, want) {
		t.Errorf("listing keys = %v, want %v", got, want)
	}
	summary := list["messages"].([]any)[0].(map[string]any)
	if got, want := keys(summary), []string{"Attachments", "Bcc", "Cc", "Created", "From", "ID", "MessageID", "Read", "ReplyTo", "Size", "Snippet", "Subject", "Tags", "To", "Username"}; !slices.Equal(got, want) {
		t.Errorf("summary keys = %v, want %v", got, want)
	}
	if summary["Cc"] != nil || summary["Bcc"] != nil || summary["ReplyTo"] != nil {
		t.Errorf("empty summary lists not null: %v", summary)
	}
	if _, err := time.Parse(time.RFC3339Nano, summary["Created"].(string)); err != nil {
		t.Errorf("Created: %v", err)
	}
	var msg map[string]any
	getJSON(t, hs.URL+"/api/v1/message/"+id(m), &msg)
	for _, k := range []string{"Attachments", "Bcc", "Cc", "Date", "From", "HTML", "ID", "Inline", "ListUnsubscribe", "MessageID", "ReplyTo", "ReturnPath", "Size", "Subject", "Tags", "Text", "To", "Username"} {
		if _, ok := msg[k]; !ok {
			t.Errorf("message lacks %s", k)
		}
	}
	for _, k := range []string{"Cc", "Bcc", "ReplyTo", "Attachments", "Inline", "Tags"} {
		if l, ok := msg[k].([]any); !ok || len(l) != 0 {
			t.Errorf("message %s = %#v, want []", k, msg[k])
		}
	}
	var info map[string]any
	getJSON(t, hs.URL+"/api/v1/info", &info)
	if got, want := keys(info), []string{"Database", "DatabaseSize", "LatestVersion", "Messages", "RuntimeStats", "Tags", "Unread", "Version"}; !slices.Equal(got, want) {
		t.Errorf("info keys = %v, want %v", got, want)
	}
}
