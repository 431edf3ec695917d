package mailparse

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

// crlf converts a readable LF test literal into wire format.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// b64 encodes data as a MIME base64 body with 76-character lines.
func b64(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n")
	return b.String()
}

var (
	pdfBytes = []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n\x00\x01\x02\xff trailer\n%%EOF\n")
	pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
)

// want lists the fields a case checks; nil slices and empty strings are
// compared too, so every case states the full expected result. Addresses
// are written "Name <addr>" with the decoded name (see addrStrings).
type want struct {
	subject   string
	from      []string
	to        []string
	cc        []string
	replyTo   []string
	date      time.Time
	messageID string
	text      string
	html      string
	atts      []Attachment
	links     []string
}

var parseCases = []struct {
	name string
	raw  string
	want want
}{
	{
		name: "plain ASCII",
		raw: crlf(`From: Alice Example <alice@example.com>
To: bob@example.com, "Carol, C." <carol@example.com>
Cc: dave@example.com
Reply-To: replies@example.com
Subject: Hello there
Date: Mon, 02 Jan 2006 15:04:05 -0700
Message-ID: <abc.123@example.com>

Hi Bob,
visit https://example.com/welcome.
`),
		want: want{
			subject:   "Hello there",
			from:      []string{`Alice Example <alice@example.com>`},
			to:        []string{"<bob@example.com>", `Carol, C. <carol@example.com>`},
			cc:        []string{"<dave@example.com>"},
			replyTo:   []string{"<replies@example.com>"},
			date:      time.Date(2006, 1, 2, 22, 4, 5, 0, time.UTC),
			messageID: "abc.123@example.com",
			text:      "Hi Bob,\nvisit https://example.com/welcome.\n",
			links:     []string{"https://example.com/welcome"},
		},
	},
	{
		name: "quoted-printable UTF-8 with soft line breaks",
		raw: crlf(`From: a@example.com
Subject: =?UTF-8?B?R3LDvMOfZQ==?=
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Gr=C3=BC=C3=9Fe aus M=C3=BCnchen, this line is long enough that it has to=
 be wrapped by the encoder; a=3Db.
`),
		want: want{
			subject: "Grüße",
			from:    []string{"<a@example.com>"},
			text:    "Grüße aus München, this line is long enough that it has to be wrapped by the encoder; a=b.\n",
		},
	},
	{
		name: "ISO-8859-1 subject and base64 body",
		raw: crlf(`From: =?ISO-8859-1?Q?Ren=E9_Dupont?= <rene@example.fr>
Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?=
MIME-Version: 1.0
Content-Type: text/plain; charset="ISO-8859-1"
Content-Transfer-Encoding: base64

Q2Fm6SBjcuhtZSBicvts6WUNCsAgYmllbnT0dC4NCg==
`),
		want: want{
			subject: "Café crème",
			from:    []string{`René Dupont <rene@example.fr>`},
			text:    "Café crème brûlée\nÀ bientôt.\n",
		},
	},
	{
		name: "Windows-1252 quoted-printable",
		raw: crlf(`From: a@example.com
Subject: =?windows-1252?Q?=93quoted=94_=80?=
Content-Type: text/plain; charset=windows-1252
Content-Transfer-Encoding: quoted-printable

=93Smart quotes=94 cost =8010.
`),
		want: want{
			subject: "“quoted” €",
			from:    []string{"<a@example.com>"},
			text:    "“Smart quotes” cost €10.\n",
		},
	},
	{
		name: "multipart/alternative",
		raw: crlf(`From: a@example.com
To: b@example.com
Subject: Alt
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="ALT"

This is a preamble that clients ignore.
--ALT
Content-Type: text/plain; charset=utf-8

Plain version https://example.com/plain
--ALT
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p>HTML <a href=3D"https://example.com/html">version</a></p>
--ALT--
epilogue
`),
		want: want{
			subject: "Alt",
			from:    []string{"<a@example.com>"},
			to:      []string{"<b@example.com>"},
			text:    "Plain version https://example.com/plain",
			html:    `<p>HTML <a href="https://example.com/html">version</a></p>`,
			links:   []string{"https://example.com/html"},
		},
	},
	{
		name: "multipart/mixed with alternative and PDF",
		raw: crlf(`From: a@example.com
Subject: Invoice
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=MIX

--MIX
Content-Type: multipart/alternative; boundary=ALT

--ALT
Content-Type: text/plain

See attached.
--ALT
Content-Type: text/html

<b>See attached.</b>
--ALT--

--MIX
Content-Type: application/pdf; name="ignored.pdf"
Content-Disposition: attachment; filename="invoice 2024.pdf"
Content-Transfer-Encoding: base64

` + b64(pdfBytes) + `--MIX--
`),
		want: want{
			subject: "Invoice",
			from:    []string{"<a@example.com>"},
			text:    "See attached.",
			html:    "<b>See attached.</b>",
			atts: []Attachment{{
				Filename: "invoice 2024.pdf", ContentType: "application/pdf", Data: pdfBytes,
			}},
		},
	},
	{
		name: "inline image in multipart/related",
		raw: crlf(`From: a@example.com
Subject: Logo
Content-Type: multipart/related; boundary="REL"; type="text/html"

--REL
Content-Type: text/html; charset=us-ascii

<img src="cid:logo@example.com"><a href="https://example.com/">home</a>
--REL
Content-Type: image/png
Content-ID: <logo@example.com>
Content-Transfer-Encoding: base64

` + b64(pngBytes) + `--REL--
`),
		want: want{
			subject: "Logo",
			from:    []string{"<a@example.com>"},
			html:    `<img src="cid:logo@example.com"><a href="https://example.com/">home</a>`,
			atts: []Attachment{{
				ContentType: "image/png", ContentID: "logo@example.com", Inline: true, Data: pngBytes,
			}},
			links: []string{"https://example.com/"},
		},
	},
	{
		name: "deep nesting and attached message",
		raw: crlf(`From: a@example.com
Subject: Fwd: nested
Content-Type: multipart/mixed; boundary=L1

--L1
Content-Type: multipart/related; boundary=L2

--L2
Content-Type: multipart/alternative; boundary=L3

--L3
Content-Type: text/plain

outer text
--L3
Content-Type: text/html

<p>outer html</p>
--L3--
--L2
Content-Type: image/gif
Content-Disposition: inline; filename=dot.gif
Content-ID: <dot>
Content-Transfer-Encoding: base64

R0lGODlhAQABAAAAACw=
--L2--
--L1
Content-Type: message/rfc822
Content-Disposition: attachment; filename=original.eml

From: inner@example.com
Subject: inner

inner text
--L1--
`),
		want: want{
			subject: "Fwd: nested",
			from:    []string{"<a@example.com>"},
			text:    "outer text",
			html:    "<p>outer html</p>",
			atts: []Attachment{
				{Filename: "dot.gif", ContentType: "image/gif", ContentID: "dot", Inline: true,
					Data: []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00,")},
				{Filename: "original.eml", ContentType: "message/rfc822",
					Data: []byte(crlf("From: inner@example.com\nSubject: inner\n\ninner text"))},
			},
		},
	},
	{
		name: "HTML links edge cases",
		raw: crlf(`From: a@example.com
Subject: Links
Content-Type: text/html

<a href="https://example.com/?a=1&amp;b=2">one</a>
<a href="  /relative/path  ">rel</a>
<A HREF='mailto:someone@example.com'>mail</A>
<a href="https://example.com/?a=1&b=2">dup</a>
<a href="#top">frag</a><a href="">empty</a><a name="x">no href</a>
<map><area shape="rect" href="https://example.com/area"></map>
<a href="https://example.com/long
path">wrapped</a>
<a href=https://example.com/unquoted&#x3F;q=%20>unquoted</a>
<link href="https://example.com/style.css">
`),
		want: want{
			subject: "Links",
			from:    []string{"<a@example.com>"},
			html: `<a href="https://example.com/?a=1&amp;b=2">one</a>
<a href="  /relative/path  ">rel</a>
<A HREF='mailto:someone@example.com'>mail</A>
<a href="https://example.com/?a=1&b=2">dup</a>
<a href="#top">frag</a><a href="">empty</a><a name="x">no href</a>
<map><area shape="rect" href="https://example.com/area"></map>
<a href="https://example.com/long
path">wrapped</a>
<a href=https://example.com/unquoted&#x3F;q=%20>unquoted</a>
<link href="https://example.com/style.css">
`,
			links: []string{
				"https://example.com/?a=1&b=2",
				"/relative/path",
				"mailto:someone@example.com",
				"https://example.com/area",
				"https://example.com/longpath",
				"https://example.com/unquoted?q=%20",
			},
		},
	},
	{
		name: "wrong declared boundary",
		raw: crlf(`From: a@example.com
Subject: Broken boundary
Content-Type: multipart/alternative; boundary="declared"

--actual
Content-Type: text/plain

recovered text
--actual
Content-Type: text/html

<p>recovered html</p>
--actual--
`),
		want: want{
			subject: "Broken boundary",
			from:    []string{"<a@example.com>"},
			text:    "recovered text",
			html:    "<p>recovered html</p>",
		},
	},
	{
		name: "multipart without any boundary lines",
		raw: crlf(`From: a@example.com
Subject: No parts
Content-Type: multipart/mixed

just some text
`),
		want: want{
			subject: "No parts",
			from:    []string{"<a@example.com>"},
			text:    "just some text\n",
		},
	},
	{
		name: "truncated multipart",
		raw: crlf(`From: a@example.com
Subject: Cut
Content-Type: multipart/mixed; boundary=B

--B
Content-Type: text/plain

complete part
--B
Content-Type: application/octet-stream
Content-Disposition: attachment; filename=data.bin

partial`),
		want: want{
			subject: "Cut",
			from:    []string{"<a@example.com>"},
			text:    "complete part",
			atts: []Attachment{{
				Filename: "data.bin", ContentType: "application/octet-stream", Data: []byte("partial"),
			}},
		},
	},
	{
		name: "header only",
		raw:  "From: a@example.com\r\nSubject: nothing else",
		want: want{subject: "nothing else", from: []string{"<a@example.com>"}},
	},
	{
		name: "unknown charset and transfer encoding",
		raw: crlf(`From: a@example.com
Subject: =?x-klingon?Q?qapla=27?=
Content-Type: text/plain; charset=x-klingon
Content-Transfer-Encoding: x-uuencode

caf` + "\xe9" + `
`),
		want: want{
			subject: "=?x-klingon?Q?qapla=27?=",
			from:    []string{"<a@example.com>"},
			text:    "café\n",
		},
	},
	{
		name: "broken base64 and quoted-printable",
		raw: crlf(`From: a@example.com
Subject: Broken encodings
Content-Type: multipart/mixed; boundary=B

--B
Content-Type: text/plain
Content-Transfer-Encoding: quoted-printable

50=25 off =ZZ sale=
 today
--B
Content-Type: application/octet-stream
Content-Disposition: attachment; filename=x.bin
Content-Transfer-Encoding: base64

aGVs!bG8g
d29y*bGQ
--B--
`),
		want: want{
			subject: "Broken encodings",
			from:    []string{"<a@example.com>"},
			text:    "50% off =ZZ sale today",
			atts: []Attachment{{
				Filename: "x.bin", ContentType: "application/octet-stream", Data: []byte("hello world"),
			}},
		},
	},
	{
		name: "LF line endings, mbox From line, bad header line",
		raw: `From sender@example.com Mon Jan  2 15:04:05 2006
From: a@example.com
Subject: LF only
this line is not a header
and this is body text
`,
		want: want{
			subject: "LF only",
			from:    []string{"<a@example.com>"},
			text:    "this line is not a header\nand this is body text\n",
		},
	},
	{
		name: "partly unparseable address list, bad date, odd message-id",
		raw: crlf(`From: Bob Smith <bob@example.com>
To: good@example.com, Broken Name; <broken@example.com>, <not an address>, =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>
Date: yesterday at noon
Message-ID: not really <an id>
Subject: Addresses

body
`),
		want: want{
			subject:   "Addresses",
			from:      []string{`Bob Smith <bob@example.com>`},
			to:        []string{"<good@example.com>", `Broken Name; <broken@example.com>`, `Jürgen <j@example.de>`},
			messageID: "not really <an id",
			text:      "body\n",
		},
	},
	{
		name: "text attachments keep their bytes, extra text parts",
		raw: crlf(`From: a@example.com
Subject: Files
Content-Type: multipart/mixed; boundary=B

--B
Content-Type: text/plain

first body
--B
Content-Type: text/csv; charset=iso-8859-1
Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.csv

na` + "\xef" + `ve
--B
Content-Type: text/plain; name="=?UTF-8?B?bm90ZXMudHh0?="
Content-Disposition: inline

inline named text
--B
Content-Type: text/plain

footer is dropped
--B--
`),
		want: want{
			subject: "Files",
			from:    []string{"<a@example.com>"},
			text:    "first body",
			atts: []Attachment{
				{Filename: "résumé.csv", ContentType: "text/csv", Data: []byte("na\xefve")},
				{Filename: "notes.txt", ContentType: "text/plain", Inline: true, Data: []byte("inline named text")},
			},
			links: nil,
		},
	},
}

func addrStrings(as []*mail.Address) []string {
	var out []string
	for _, a := range as {
		if a.Name == "" {
			out = append(out, "<"+a.Address+">")
		} else {
			out = append(out, a.Name+" <"+a.Address+">")
		}
	}
	return out
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.raw))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			w := tc.want
			check := func(field string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s:\n got %#v\nwant %#v", field, got, want)
				}
			}
			check("Subject", p.Subject, w.subject)
			check("From", addrStrings(p.From), w.from)
			check("To", addrStrings(p.To), w.to)
			check("Cc", addrStrings(p.Cc), w.cc)
			check("ReplyTo", addrStrings(p.ReplyTo), w.replyTo)
			if !p.Date.Equal(w.date) {
				t.Errorf("Date = %v, want %v", p.Date, w.date)
			}
			check("MessageID", p.MessageID, w.messageID)
			check("Text", p.Text, w.text)
			check("HTML", p.HTML, w.html)
			check("Attachments", p.Attachments, w.atts)
			check("Links", p.Links, w.links)
		})
	}
}

