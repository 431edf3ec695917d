//go:build browser

// The web inbox in a real browser: headless Chromium driven by chromedp.
// Run with
//
//	go test -tags browser -run Browser ./mailtest/
//
// (Debian: apt-get install chromium). MAILRIG_CHROMIUM names another
// browser binary; MAILRIG_SCREENSHOT=file.png writes the README's
// screenshot; MAILRIG_SCREENSHOTS=dir writes every screenshot taken.

package mailtest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/mailrig/mailrig/mailtest"
)

// wait is the deadline of each DOM condition: generous for a loaded CI
// machine. The inbox itself reacts to an event in well under a second.
const wait = 10 * time.Second

// TestBrowser starts one headless Chromium and runs each scenario in its
// own tab, in parallel, each against its own server.
func TestBrowser(t *testing.T) {
	chrome := startBrowser(t)
	scenarios := []struct {
		name string
		run  func(*testing.T, *inbox)
	}{
		{"DeliveryAppearsLive", testLiveDelivery},
		{"OpenShowsTextAndHTML", testOpenMessage},
		{"IMAPSeenAndMoveShowLive", testIMAPChangesShow},
		{"POP3DeleteShowsLive", testPOP3Delete},
		{"PagingAndReadState", testPagingAndReadState},
		{"ReconnectsAfterDrop", testReconnect},
		{"Search", testSearch},
		{"Delete", testDelete},
		{"HostileMessagesRunNothing", testHostile},
		{"RemoteImagesBlockedUntilAllowed", testRemoteImages},
		{"FaultsPanel", testFaultsPanel},
		{"Screenshots", testScreenshots},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, newInbox(t, chrome))
		})
	}
}

// startBrowser starts Chromium with a fresh profile; it stops when the
// test (with its subtests) ends.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := os.Getenv("MAILRIG_CHROMIUM")
	if exe == "" {
		exe = "/usr/bin/chromium"
	}
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("no browser at %s (apt-get install chromium, or set MAILRIG_CHROMIUM): %v", exe, err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-US"),
		// Keep the sandboxed message frame in the page's process, so the
		// test can read its DOM through the page's target. The sandbox and
		// the CSP apply the same in either process model.
		chromedp.Flag("disable-site-isolation-trials", true),
		chromedp.Flag("disable-features", "IsolateSandboxedIframes,site-per-process,Translate"),
		chromedp.WindowSize(1280, 800),
	)
	downloads = t.TempDir()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// The first action starts the browser; it must not carry a deadline,
	// which would stop the browser with it.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	// Downloads go to a temporary folder, named by their GUID, and report
	// their progress, so a test can wait for one.
	if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: ptr(true),
	}); err != nil {
		t.Fatalf("download behaviour: %v", err)
	}
	return bctx
}

func ptr[T any](v T) *T { return &v }

// downloads is where the browser saves files; set by startBrowser.
var downloads string

// inbox is one tab showing the web inbox of one fresh server.
type inbox struct {
	t   *testing.T
	srv *mailtest.Server
	url string // the web server's base URL, no trailing slash
	tab context.Context
	ctx context.Context // tab with the test's deadline

	mu      sync.Mutex
	canary  []string   // paths under /canary/ that something requested
	sockets []net.Conn // the /api/events connections, as hijacked
}

// hijackRecorder keeps the connection a WebSocket takes over, so a test
// can cut it like a network drop.
type hijackRecorder struct {
	http.ResponseWriter
	in *inbox
}

func (w hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.in.mu.Lock()
		w.in.sockets = append(w.in.sockets, c)
		w.in.mu.Unlock()
	}
	return c, rw, err
}

const (
	alice = "alice@example.com"
	bob   = "bob@example.com"
)

func newInbox(t *testing.T, chrome context.Context) *inbox {
	t.Helper()
	srv := mailtest.NewServer(t, mailtest.WithUser(alice, "alice-pw"), mailtest.WithUser(bob, "bob-pw"))
	in := &inbox{t: t, srv: srv}
	web := srv.WebHandler()
	mux := http.NewServeMux()
	// Anything that runs a hostile message's script reports here.
	mux.HandleFunc("/canary/", func(w http.ResponseWriter, r *http.Request) {
		in.mu.Lock()
		in.canary = append(in.canary, r.URL.Path)
		in.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle("/", web)
	mux.Handle("/api/events", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.ServeHTTP(hijackRecorder{w, in}, r)
	}))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	in.url = hs.URL

	tab, cancelTab := chromedp.NewContext(chrome)
	t.Cleanup(cancelTab) // runs before hs.Close: the tab's WebSocket goes first
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, 2*time.Minute)
	t.Cleanup(cancel)
	in.tab, in.ctx = tab, ctx

	// The page's own script must never throw: an uncaught exception fails
	// the test (Cleanup runs this before the tab closes).
	consoleCtx, stopConsole := context.WithCancel(tab)
	var exceptions []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(consoleCtx) {
			if err != nil {
				return
			}
			if m.IsException() {
				exceptions = append(exceptions, fmt.Sprintf("%s (%s:%d)", m.Text, m.URL, m.Line+1))
			}
		}
	}()
	t.Cleanup(func() {
		stopConsole()
		<-done
		for _, e := range exceptions {
			t.Errorf("uncaught exception in the page: %s", e)
		}
	})
	return in
}

func (in *inbox) do(steps ...chromedp.Action[chromedp.Void]) {
	in.t.Helper()
	if err := chromedp.Do(in.ctx, steps...); err != nil {
		in.t.Fatalf("browser: %v\n%s", err, in.pageText())
	}
}

