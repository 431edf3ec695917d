package mailtest_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/mailrig/mailrig/mailtest"
	"github.com/mailrig/mailrig/mailtest/internal/mailparse"
)

// composeTree renders the MIME structure of raw as e.g.
// "multipart/mixed(text/plain,application/pdf)", so tests can assert the
// shape the composer chose.
func composeTree(t *testing.T, raw []byte) string {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("message.Read: %v", err)
	}
	var render func(e *message.Entity) string
	render = func(e *message.Entity) string {
		mt, _, _ := e.Header.ContentType()
		mr := e.MultipartReader()
		if mr == nil {
			_, _ = io.Copy(io.Discard, e.Body)
			return mt
		}
		var kids []string
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("NextPart: %v", err)
			}
			kids = append(kids, render(p))
		}
		return mt + "(" + strings.Join(kids, ",") + ")"
	}
	return render(e)
}

// composeCheckWire checks properties every composed message must have.
func composeCheckWire(t *testing.T, raw []byte) {
	t.Helper()
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			t.Fatalf("bare LF at offset %d: %q", i, raw[max(0, i-40):i+1])
		}
		if c == '\r' && (i+1 == len(raw) || raw[i+1] != '\n') {
			t.Fatalf("bare CR at offset %d", i)
		}
		if c >= 0x80 {
			t.Fatalf("8-bit byte at offset %d: composed mail must be 7-bit clean", i)
		}
	}
	// RFC 5322 caps lines at 998 characters. Header fields may get that
	// long (go-message keeps a 75-character encoded word on the Subject
	// line), but encoded body lines should stay within 78.
	_, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Errorf("line longer than 998 characters: %q", line)
		}
	}
	for _, line := range bytes.Split(body, []byte("\r\n")) {
		if len(line) > 78 && !bytes.Contains(line, []byte(": ")) {
			t.Errorf("body line longer than 78 characters: %q", line)
		}
	}
}

var (
	composePDF = []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\nbinary\x00\x01\xff\n%%EOF\n")
	composePNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
)