func TestParseNotAMessage(t *testing.T) {
	for _, raw := range []string{"", "\r\n", " leading space\r\n\r\nbody https://example.com/x\r\n", "no colon here\nhttps://example.com/y\n"} {
		p, err := Parse([]byte(raw))
		if err == nil {
			t.Errorf("Parse(%q): want error", raw)
		}
		if p == nil {
			t.Fatalf("Parse(%q) returned nil *Parsed", raw)
		}
		if strings.Contains(raw, "https") && len(p.Links) != 1 {
			t.Errorf("Parse(%q): salvaged links = %q", raw, p.Links)
		}
	}
}

func TestParseHeaderAccess(t *testing.T) {
	p, err := Parse([]byte(crlf("From: a@example.com\nX-Campaign: spring\nSubject: s\n\nbody")))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Header.Get("X-Campaign"); got != "spring" {
		t.Errorf("Header X-Campaign = %q", got)
	}
}

// TestParseLFEqualsCRLF checks that LF-only input (as from Go literals or
// files) parses the same as wire-format CRLF input.
func TestParseLFEqualsCRLF(t *testing.T) {
	for _, tc := range parseCases {
		if !strings.Contains(tc.raw, "\r\n") || bytes.ContainsAny([]byte(tc.raw), "\x00") {
			continue
		}
		lf := strings.ReplaceAll(tc.raw, "\r\n", "\n")
		a, _ := Parse([]byte(tc.raw))
		b, _ := Parse([]byte(lf))
		if a.Text != b.Text || a.HTML != b.HTML || a.Subject != b.Subject || len(a.Attachments) != len(b.Attachments) {
			t.Errorf("%s: LF and CRLF parse differently:\nCRLF text %q html %q\n  LF text %q html %q",
				tc.name, a.Text, a.HTML, b.Text, b.HTML)
		}
	}
}