// load opens the inbox and waits until its WebSocket is connected, so
// every later change must arrive live. It marks the window, so that a
// reload (which would also show changes) is caught by stillSameDocument.
func (in *inbox) load(path string) {
	in.t.Helper()
	in.do(
		chromedp.Navigate(in.url+path),
		chromedp.WaitVisible(chromedp.CSS(`#live[data-state="open"]`)),
		chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`),
	)
}

// until waits for the JavaScript condition to be true, or fails the test
// with what the page shows.
func (in *inbox) until(what, cond string, args ...any) {
	in.t.Helper()
	fn := "(...args) => (" + cond + ")"
	if _, err := chromedp.Run(in.ctx, chromedp.PollFunction[chromedp.Void](fn,
		chromedp.WithPollingArgs(args...), chromedp.WithPollingTimeout(wait), chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		in.t.Fatalf("waiting for %s: %v\npage:\n%s", what, err, in.pageText())
	}
}

// eval evaluates a JavaScript expression and decodes its value.
func eval[T any](in *inbox, expr string) T {
	in.t.Helper()
	v, err := chromedp.Run(in.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		in.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (in *inbox) pageText() string {
	ctx, cancel := context.WithTimeout(in.tab, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(page text unavailable: " + err.Error() + ")"
	}
	return s
}

// js quotes a Go value for a JavaScript expression.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// The list's rows, as the page shows them.
const rowsJS = `[...document.querySelectorAll("#messages .msg")]`

func rowJS(subject string) string {
	return rowsJS + `.find((li) => li.querySelector(".subject").textContent === ` + js(subject) + `)`
}

func (in *inbox) waitRow(subject string) {
	in.t.Helper()
	in.until("a row with subject "+subject, `!!`+rowJS(subject))
}

// click waits for the element to be visible and clicks it. The click is
// dispatched by script, since the live page re-renders lists under a
// protocol-level click.
func (in *inbox) click(sel string) {
	in.t.Helper()
	in.until(sel+" visible", `(() => { const e = document.querySelector(`+js(sel)+`); return !!e && e.getClientRects().length > 0 && !e.disabled; })()`)
	in.do(chromedp.Evaluate[chromedp.Void](`document.querySelector(` + js(sel) + `).click()`))
}

// openRow clicks the row and waits for the message view to show it.
func (in *inbox) openRow(subject string) {
	in.t.Helper()
	in.waitRow(subject)
	in.do(chromedp.Evaluate[chromedp.Void](rowJS(subject) + `.click()`))
	in.until("the message view of "+subject, `!document.getElementById("viewer").hidden && document.getElementById("m-subject").textContent === `+js(subject))
}

func (in *inbox) stillSameDocument() {
	in.t.Helper()
	if !eval[bool](in, `window.__sameDocument === true`) {
		in.t.Fatal("the page reloaded; changes must show without a reload")
	}
}

func (in *inbox) canaryHits() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.canary...)
}

func (in *inbox) sendText(to, subject, text string) *mailtest.Message {
	in.t.Helper()
	return in.srv.Send(in.t, mailtest.Draft{From: "App <app@example.net>", To: []string{to}, Subject: subject, Text: text})
}

// --- scenarios --------------------------------------------------------------

func testLiveDelivery(t *testing.T, in *inbox) {
	in.load("/")
	in.until("the empty list", `document.getElementById("empty").hidden === false`)

	start := time.Now()
	in.sendText(bob, "Welcome aboard", "Hello Bob")
	in.waitRow("Welcome aboard")
	t.Logf("delivery shown %v after the SMTP transaction ended", time.Since(start))
	in.stillSameDocument()

	row := eval[map[string]any](in, `(() => { const li = `+rowJS("Welcome aboard")+`;
		return { unread: li.classList.contains("unread"), from: li.querySelector(".from").textContent,
		         title: document.title, count: document.querySelector('#mailboxes button[aria-current="true"] .count')?.textContent }; })()`)
	if row["unread"] != true {
		t.Errorf("new message row not marked unread: %v", row)
	}
	if !strings.Contains(row["from"].(string), "App") || !strings.Contains(row["from"].(string), "bob") {
		t.Errorf("row's from/to = %q, want the sender's name and the recipient", row["from"])
	}
	if row["title"] != "(1) mailrig inbox" || row["count"] != "1" {
		t.Errorf("unread count: title %q, All messages count %v; want 1", row["title"], row["count"])
	}
	// Bob's INBOX appears in the mailbox selector with its unread count.
	in.until("bob's INBOX with 1 unread", `(() => { const b = document.querySelector('#mailboxes button[data-user=`+js(bob)+`][data-mailbox="INBOX"]');
		return b && b.querySelector(".count")?.textContent === "1"; })()`)

	// A second delivery lands on top: newest first.
	in.sendText(alice, "Your invoice", "Amount due: 12 EUR")
	in.until("two rows, newest first", rowsJS+`.map((li) => li.querySelector(".subject").textContent).join("|") === "Your invoice|Welcome aboard"`)
	in.stillSameDocument()
}

func testOpenMessage(t *testing.T, in *inbox) {
	in.load("/")
	in.srv.Send(t, mailtest.Draft{
		From: "Shop <shop@example.net>", To: []string{bob}, Bcc: []string{alice},
		Subject: "Order 1042 confirmed",
		Text:    "Thanks for your order.\nTrack it at https://shop.example.net/track/1042",
		HTML:    `<h1 id="greet">Thanks for your order</h1><p>Track it <a href="https://shop.example.net/track/1042">here</a>.</p>`,
		Attachments: []mailtest.Attachment{
			{Filename: "invoice.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4 fake")},
		},
	})
	in.openRow("Order 1042 confirmed")

	// The HTML part is in the sandboxed frame; read it through the
	// protocol, since the page itself cannot (and must not) reach into it.
	in.until("the HTML frame to load", `(document.getElementById("html-frame").dataset.loaded || "").startsWith("view/")`)
	if got := frameText(t, in, "#greet"); got != "Thanks for your order" {
		t.Errorf("HTML frame heading = %q", got)
	}
	sandbox := eval[string](in, `document.getElementById("html-frame").getAttribute("sandbox")`)
	if strings.Contains(sandbox, "allow-scripts") || strings.Contains(sandbox, "allow-same-origin") {
		t.Errorf("frame sandbox = %q; want neither allow-scripts nor allow-same-origin", sandbox)
	}

	// Reading it marked it read, in the list and the store alike.
	in.until("the row read", `!`+rowJS("Order 1042 confirmed")+`.classList.contains("unread")`)

	in.click(`#tabs [data-tab="text"]`)
	in.until("the text part", `document.getElementById("panel-text").textContent.startsWith("Thanks for your order.\nTrack it at")`)

	in.click(`#tabs [data-tab="envelope"]`)
	in.until("the envelope with the Bcc recipient", `document.getElementById("envelope-table").textContent.includes("`+alice+`")`)
	meta := eval[string](in, `document.getElementById("m-meta").innerText`)
	if !strings.Contains(meta, "Bcc") || !strings.Contains(meta, alice) {
		t.Errorf("message header block does not show the Bcc recipient:\n%s", meta)
	}

	in.click(`#tabs [data-tab="links"]`)
	in.until("the link", `document.querySelector('#links-list a[href="https://shop.example.net/track/1042"]') !== null`)

	in.click(`#tabs [data-tab="transcript"]`)
	in.until("the SMTP transcript", `/C: MAIL FROM:<shop@example.net>/i.test(document.getElementById("panel-transcript").textContent)`)

	in.click(`#tabs [data-tab="copies"]`)
	in.until("both copies with UID and flags", `(() => { const rows = [...document.querySelectorAll("#copies-table tbody tr")].map((r) => r.innerText);
		return rows.length === 2 && rows.some((r) => r.includes(`+js(bob)+`) && r.includes("INBOX") && r.includes("\\Seen") && r.includes("would download")); })()`)

	in.click(`#tabs [data-tab="headers"]`)
	in.until("the headers", `[...document.querySelectorAll("#headers-table th")].some((th) => th.textContent === "Subject")`)

	in.click(`#tabs [data-tab="raw"]`)
	in.until("the raw source", `document.getElementById("panel-raw").textContent.includes("Subject: Order 1042 confirmed")`)

	att := eval[map[string]string](in, `(() => { const a = document.querySelector("#m-attachments a");
		return { name: a.querySelector(".fname").textContent, href: a.getAttribute("href"), download: a.getAttribute("download") }; })()`)
	if att["name"] != "invoice.pdf" || att["download"] != "invoice.pdf" || !strings.Contains(att["href"], "/part/") {
		t.Errorf("attachment link = %v", att)
	}
	// The link downloads the bytes that were attached.
	body := get(t, in.url+"/"+att["href"])
	if string(body) != "%PDF-1.4 fake" {
		t.Errorf("attachment download = %q", body)
	}
}

// frameText reads the text of an element inside the HTML frame through
// the DevTools protocol.
func frameText(t *testing.T, in *inbox, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(in.ctx, wait)
	defer cancel()
	frames, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("#html-frame"), chromedp.NodeReady))
	if err != nil || len(frames) == 0 {
		t.Fatalf("html frame: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel), chromedp.FromNode(frames[0].ContentDocument)))
	if err != nil {
		t.Fatalf("%s in the frame: %v", sel, err)
	}
	return text
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res.Body); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, res.Status, buf.Bytes())
	}
	return buf.Bytes()
}