func TestDraftBytesShapes(t *testing.T) {
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	longText := strings.Repeat("Grüße aus München, ", 30) + "\nzweite Zeile\n\nLetzte Zeile mit =Gleichheitszeichen= und Tab\tEnde.\n"

	tests := []struct {
		name  string
		draft mailtest.Draft
		tree  string
		atts  []mailparse.Attachment
	}{
		{
			name:  "text only",
			draft: mailtest.Draft{Text: longText},
			tree:  "text/plain",
		},
		{
			name:  "HTML only",
			draft: mailtest.Draft{HTML: `<p>Hi <a href="https://example.com/x?a=1&amp;b=2">there</a></p>`},
			tree:  "text/html",
		},
		{
			name:  "empty body",
			draft: mailtest.Draft{},
			tree:  "text/plain",
		},
		{
			name:  "text and HTML",
			draft: mailtest.Draft{Text: "plain ✓", HTML: "<b>html ✓</b>"},
			tree:  "multipart/alternative(text/plain,text/html)",
		},
		{
			name: "text, HTML and a PDF",
			draft: mailtest.Draft{Text: "see attached", HTML: "<p>see attached</p>", Attachments: []mailtest.Attachment{
				{Filename: "invoice 2024.pdf", Data: composePDF},
			}},
			tree: "multipart/mixed(multipart/alternative(text/plain,text/html),application/pdf)",
			atts: []mailparse.Attachment{{Filename: "invoice 2024.pdf", ContentType: "application/pdf", Data: composePDF}},
		},
		{
			name: "text and attachments with defaults",
			draft: mailtest.Draft{Text: "files", Attachments: []mailtest.Attachment{
				{Filename: "all-bytes.weird-extension", Data: allBytes},
				{Filename: "résumé.pdf", ContentType: "application/x-custom; version=2", Data: []byte("x")},
				{Data: []byte("no name")},
			}},
			tree: "multipart/mixed(text/plain,application/octet-stream,application/x-custom,application/octet-stream)",
			atts: []mailparse.Attachment{
				{Filename: "all-bytes.weird-extension", ContentType: "application/octet-stream", Data: allBytes},
				{Filename: "résumé.pdf", ContentType: "application/x-custom", Data: []byte("x")},
				{ContentType: "application/octet-stream", Data: []byte("no name")},
			},
		},
		{
			name: "HTML with inline image and a file",
			draft: mailtest.Draft{Text: "logo", HTML: `<img src="cid:logo@x">`, Attachments: []mailtest.Attachment{
				{Filename: "logo.png", ContentID: "logo@x", Inline: true, Data: composePNG},
				{Filename: "terms.pdf", Data: composePDF},
			}},
			tree: "multipart/mixed(multipart/related(multipart/alternative(text/plain,text/html),image/png),application/pdf)",
			atts: []mailparse.Attachment{
				{Filename: "logo.png", ContentType: "image/png", ContentID: "logo@x", Inline: true, Data: composePNG},
				{Filename: "terms.pdf", ContentType: "application/pdf", Data: composePDF},
			},
		},
		{
			name: "HTML only with inline image",
			draft: mailtest.Draft{HTML: `<img src="cid:a">`, Attachments: []mailtest.Attachment{
				{Filename: "a.png", ContentID: "<a>", Inline: true, Data: composePNG},
			}},
			tree: "multipart/related(text/html,image/png)",
			atts: []mailparse.Attachment{{Filename: "a.png", ContentType: "image/png", ContentID: "a", Inline: true, Data: composePNG}},
		},
		{
			name: "inline part without HTML goes to mixed",
			draft: mailtest.Draft{Text: "t", Attachments: []mailtest.Attachment{
				{Filename: "a.png", ContentID: "a", Inline: true, Data: composePNG},
			}},
			tree: "multipart/mixed(text/plain,image/png)",
			atts: []mailparse.Attachment{{Filename: "a.png", ContentType: "image/png", ContentID: "a", Inline: true, Data: composePNG}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.draft
			d.From = "Zoë Sender <zoe@sender.example>"
			d.To = []string{"bob@example.com", "Carol <carol@example.com>"}
			d.Cc = []string{"dave@example.com"}
			d.Bcc = []string{"secret@example.com"}
			d.Subject = "Grüße — ünïcødé ✓ " + strings.Repeat("long subject ", 8)

			raw, err := d.Bytes()
			if err != nil {
				t.Fatalf("Bytes: %v", err)
			}
			composeCheckWire(t, raw)
			if got := composeTree(t, raw); got != tc.tree {
				t.Errorf("MIME tree = %s, want %s", got, tc.tree)
			}
			if bytes.Contains(bytes.ToLower(raw), []byte("secret@example.com")) || bytes.Contains(bytes.ToLower(raw), []byte("\nbcc:")) {
				t.Error("Bcc leaked into the message")
			}

			p, err := mailparse.Parse(raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Subject != d.Subject {
				t.Errorf("Subject = %q, want %q", p.Subject, d.Subject)
			}
			if len(p.From) != 1 || p.From[0].Name != "Zoë Sender" || p.From[0].Address != "zoe@sender.example" {
				t.Errorf("From = %v", p.From)
			}
			if len(p.To) != 2 || len(p.Cc) != 1 {
				t.Errorf("To = %v, Cc = %v", p.To, p.Cc)
			}
			// The parser turns CRLF into LF, so the text must come back as written.
			if p.Text != d.Text {
				t.Errorf("Text = %q, want %q", p.Text, d.Text)
			}
			if p.HTML != d.HTML {
				t.Errorf("HTML = %q, want %q", p.HTML, d.HTML)
			}
			if !reflect.DeepEqual(p.Attachments, tc.atts) {
				t.Errorf("Attachments =\n%+v\nwant\n%+v", p.Attachments, tc.atts)
			}
			if p.Date.IsZero() || time.Since(p.Date) > time.Minute || time.Since(p.Date) < -time.Minute {
				t.Errorf("Date = %v, want about now", p.Date)
			}
			if !strings.HasSuffix(p.MessageID, "@sender.example") || len(p.MessageID) < len("@sender.example")+16 {
				t.Errorf("MessageID = %q, want random@sender.example", p.MessageID)
			}
			if p.Header.Get("Mime-Version") != "1.0" {
				t.Errorf("MIME-Version = %q", p.Header.Get("Mime-Version"))
			}
		})
	}
}

func TestDraftBytesHeaderFields(t *testing.T) {
	date := time.Date(2024, 2, 29, 13, 14, 15, 0, time.FixedZone("CET", 3600))
	d := mailtest.Draft{
		From:      "a@example.com",
		To:        []string{"b@example.com"},
		ReplyTo:   "Help Desk <help@example.com>",
		Subject:   "plain",
		Date:      date,
		MessageID: "<fixed.1@example.com>",
		Text:      "x",
		Header:    map[string]string{"X-Campaign": "spring-sale", "x-note": "naïve", "Date": "Thu, 29 Feb 2024 13:14:15 +0100"},
	}
	raw, err := d.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	composeCheckWire(t, raw)
	p, err := mailparse.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Date.Equal(date) {
		t.Errorf("Date = %v, want %v", p.Date, date)
	}
	if p.MessageID != "fixed.1@example.com" {
		t.Errorf("MessageID = %q", p.MessageID)
	}
	if len(p.ReplyTo) != 1 || p.ReplyTo[0].Address != "help@example.com" {
		t.Errorf("ReplyTo = %v", p.ReplyTo)
	}
	if got := p.Header.Get("X-Campaign"); got != "spring-sale" {
		t.Errorf("X-Campaign = %q", got)
	}
	if got, _ := p.Header.Text("X-Note"); got != "naïve" {
		t.Errorf("X-Note = %q", got)
	}
	if n := strings.Count(string(raw), "\r\nDate:") + strings.Count(string(raw[:5]), "Date:"); n != 1 {
		t.Errorf("%d Date fields, want 1", n)
	}
}

func TestDraftBytesErrors(t *testing.T) {
	ok := mailtest.Draft{From: "a@example.com", To: []string{"b@example.com"}, Text: "x"}
	tests := []struct {
		name string
		edit func(*mailtest.Draft)
		want string
	}{
		{"no From", func(d *mailtest.Draft) { d.From = " " }, "no From"},
		{"bad From", func(d *mailtest.Draft) { d.From = "not an address" }, "From"},
		{"no recipient", func(d *mailtest.Draft) { d.To = []string{""} }, "no recipient"},
		{"bad To", func(d *mailtest.Draft) { d.To = []string{"b@example.com", "<<>>"} }, "To"},
		{"bad Bcc", func(d *mailtest.Draft) { d.Bcc = []string{"@@"} }, "Bcc"},
		{"bad ReplyTo", func(d *mailtest.Draft) { d.ReplyTo = "nope" }, "ReplyTo"},
		{"reserved header", func(d *mailtest.Draft) { d.Header = map[string]string{"content-type": "text/html"} }, "set by the composer"},
		{"Bcc header", func(d *mailtest.Draft) { d.Header = map[string]string{"BCC": "x@example.com"} }, "set by the composer"},
		{"header injection", func(d *mailtest.Draft) { d.Header = map[string]string{"X-A": "v\r\nBcc: x@example.com"} }, "line break"},
		{"bad field name", func(d *mailtest.Draft) { d.Header = map[string]string{"X A": "v"} }, "field name"},
		{"bad content type", func(d *mailtest.Draft) {
			d.Attachments = []mailtest.Attachment{{Filename: "f", ContentType: "not a type", Data: []byte("x")}}
		}, "content type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := ok
			tc.edit(&d)
			_, err := d.Bytes()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Bytes() error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	// Only Bcc is enough for a valid message.
	d := mailtest.Draft{From: "a@example.com", Bcc: []string{"b@example.com"}}
	if _, err := d.Bytes(); err != nil {
		t.Errorf("Bcc-only draft: %v", err)
	}
}

func TestDraftRecipientsAndSender(t *testing.T) {
	d := mailtest.Draft{
		From: `"Sender, Inc." <noreply@example.com>`,
		To:   []string{"Bob <bob@example.com>", "carol@example.com, dave@example.com"},
		Cc:   []string{"BOB@example.com", "erin@example.com"},
		Bcc:  []string{"audit@example.com", "carol@example.com", "", "not valid"},
	}
	want := []string{"bob@example.com", "carol@example.com", "dave@example.com", "erin@example.com", "audit@example.com"}
	if got := d.Recipients(); !reflect.DeepEqual(got, want) {
		t.Errorf("Recipients() = %q, want %q", got, want)
	}
	if got := d.Sender(); got != "noreply@example.com" {
		t.Errorf("Sender() = %q", got)
	}
	if got := (mailtest.Draft{From: "garbage"}).Sender(); got != "" {
		t.Errorf("Sender() of garbage = %q, want empty", got)
	}
	if got := (mailtest.Draft{}).Recipients(); got != nil {
		t.Errorf("Recipients() of empty draft = %q, want nil", got)
	}
}

// TestDraftBytesAwkwardText feeds the quoted-printable encoder input that
// tends to break wire format: CRLF and lone CR, trailing blanks, control
// bytes, lines starting with "." or "From ", and a very long word.
func TestDraftBytesAwkwardText(t *testing.T) {
	text := "crlf\r\nlone\rcr\ntrailing   \n\ttab\x00nul\x7f\n.dot\nFrom here\n" + strings.Repeat("x", 300) + "\n=?utf-8?q?not-a-word?=\n"
	d := mailtest.Draft{From: "a@example.com", To: []string{"b@example.com"}, Text: text, HTML: "<p>" + text + "</p>"}
	raw, err := d.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	composeCheckWire(t, raw)
	p, err := mailparse.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	// The parser reports line breaks as LF, whatever was sent.
	want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(text)
	if p.Text != want {
		t.Errorf("Text =\n%q\nwant\n%q", p.Text, want)
	}
	if p.HTML != "<p>"+want+"</p>" {
		t.Errorf("HTML = %q", p.HTML)
	}
}

func TestDraftBytesMessageIDsDiffer(t *testing.T) {
	d := mailtest.Draft{From: "a@example.com", To: []string{"b@example.com"}}
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		raw, err := d.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		p, _ := mailparse.Parse(raw)
		if seen[p.MessageID] {
			t.Fatalf("Message-ID %q repeated", p.MessageID)
		}
		seen[p.MessageID] = true
	}
}

func ExampleDraft_Bytes() {
	d := mailtest.Draft{
		From:    "Shop <shop@example.com>",
		To:      []string{"customer@example.com"},
		Bcc:     []string{"archive@example.com"},
		Subject: "Your order №42 ✓",
		Text:    "Thanks! Track it at https://shop.example/t/42",
		HTML:    `<p>Thanks! <a href="https://shop.example/t/42">Track it</a></p>`,
	}
	raw, err := d.Bytes()
	if err != nil {
		log.Fatal(err)
	}
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		log.Fatal(err)
	}
	subject, _ := r.Header.Subject()
	mediaType, _, _ := r.Header.ContentType()
	fmt.Println("Subject:", subject)
	fmt.Println("Content-Type:", mediaType)
	fmt.Println("Bcc in header:", bytes.Contains(raw, []byte("archive@")))
	fmt.Println("Envelope:", d.Sender(), "->", d.Recipients())
	// Output:
	// Subject: Your order №42 ✓
	// Content-Type: multipart/alternative
	// Bcc in header: false
	// Envelope: shop@example.com -> [customer@example.com archive@example.com]
}