func TestTextLinks(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"no links here", nil},
		{"see https://example.com.", []string{"https://example.com"}},
		{"a http://a.test/x, b HTTPS://B.test/y; c", []string{"http://a.test/x", "HTTPS://B.test/y"}},
		{"(see https://example.com/wiki/Foo_(bar))", []string{"https://example.com/wiki/Foo_(bar)"}},
		{"(https://example.com/a)", []string{"https://example.com/a"}},
		{"<https://example.com/angle>", []string{"https://example.com/angle"}},
		{`href="https://example.com/q?a=1&b=2"`, []string{"https://example.com/q?a=1&b=2"}},
		{"dup https://x.test/ and https://x.test/ again", []string{"https://x.test/"}},
		{"glued xhttps://x.test/ and bare https:// and https:///path", nil},
		{"multi\nline https://x.test/a\thttps://x.test/b\r\n", []string{"https://x.test/a", "https://x.test/b"}},
		{"unicode https://例え.テスト/パス!", []string{"https://例え.テスト/パス"}},
		{"token https://x.test/reset?t=abc123&u=9'", []string{"https://x.test/reset?t=abc123&u=9"}},
		{"[link](https://x.test/md) and [https://x.test/br]", []string{"https://x.test/md", "https://x.test/br"}},
	}
	for _, tc := range tests {
		if got := textLinks(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("textLinks(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHTMLLinks(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"<p>no anchors https://example.com</p>", nil},
		{`<a href="x">1</a><a href="y" href="z">2</a><a href="x">3</a>`, []string{"x", "y"}},
		{`<a href="&#104;ttps://e.test/&quot;q&quot;">e</a>`, []string{`https://e.test/"q"`}},
		{`<a/href="/self-closing"/>`, []string{"/self-closing"}}, // "/" separates attributes, as in browsers
		{`<a href="/sc"/>`, []string{"/sc"}},
		{`<script>var s = '<a href="/in-script">';</script><a href="/after">`, []string{"/after"}},
		{`<!-- <a href="/commented"> --><a href="#">top</a><a href=" # ">sp</a>`, nil},
		{`<a href="tel:+15551234">call</a><a href="unterminated`, []string{"tel:+15551234"}},
	}
	for _, tc := range tests {
		if got := htmlLinks(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("htmlLinks(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLenientDecoders(t *testing.T) {
	qp := []struct{ in, want string }{
		{"a=3Db", "a=b"},
		{"soft=\r\nbreak", "softbreak"},
		{"soft= \t\nbreak", "softbreak"},
		{"bad=ZZ=4", "bad=ZZ=4"},
		{"end=", "end"},
		{"lower=c3=a9", "lower\xc3\xa9"},
	}
	for _, tc := range qp {
		if got := string(lenientQP([]byte(tc.in))); got != tc.want {
			t.Errorf("lenientQP(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	b := []struct{ in, want string }{
		{"aGVsbG8=", "hello"},
		{"aGVs\r\n bG8", "hello"},
		{"aGVsbG8gd29ybGQ", "hello world"},
		{"aGVsbG8=trailing", "hello"},
		{"a", ""},
	}
	for _, tc := range b {
		if got := string(lenientBase64([]byte(tc.in))); got != tc.want {
			t.Errorf("lenientBase64(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDeepNestingIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
	const depth = 200
	for i := 1; i <= depth; i++ {
		b.WriteString("--b" + itoa(i-1) + "\r\nContent-Type: multipart/mixed; boundary=b" + itoa(i) + "\r\n\r\n")
	}
	b.WriteString("--b" + itoa(depth) + "\r\nContent-Type: text/plain\r\n\r\ndeep\r\n")
	if _, err := Parse([]byte(b.String())); err != nil {
		t.Fatalf("Parse: %v", err)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