func testIMAPChangesShow(t *testing.T, in *inbox) {
	in.sendText(bob, "Read me over IMAP", "body")
	in.load("/")
	in.waitRow("Read me over IMAP")
	in.click(`#mailboxes button[data-user="` + bob + `"][data-mailbox="INBOX"]`)
	in.until("bob's INBOX listed, unread", `document.getElementById("list-title").textContent === `+js(bob+" / INBOX")+` && `+rowJS("Read me over IMAP")+`?.classList.contains("unread")`)
	in.until("the all-messages unread count kept in a folder", `document.title === "(1) mailrig inbox" && document.querySelector('#mailboxes button[data-user=""] .count')?.textContent === "1"`)

	c := in.srv.IMAPClient(t, bob)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	uids := imap.UIDSetNum(1)
	if err := c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}, Silent: true}, nil).Close(); err != nil {
		t.Fatalf("STORE \\Seen: %v", err)
	}
	in.until("the row read after STORE \\Seen", `!`+rowJS("Read me over IMAP")+`.classList.contains("unread")`)
	in.until("INBOX's unread count gone, and the total's", `!document.querySelector('#mailboxes button[data-user=`+js(bob)+`][data-mailbox="INBOX"] .count') && document.title === "mailrig inbox"`)

	if _, err := c.Move(uids, "Archive").Wait(); err != nil {
		t.Fatalf("MOVE: %v", err)
	}
	in.until("the row gone from INBOX after MOVE", `!`+rowJS("Read me over IMAP")+` && !document.getElementById("empty").hidden`)
	in.stillSameDocument()

	in.click(`#mailboxes button[data-user="` + bob + `"][data-mailbox="Archive"]`)
	in.waitRow("Read me over IMAP")
	in.openRow("Read me over IMAP")
	in.click(`#tabs [data-tab="copies"]`)
	in.until("the copy in Archive with UID 1", `(() => { const r = [...document.querySelectorAll("#copies-table tbody tr")].map((r) => r.innerText);
		return r.length === 1 && r[0].includes("Archive") && /\b1\b/.test(r[0]) && r[0].includes("\\Seen") && r[0].includes("not in INBOX"); })()`)

	// An IMAP client clearing \Seen shows too, in the open message's button.
	if _, err := c.Select("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: []imap.Flag{imap.FlagSeen}, Silent: true}, nil).Close(); err != nil {
		t.Fatalf("STORE -\\Seen: %v", err)
	}
	in.until("the row unread again", rowJS("Read me over IMAP")+`.classList.contains("unread")`)
	in.until("the view offering Mark read", `document.getElementById("view-toggle-read").textContent === "Mark read"`)
	in.until("Archive's unread count", `document.querySelector('#mailboxes button[data-user=`+js(bob)+`][data-mailbox="Archive"] .count')?.textContent === "1"`)
	in.stillSameDocument()
}

func testPOP3Delete(t *testing.T, in *inbox) {
	in.sendText(bob, "Fetch me over POP3", "body")
	in.load("/")
	in.click(`#mailboxes button[data-user="` + bob + `"][data-mailbox="INBOX"]`)
	in.waitRow("Fetch me over POP3")

	// A POP3 client downloads it and deletes it; the deletion happens at QUIT.
	conn, err := net.Dial("tcp", in.srv.POP3Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(cmd string) string {
		t.Helper()
		if cmd != "" {
			fmt.Fprintf(conn, "%s\r\n", cmd)
		}
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("POP3 %q: %q %v", cmd, line, err)
		}
		return line
	}
	say("")
	say("USER " + bob)
	say("PASS bob-pw")
	say("DELE 1")
	// Not gone before QUIT: a POP3 session that drops deletes nothing.
	if !eval[bool](in, `!!`+rowJS("Fetch me over POP3")) {
		t.Fatal("the row went before QUIT")
	}
	say("QUIT")
	in.until("the row gone from bob's INBOX after QUIT", `!`+rowJS("Fetch me over POP3")+` && !document.getElementById("empty").hidden`)
	in.stillSameDocument()

	// The message stays listed under All messages, with no copy left.
	in.click(`#mailboxes button[data-user=""]`)
	in.openRow("Fetch me over POP3")
	in.click(`#tabs [data-tab="copies"]`)
	in.until("no copies left", `document.querySelector("#copies-table tbody").innerText.includes("No copy")`)
}

func testPagingAndReadState(t *testing.T, in *inbox) {
	const n = 120
	base := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
	for i := range n {
		in.srv.DeliverTo(t, bob, "INBOX", mailtest.Draft{From: "feed@example.net", To: []string{bob},
			Subject: fmt.Sprintf("item %03d", i), Text: "x", Date: base.Add(time.Duration(i) * time.Minute)})
	}
	in.load("/")
	in.click(`#mailboxes button[data-user="` + bob + `"][data-mailbox="INBOX"]`)
	in.until("the first page, newest first", rowsJS+`.length === 50 && `+rowsJS+`[0].querySelector(".subject").textContent === "item 119" && document.getElementById("page-info").textContent === "1–50 of 120"`)
	in.click("#next-page")
	in.until("the second page", rowsJS+`[0].querySelector(".subject").textContent === "item 069" && document.getElementById("page-info").textContent === "51–100 of 120"`)
	in.click("#next-page")
	in.until("the last page", rowsJS+`.length === 20 && document.getElementById("page-info").textContent === "101–120 of 120" && document.getElementById("next-page").disabled`)
	in.click("#prev-page")
	in.until("back to the second page", `document.getElementById("page-info").textContent === "51–100 of 120"`)

	// Tick two rows and mark them read: IMAP sees \Seen on exactly those.
	in.do(chromedp.Evaluate[chromedp.Void](rowJS("item 069") + `.querySelector(".check").click(); ` + rowJS("item 060") + `.querySelector(".check").click()`))
	in.click("#mark-read")
	in.until("both rows read", `!`+rowJS("item 069")+`.classList.contains("unread") && !`+rowJS("item 060")+`.classList.contains("unread") && `+rowJS("item 061")+`.classList.contains("unread")`)
	in.until("the unread count", `document.querySelector('#mailboxes button[data-user=`+js(bob)+`][data-mailbox="INBOX"] .count')?.textContent === "118"`)
	mb, _ := in.srv.IMAPView(bob).Mailbox("INBOX")
	var seen []string
	for _, m := range mb.Messages {
		if slices.Contains(m.Flags, string(imap.FlagSeen)) {
			seen = append(seen, m.Message.Subject())
		}
	}
	if strings.Join(seen, ",") != "item 060,item 069" {
		t.Errorf("IMAP \\Seen on %q, want item 060 and item 069", seen)
	}
	// And unread again with the other button; the ticks stay.
	in.click("#mark-unread")
	in.until("both rows unread again", rowJS("item 069")+`.classList.contains("unread") && `+rowJS("item 060")+`.classList.contains("unread")`)
	if mb, _ := in.srv.IMAPView(bob).Mailbox("INBOX"); mb.Unseen() != n {
		t.Errorf("IMAP unseen = %d, want %d", mb.Unseen(), n)
	}
}

func testReconnect(t *testing.T, in *inbox) {
	in.load("/")
	in.until("one events connection", `document.getElementById("live").dataset.connects === "1"`)
	in.mu.Lock()
	sockets := slices.Clone(in.sockets)
	in.mu.Unlock()
	if len(sockets) != 1 {
		t.Fatalf("%d events connections, want 1", len(sockets))
	}
	sockets[0].Close() // the network drops
	in.until("the page to reconnect", `document.getElementById("live").dataset.connects === "2" && document.getElementById("live").dataset.state === "open"`)
	in.sendText(bob, "After the drop", "x")
	in.waitRow("After the drop")
	in.stillSameDocument()
}

func testSearch(t *testing.T, in *inbox) {
	in.srv.Send(t, mailtest.Draft{From: "billing@example.net", To: []string{bob}, Subject: "Invoice March", Text: "due"})
	in.srv.Send(t, mailtest.Draft{From: "spam@example.org", To: []string{bob}, Subject: "Invoice? Cheap pills", Text: "buy"})
	in.srv.Send(t, mailtest.Draft{From: "billing@example.net", To: []string{alice}, Subject: "Receipt", Text: "paid",
		Attachments: []mailtest.Attachment{{Filename: "r.txt", Data: []byte("x")}}})
	in.load("/")
	in.until("three rows", rowsJS+`.length === 3`)

	search := func(q string, want ...string) {
		t.Helper()
		in.do(
			chromedp.Evaluate[chromedp.Void](`document.getElementById("search").value = ""`),
			chromedp.SendKeys(chromedp.CSS("#search"), q+"\r"),
		)
		in.until(fmt.Sprintf("search %q to list %q", q, want),
			rowsJS+`.map((li) => li.querySelector(".subject").textContent).join("|") === `+js(strings.Join(want, "|"))+
				` && document.getElementById("list-title").textContent.endsWith(`+js("search: "+q)+`)`)
	}
	search(`subject:invoice -from:spam`, "Invoice March")
	search(`from:billing`, "Receipt", "Invoice March")
	search(`has:attachment`, "Receipt")
	search(`"cheap pills"`, "Invoice? Cheap pills")
	search(`to:`+alice, "Receipt")

	// `/` focuses the search box from anywhere.
	in.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("search").blur()`), chromedp.KeyEvent("/"))
	if !eval[bool](in, `document.activeElement === document.getElementById("search")`) {
		t.Error("'/' did not focus the search box")
	}
	in.stillSameDocument()
}

func testDelete(t *testing.T, in *inbox) {
	for _, s := range []string{"one", "two", "three", "four"} {
		in.sendText(bob, s, s)
	}
	in.load("/")
	in.until("four rows", rowsJS+`.length === 4`)

	// Keyboard: j moves the cursor down, Delete deletes it.
	in.do(chromedp.Focus(chromedp.CSS("#messages")), chromedp.KeyEvent("j"), chromedp.KeyEvent("j"))
	in.until("the cursor on the second row", rowJS("three")+`.classList.contains("cursor")`)
	in.do(chromedp.KeyEvent("k"))
	in.until("the cursor back on the first row", rowJS("four")+`.classList.contains("cursor")`)
	in.do(chromedp.KeyEvent("j"), chromedp.KeyEvent("\r"))
	in.until("Enter to open the cursor's message", `document.getElementById("m-subject").textContent === "three"`)
	in.do(chromedp.KeyEvent(kb.Delete))
	in.until("the deleted row gone", `!`+rowJS("three")+` && `+rowsJS+`.length === 3 && document.getElementById("viewer").hidden`)
	if n := len(in.srv.Messages()); n != 3 {
		t.Errorf("server holds %d messages after deleting one in the browser, want 3", n)
	}
	// The cursor stays in place, on the next message, so Delete Delete works.
	in.until("the cursor on the next row", rowJS("two")+`.classList.contains("cursor")`)

	// The toolbar: tick a row, delete it.
	in.do(chromedp.Evaluate[chromedp.Void](rowJS("one") + `.querySelector(".check").click()`))
	in.click("#delete")
	in.until("the ticked row gone", `!`+rowJS("one")+` && `+rowsJS+`.length === 2`)

	// Delete all, after the confirmation.
	in.do(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
	in.click("#delete-all")
	in.until("an empty list", rowsJS+`.length === 0 && !document.getElementById("empty").hidden`)
	if n := len(in.srv.Messages()); n != 0 {
		t.Errorf("server holds %d messages after Delete all, want 0", n)
	}
	in.stillSameDocument()
}

// hostileHTML tries every way a message could run script or leave its frame.
// Each attempt reports to /canary/ if it runs: by fetch, and by navigating,
// which no connect-src policy stops.
const hostileHTML = `<!doctype html><html><head>
<base href="/canary/base/" target="_top">
<meta http-equiv="refresh" content="0;url=/canary/refresh">
<script>fetch("/canary/script"); try { parent.document.title = "pwned"; } catch (e) {} location.href = "/canary/script-nav";</script>
</head><body onload="fetch('/canary/onload'); location.href = '/canary/onload-nav'">
<h1 id="hostile">Hostile content</h1>
<img src="x" onerror="fetch('/canary/onerror'); location.href = '/canary/onerror-nav'">
<svg onload="fetch('/canary/svgload')"><script>fetch("/canary/inline-svg")</script></svg>
<a id="jslink" href="javascript:location.href='/canary/jslink'">click me</a>
<iframe srcdoc="<script>parent.location.href = '/canary/srcdoc'</script>"></iframe>
<form action="/canary/form"><input name="q" value="x"></form>
<object data="/canary/object"></object>
</body></html>`

const hostileSVG = `<svg xmlns="http://www.w3.org/2000/svg" onload="fetch('/canary/svg-onload')"><script>fetch("/canary/svg-script")</script><text y="20">hi</text></svg>`

func testHostile(t *testing.T, in *inbox) {
	const (
		subject  = `<img src=x onerror="fetch('/canary/subject')"><script>fetch("/canary/subject2")</script>`
		name     = `<b onmouseover="fetch('/canary/name')">Evil</b>`
		fileName = `<img src=x onerror="fetch('/canary/fname')">.svg`
	)
	in.load("/")
	title := eval[string](in, `document.title`)
	in.srv.Send(t, mailtest.Draft{
		From:    fmt.Sprintf("%q <evil@example.com>", name),
		To:      []string{`"<i>Bob</i>" <` + bob + `>`},
		Subject: subject,
		Text:    `<script>fetch("/canary/text")</script> javascript:fetch('/canary/textlink')`,
		HTML:    hostileHTML,
		Header:  map[string]string{"X-Hostile": `<script>fetch("/canary/header")</script>`},
		Attachments: []mailtest.Attachment{
			{Filename: fileName, ContentType: "image/svg+xml", Data: []byte(hostileSVG)},
		},
	})
	in.waitRow(subject)

	// The markup is shown as text: no element came from the message.
	got := eval[map[string]any](in, `(() => { const li = `+rowJS(subject)+`;
		return { from: li.querySelector(".from").textContent, elements: li.querySelectorAll("img, script, b, i").length }; })()`)
	if got["elements"].(float64) != 0 || !strings.Contains(got["from"].(string), name) {
		t.Errorf("row = %v; want the display name as text and no elements from the message", got)
	}

	// Chromium reports each script it refuses to run; collect the reports.
	consoleCtx, stopConsole := context.WithCancel(in.ctx)
	blocked := make(chan string, 1)
	var console sync.WaitGroup
	console.Add(1)
	go func() {
		defer console.Done()
		for m, err := range chromedp.Console(consoleCtx) {
			if err != nil {
				return
			}
			if strings.Contains(m.Text, "Blocked script execution") || strings.Contains(m.Text, "Refused to execute") {
				select {
				case blocked <- m.Text:
				default:
				}
			}
		}
	}()
	defer func() {
		stopConsole()
		console.Wait()
	}()

	in.openRow(subject)
	in.until("the hostile HTML frame to load", `(document.getElementById("html-frame").dataset.loaded || "").startsWith("view/")`)
	if got := frameText(t, in, "#hostile"); got != "Hostile content" {
		t.Errorf("frame heading = %q: the HTML part did not render", got)
	}
	// Try the javascript: link inside the frame.
	frames, err := chromedp.Run(in.ctx, chromedp.Nodes(chromedp.CSS("#html-frame"), chromedp.NodeReady))
	if err != nil {
		t.Fatal(err)
	}
	in.do(chromedp.Click(chromedp.CSS("#jslink"), chromedp.FromNode(frames[0].ContentDocument)))

	// Every other place that shows message data.
	for _, tab := range []string{"text", "headers", "raw", "envelope", "links", "transcript", "copies"} {
		in.click(`#tabs [data-tab="` + tab + `"]`)
		in.until(tab+" tab", `!document.getElementById("panel-`+tab+`").hidden`)
	}
	in.until("the headers table", `[...document.querySelectorAll("#headers-table td")].some((td) => td.textContent.includes('<script>fetch("/canary/header")</script>'))`)
	if n := eval[int](in, `document.querySelectorAll('a[href^="javascript:" i]').length`); n != 0 {
		t.Errorf("the page has %d javascript: links", n)
	}
	att := eval[map[string]string](in, `(() => { const a = document.querySelector("#m-attachments a");
		return { name: a.querySelector(".fname").textContent, href: a.getAttribute("href"), html: a.innerHTML }; })()`)
	if att["name"] != fileName || strings.Contains(att["html"], "<img") {
		t.Errorf("attachment = %v; want the file name as text", att)
	}

	// Open the SVG attachment in a tab of its own, as a user might.
	svgTab, cancel := chromedp.NewContext(in.tab)
	defer cancel()
	if err := chromedp.Do(svgTab); err != nil {
		t.Fatal(err)
	}
	// It is served as a download, so the browser saves it and shows nothing.
	dlCtx, cancelDL := context.WithTimeout(svgTab, wait)
	defer cancelDL()
	begun := chromedp.BrowserEvents(dlCtx, browser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(dlCtx, browser.DownloadProgress)
	_ = chromedp.Do(svgTab, chromedp.Navigate(in.url+"/"+att["href"])) // aborted by the download
	var guid string
	for ev, err := range begun {
		if err != nil {
			t.Fatalf("the SVG attachment did not download: %v", err)
		}
		if strings.HasSuffix(ev.URL, att["href"]) {
			guid = ev.GUID
			t.Logf("download of %q", ev.SuggestedFilename)
			break
		}
	}
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("the SVG download did not finish: %v", err)
		}
		if ev.GUID == guid && ev.State != browser.DownloadProgressStateInProgress {
			if ev.State != browser.DownloadProgressStateCompleted {
				t.Fatalf("SVG download %s", ev.State)
			}
			break
		}
	}
	if got, err := os.ReadFile(filepath.Join(downloads, guid)); err != nil || string(got) != hostileSVG {
		t.Errorf("downloaded SVG = %q, %v; want the attached bytes", got, err)
	}
	cancelDL()
	cancel()

	// Open the HTML part's own URL directly, outside the frame too.
	direct, cancel2 := chromedp.NewContext(in.tab)
	defer cancel2()
	if err := chromedp.Do(direct); err != nil {
		t.Fatal(err)
	}
	loaded := eval[string](in, `document.getElementById("html-frame").dataset.loaded`)
	if err := chromedp.Do(direct, chromedp.Navigate(in.url+"/"+loaded),
		chromedp.WaitReady(chromedp.CSS("#hostile"))); err != nil {
		t.Fatalf("open %s: %v", loaded, err)
	}
	cancel2()

	// Sync point: a benign fetch from the inbox page arrives after
	// anything the hostile content could still have queued before it.
	in.do(chromedp.Evaluate[chromedp.Void](`fetch("/canary/sync")`, chromedp.EvalAwaitPromise))
	in.stillSameDocument()
	if tt := eval[string](in, `document.title`); tt != title && tt != "(1) mailrig inbox" && tt != "mailrig inbox" {
		t.Errorf("document.title = %q", tt)
	}
	if loc := eval[string](in, `location.href`); loc != in.url+"/" {
		t.Errorf("the inbox navigated to %s", loc)
	}
	// The frame is still the message: no refresh, base or top navigation moved it.
	tree, err := chromedp.Run(in.ctx, func(ctx context.Context, tt *chromedp.Target) (*page.FrameTree, error) {
		res, err := cdp.Call(ctx, tt, page.GetFrameTree, cdp.Empty{})
		return res.FrameTree, err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, child := range tree.ChildFrames {
		if !strings.HasSuffix(child.Frame.URL, "/"+loaded) {
			t.Errorf("the message frame is at %s, want %s", child.Frame.URL, loaded)
		}
	}
	hits := in.canaryHits()
	if len(hits) != 1 || hits[0] != "/canary/sync" {
		t.Errorf("message content ran or navigated: requests %q", hits)
	}
	// And the scripts were there, and the browser refused them.
	select {
	case msg := <-blocked:
		t.Logf("Chromium: %s", msg)
	case <-time.After(wait):
		t.Error("Chromium reported no blocked script, so the hostile scripts were never tried")
	}
	sandbox := eval[string](in, `document.getElementById("html-frame").getAttribute("sandbox")`)
	if strings.Contains(sandbox, "allow-scripts") || strings.Contains(sandbox, "allow-same-origin") {
		t.Errorf("frame sandbox = %q", sandbox)
	}
}

func testRemoteImages(t *testing.T, in *inbox) {
	// A "remote" server: another origin than the inbox.
	var mu sync.Mutex
	hits := 0
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.Header().Set("Content-Type", "image/gif")
		w.Write([]byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
	}))
	t.Cleanup(remote.Close)
	remoteURL := strings.Replace(remote.URL, "127.0.0.1", "localhost", 1) + "/pixel.gif"
	in.load("/")
	in.srv.Send(t, mailtest.Draft{From: "news@example.net", To: []string{bob}, Subject: "Newsletter",
		HTML: `<p id="p">News</p><img id="pixel" src="` + remoteURL + `" width="1" height="1">`})
	in.openRow("Newsletter")
	in.until("the frame to load", `(document.getElementById("html-frame").dataset.loaded || "").startsWith("view/")`)
	in.until("the remote images notice", `!document.getElementById("remote-notice").hidden`)
	mu.Lock()
	n := hits
	mu.Unlock()
	if n != 0 {
		t.Fatalf("the remote image was fetched %d times before the user allowed it", n)
	}
	in.click("#allow-remote")
	in.until("the frame to reload with remote images", `(document.getElementById("html-frame").dataset.loaded || "").endsWith("?remote=1")`)
	mu.Lock()
	n = hits
	mu.Unlock()
	if n != 1 {
		t.Errorf("remote image fetched %d times after allowing, want 1", n)
	}
	if !eval[bool](in, `document.getElementById("remote-notice").hidden`) {
		t.Error("the notice is still shown after allowing")
	}
}

func testFaultsPanel(t *testing.T, in *inbox) {
	in.load("/")
	in.click("#faults-open")
	in.until("the faults dialog", `document.getElementById("faults").open && !document.getElementById("faults-empty").hidden`)
	in.do(
		chromedp.SetValue(chromedp.CSS(`#fault-form [name="Protocol"]`), "SMTP"),
		chromedp.SendKeys(chromedp.CSS(`#fault-form [name="Command"]`), "RCPT"),
		chromedp.SendKeys(chromedp.CSS(`#fault-form [name="Arg"]`), "bob@"),
		chromedp.SendKeys(chromedp.CSS(`#fault-form [name="Reply"]`), "452 4.2.2 Mailbox full"),
	)
	in.click(`#fault-form button[type="submit"]`)
	in.until("the fault listed", `document.getElementById("faults-table").innerText.includes("452 4.2.2 Mailbox full")`)

	// The fault acts on a real SMTP client.
	d := mailtest.Draft{From: "app@example.net", To: []string{bob}, Subject: "x", Text: "x"}
	raw, err := d.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	err = smtpSendRaw(in.srv.SMTPAddr(), "app@example.net", []string{bob}, raw)
	if err == nil || !strings.Contains(err.Error(), "452") {
		t.Errorf("send with the fault injected: err = %v, want 452", err)
	}
	// Times was 1: the fault cleared itself, and the panel shows it (live).
	in.until("the used-up fault gone", `document.querySelectorAll("#faults-table tbody tr").length === 0`)

	// A malformed fault is refused with the server's reason.
	in.do(
		chromedp.SetValue(chromedp.CSS(`#fault-form [name="Command"]`), "RCPT"),
		chromedp.SetValue(chromedp.CSS(`#fault-form [name="Reply"]`), "not a reply"),
	)
	in.click(`#fault-form button[type="submit"]`)
	in.until("the error shown", `!document.getElementById("fault-error").hidden`)

	in.do(chromedp.SetValue(chromedp.CSS(`#fault-form [name="Reply"]`), "421 4.3.2 Going down"),
		chromedp.SetValue(chromedp.CSS(`#fault-form [name="Times"]`), "0"))
	in.click(`#fault-form button[type="submit"]`)
	in.until("the second fault listed", `document.querySelectorAll("#faults-table tbody tr").length === 1`)
	in.click("#faults-clear")
	in.until("no faults", `document.querySelectorAll("#faults-table tbody tr").length === 0 && !document.getElementById("faults-empty").hidden`)
}

// --- screenshots ------------------------------------------------------------

func testScreenshots(t *testing.T, in *inbox) {
	fill(t, in.srv)
	in.load("/")
	in.until("the sample messages", rowsJS+`.length >= 6`)
	in.openRow("Your order #1042 has shipped")
	in.until("the HTML frame to load", `(document.getElementById("html-frame").dataset.loaded || "").startsWith("view/")`)

	dir := os.Getenv("MAILRIG_SCREENSHOTS")
	for _, sh := range []struct {
		name          string
		width, height int64
		mobile, dark  bool
	}{
		{"desktop-light", 1280, 800, false, false},
		{"desktop-dark", 1280, 800, false, true},
		{"phone-light", 390, 844, true, false},
		{"phone-dark", 390, 844, true, true},
	} {
		scheme := "light"
		if sh.dark {
			scheme = "dark"
		}
		opts := []chromedp.EmulateViewportOption{}
		if sh.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait, chromedp.EmulateScale(2))
		}
		in.do(chromedp.EmulateViewport(sh.width, sh.height, opts...), chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
			_, err := cdp.Call(ctx, tt, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			})
			return err
		}))
		in.until(sh.name+" colours", `matchMedia("(prefers-color-scheme: `+scheme+`)").matches && innerWidth === `+fmt.Sprint(sh.width))
		// Nothing may stick out sideways, at any width.
		if w := eval[int](in, `document.documentElement.scrollWidth`); w > int(sh.width) {
			t.Errorf("%s: page is %dpx wide in a %dpx viewport", sh.name, w, sh.width)
		}
		bg := eval[string](in, `getComputedStyle(document.body).backgroundColor`)
		if dark := bg != "rgb(255, 255, 255)"; dark != sh.dark {
			t.Errorf("%s: body background %s", sh.name, bg)
		}
		if sh.mobile {
			// One pane at a time: the message, with a way back to the list.
			in.until("phone layout", `getComputedStyle(document.getElementById("list-pane")).display === "none" && getComputedStyle(document.getElementById("back")).display !== "none"`)
		}
		img, err := chromedp.Run(in.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("%s: screenshot: %v", sh.name, err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(img))
		if err != nil || cfg.Width < int(sh.width) {
			t.Fatalf("%s: screenshot is not a %dpx-wide PNG: %v %v", sh.name, sh.width, cfg, err)
		}
		if dir != "" {
			writeFile(t, filepath.Join(dir, sh.name+".png"), img)
		}
		if p := os.Getenv("MAILRIG_SCREENSHOT"); p != "" && sh.name == "desktop-light" {
			writeFile(t, p, img)
		}
		if sh.mobile && dir != "" {
			// The list at phone width, too.
			in.click("#back")
			in.until("the list at phone width", `getComputedStyle(document.getElementById("list-pane")).display !== "none"`)
			img, err := chromedp.Run(in.ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, sh.name+"-list.png"), img)
			in.openRow("Your order #1042 has shipped")
		}
	}
	if dir != "" {
		moreScreenshots(t, in, dir)
	}
}

// moreScreenshots shows the other panels, for a person to look at.
func moreScreenshots(t *testing.T, in *inbox, dir string) {
	in.do(chromedp.EmulateViewport(1280, 800))
	shot := func(name string) {
		t.Helper()
		img, err := chromedp.Run(in.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name+".png"), img)
	}
	for _, tab := range []string{"transcript", "copies", "envelope", "headers"} {
		in.click(`#tabs [data-tab="` + tab + `"]`)
		in.until(tab+" filled", `document.getElementById("panel-`+tab+`").textContent.length > 20`)
		shot("tab-" + tab)
	}
	in.srv.Inject(t, mailtest.Fault{Protocol: mailtest.SMTP, Command: "RCPT", Arg: "full@", Reply: "452 4.2.2 Mailbox full", Times: 2})
	in.click("#faults-open")
	in.until("the fault listed", `document.querySelectorAll("#faults-table tbody tr").length === 1`)
	shot("faults")
	in.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("faults").close()`))

	// Phone width: the mailbox drawer, and the faults panel.
	in.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait, chromedp.EmulateScale(2)))
	in.click("#back")
	in.click("#menu-toggle")
	in.until("the drawer open", `getComputedStyle(document.getElementById("sidebar")).visibility === "visible" && document.getElementById("sidebar").getBoundingClientRect().left === 0`)
	shot("phone-drawer")
	in.click(`#mailboxes button[data-user="` + bob + `"][data-mailbox="INBOX"]`)
	in.until("the drawer closed on choosing", `getComputedStyle(document.getElementById("sidebar")).visibility === "hidden"`)
	in.click("#faults-open")
	in.until("the faults dialog", `document.getElementById("faults").open`)
	shot("phone-faults")
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// fill delivers a plausible day of an app's mail for the screenshots.
func fill(t *testing.T, srv *mailtest.Server) {
	t.Helper()
	send := func(d mailtest.Draft) { srv.Send(t, d) }
	send(mailtest.Draft{From: "Acme Accounts <accounts@acme.test>", To: []string{"Alice Liddell <" + alice + ">"},
		Subject: "Confirm your email address", Text: "Hi Alice,\n\nplease confirm your address: https://acme.test/confirm?t=6f1c2a\n",
		HTML: `<p>Hi Alice,</p><p>Please <a href="https://acme.test/confirm?t=6f1c2a">confirm your address</a>.</p>`})
	send(mailtest.Draft{From: "Acme Security <security@acme.test>", To: []string{alice},
		Subject: "New sign-in from Firefox on Linux", Text: "We noticed a new sign-in to your account.\nIf this was you, you can ignore this message."})
	send(mailtest.Draft{From: "Acme Billing <billing@acme.test>", To: []string{"Bob Builder <" + bob + ">"},
		Subject: "Invoice INV-2026-0117", Text: "Your invoice for November is attached.\nAmount due: 49.00 EUR",
		Attachments: []mailtest.Attachment{{Filename: "INV-2026-0117.pdf", ContentType: "application/pdf", Data: bytes.Repeat([]byte("%PDF"), 3000)}}})
	send(mailtest.Draft{From: "Acme Team <team@acme.test>", To: []string{bob}, Cc: []string{alice},
		Subject: "Weekly digest: 3 new comments", Text: "Carol replied to your post \"Release planning\".\nDan and Erin liked your comment."})
	send(mailtest.Draft{From: "Acme Alerts <alerts@acme.test>", To: []string{"ops@acme.test"},
		Subject: "[ALERT] Disk usage above 90% on db-1", Text: "db-1: /var/lib/postgres is 91% full (threshold 90%)."})
	send(mailtest.Draft{From: "Acme Shop <shop@acme.test>", To: []string{"Bob Builder <" + bob + ">"}, Bcc: []string{"audit@acme.test"},
		Subject: "Your order #1042 has shipped",
		Text:    "Hi Bob,\n\nyour order #1042 is on its way.\nTrack it: https://shop.acme.test/track/1042\n",
		HTML: `<div style="font-family:Helvetica,Arial,sans-serif;max-width:560px;margin:24px auto;color:#222">
<h2 style="color:#1a7f37;margin:0 0 8px">Your order is on its way</h2>
<p>Hi Bob,</p><p>Order <b>#1042</b> left our warehouse today and should arrive on <b>Friday</b>.</p>
<table style="border-collapse:collapse;width:100%;margin:16px 0"><tr style="background:#f3f4f6"><th style="text-align:left;padding:6px">Item</th><th style="text-align:right;padding:6px">Qty</th></tr>
<tr><td style="padding:6px;border-bottom:1px solid #e5e7eb">Cordless drill</td><td style="text-align:right;padding:6px;border-bottom:1px solid #e5e7eb">1</td></tr>
<tr><td style="padding:6px">Drill bits (set of 12)</td><td style="text-align:right;padding:6px">2</td></tr></table>
<p><a href="https://shop.acme.test/track/1042" style="display:inline-block;background:#1a7f37;color:#fff;padding:10px 16px;border-radius:6px;text-decoration:none">Track your parcel</a></p>
<p style="color:#6b7280;font-size:12px">Acme Shop · 1 Example Street · Springfield</p></div>`,
		Attachments: []mailtest.Attachment{{Filename: "packing-slip.pdf", ContentType: "application/pdf", Data: bytes.Repeat([]byte("%PDF"), 900)}}})
}

// smtpSendRaw runs one SMTP transaction with go-smtp's client.
func smtpSendRaw(addr, from string, to []string, raw []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}
