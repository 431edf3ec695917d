package imapfront

import (
	"strings"
	"testing"
	"time"
)

func TestTranscriptCapabilityAndLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{AppendLimit: 1000})
	rc := e.raw(t)
	untagged := rc.ok("a1", "CAPABILITY")
	expectLines(t, untagged, "* CAPABILITY IMAP4rev2 IMAP4rev1 SASL-IR LITERAL- AUTH=PLAIN UNSELECT ENABLE IDLE UTF8=ACCEPT NAMESPACE UIDPLUS ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS MOVE STATUS=SIZE BINARY CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LITERAL+ APPENDLIMIT=1000 ID QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES")
	_, tagged := rc.cmd("a2", "LOGIN alice@example.com wrong")
	if tagged != "a2 NO [AUTHENTICATIONFAILED] Authentication failed" {
		t.Fatalf("bad password: %q", tagged)
	}
	_, tagged = rc.cmd("a3", "LOGIN alice@example.com secret")
	want := "a3 OK [CAPABILITY IMAP4rev2 IMAP4rev1 SASL-IR LITERAL- UNSELECT ENABLE IDLE UTF8=ACCEPT NAMESPACE UIDPLUS ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS MOVE STATUS=SIZE BINARY CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LITERAL+ APPENDLIMIT=1000 ID QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES] Logged in"
	if tagged != want {
		t.Fatalf("login:\n got %q\nwant %q", tagged, want)
	}
}

func TestTranscriptAuthenticatePlain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	rc := e.raw(t)
	// "\x00alice@example.com\x00secret" in base64, as a SASL-IR initial response.
	_, tagged := rc.cmd("a1", "AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==")
	if !strings.HasPrefix(tagged, "a1 OK [CAPABILITY ") {
		t.Fatalf("authenticate: %q", tagged)
	}
	rc2 := e.raw(t)
	// Wrong password: "\x00alice@example.com\x00nope".
	_, tagged = rc2.cmd("a1", "AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUuY29tAG5vcGU=")
	if tagged != "a1 NO [AUTHENTICATIONFAILED] Authentication failed" {
		t.Fatalf("wrong password: %q", tagged)
	}
}

func TestTranscriptFlagCasingAndOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.appendMsg(t, alice, "INBOX", simpleMsg("one", "body"), time.Time{})
	rc := e.rawLogin(t, alice)
	rc.ok("a1", "SELECT INBOX")
	untagged := rc.ok("a2", `STORE 1 +FLAGS (\seen $label \FLAGGED)`)
	// The new keyword is announced with an updated FLAGS response.
	expectLines(t, untagged,
		`* 1 FETCH (FLAGS (\Seen \Flagged $label \Recent))`,
		`* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $label)`)
	untagged = rc.ok("a3", `UID STORE 1 -FLAGS.SILENT (\SEEN)`)
	expectLines(t, untagged)
	untagged = rc.ok("a4", `FETCH 1 (FLAGS)`)
	expectLines(t, untagged, `* 1 FETCH (FLAGS (\Flagged $label \Recent))`)
	untagged = rc.ok("a5", `STORE 1 FLAGS (\answered aa $label)`)
	expectLines(t, untagged, `* 1 FETCH (FLAGS (\Answered $label aa \Recent))`, `* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $label aa)`)
}

func TestTranscriptPartialAndLiteral(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	rc := e.rawLogin(t, alice)
	msg := "Subject: hi\r\n\r\nHello world\r\n"
	rc.send("a1 APPEND INBOX (\\Seen) {" + itoa(len(msg)) + "}")
	if cont := rc.readResp(); !strings.HasPrefix(cont, "+ ") {
		t.Fatalf("continuation: %q", cont)
	}
	rc.send(msg)
	if tagged := rc.readResp(); !strings.HasPrefix(tagged, "a1 OK [APPENDUID ") || !strings.HasSuffix(tagged, " 1] APPEND completed") {
		t.Fatalf("append: %q", tagged)
	}
	// LITERAL+: no continuation.
	rc.send("a2 APPEND INBOX {" + itoa(len(msg)) + "+}")
	rc.send(msg)
	if tagged := rc.readResp(); !strings.HasPrefix(tagged, "a2 OK [APPENDUID ") {
		t.Fatalf("append literal+: %q", tagged)
	}
	rc.ok("a3", "SELECT INBOX")
	untagged := rc.ok("a4", "FETCH 1 (BODY.PEEK[]<0.10>)")
	expectLines(t, untagged, "* 1 FETCH (BODY[]<0> {10}\r\nSubject: h)")
	untagged = rc.ok("a5", "FETCH 2 (BODY[]<13.100>)")
	expectLines(t, untagged, "* 2 FETCH (FLAGS (\\Seen \\Recent) BODY[]<13> {15}\r\n\r\nHello world\r\n)")
	untagged = rc.ok("a6", "UID FETCH 1:* (RFC822.SIZE BODY.PEEK[TEXT] BODY.PEEK[HEADER.FIELDS (subject)])")
	expectLines(t, untagged,
		"* 1 FETCH (UID 1 RFC822.SIZE 28 BODY[TEXT] {13}\r\nHello world\r\n BODY[HEADER.FIELDS (\"subject\")] {15}\r\nSubject: hi\r\n\r\n)",
		"* 2 FETCH (UID 2 RFC822.SIZE 28 BODY[TEXT] {13}\r\nHello world\r\n BODY[HEADER.FIELDS (\"subject\")] {15}\r\nSubject: hi\r\n\r\n)")
	untagged = rc.ok("a7", "FETCH 1 (RFC822.HEADER RFC822.TEXT)")
	expectLines(t, untagged, "* 1 FETCH (FLAGS (\\Seen \\Recent) RFC822.HEADER {15}\r\nSubject: hi\r\n\r\n RFC822.TEXT {13}\r\nHello world\r\n)")
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + formatInt(n)) }

func formatInt(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestTranscriptMoveExpungeNumbering(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for i := 0; i < 2; i++ {
		e.appendMsg(t, alice, "INBOX", simpleMsg("m", "b"), time.Time{})
	}
	rc := e.rawLogin(t, alice)
	rc.ok("a1", "SELECT INBOX")
	untagged, tagged := rc.cmd("a2", "MOVE 1 Archive")
	archive := e.mailbox(t, alice, "Archive")
	expectLines(t, untagged, "* OK [COPYUID "+itoa(int(archive.UIDValidity()))+" 1 1] COPY completed", "* 1 EXPUNGE")
	if tagged != "a2 OK MOVE completed" {
		t.Fatalf("move: %q", tagged)
	}
	untagged = rc.ok("a3", "NOOP")
	expectLines(t, untagged)
	untagged = rc.ok("a4", "FETCH * (UID)")
	expectLines(t, untagged, "* 1 FETCH (UID 2)")
	// Several at once: numbers shift as each EXPUNGE is sent.
	for i := 0; i < 4; i++ {
		e.appendMsg(t, alice, "INBOX", simpleMsg("m", "b"), time.Time{})
	}
	untagged = rc.ok("a5", "NOOP")
	expectLines(t, untagged, "* 5 EXISTS", "* 5 RECENT") // UID 2 is still recent for this session
	untagged = rc.ok("a6", "UID MOVE 2,4,6 Archive")
	expectLines(t, untagged, "* OK [COPYUID "+itoa(int(archive.UIDValidity()))+" 2,4,6 2:4] COPY completed", "* 1 EXPUNGE", "* 2 EXPUNGE", "* 3 EXPUNGE")
	rc.ok("a7", `STORE 1:* +FLAGS.SILENT (\Deleted)`)
	untagged = rc.ok("a8", "EXPUNGE")
	expectLines(t, untagged, "* 1 EXPUNGE", "* 1 EXPUNGE")
}

func TestTranscriptBodyStructureMultipart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	raw := "From: a@example.org\r\nSubject: mp\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n" +
		"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\nthere\r\n" +
		"--inner\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>Hello</p>\r\n" +
		"--inner--\r\n" +
		"--outer\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n" +
		"--outer--\r\n"
	e.appendMsg(t, alice, "INBOX", raw, time.Time{})
	rc := e.rawLogin(t, alice)
	rc.ok("a1", "EXAMINE INBOX")
	untagged := rc.ok("a2", "FETCH 1 (BODYSTRUCTURE)")
	// Part sizes exclude the CRLF before each boundary, which belongs to
	// the boundary (RFC 2046 §5.1.1).
	expectLines(t, untagged, `* 1 FETCH (BODYSTRUCTURE ((("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 12 1 NIL NIL NIL NIL)("text" "html" ("charset" "utf-8") NIL NIL "quoted-printable" 12 0 NIL NIL NIL NIL) "alternative" ("boundary" "inner") NIL NIL NIL)("application" "pdf" ("name" "r.pdf") NIL NIL "base64" 12 NIL ("attachment" ("filename" "r.pdf")) NIL NIL) "mixed" ("boundary" "outer") NIL NIL NIL))`)
	untagged = rc.ok("a3", "FETCH 1 (BODY)")
	expectLines(t, untagged, `* 1 FETCH (BODY ((("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 12 1)("text" "html" ("charset" "utf-8") NIL NIL "quoted-printable" 12 0) "alternative")("application" "pdf" ("name" "r.pdf") NIL NIL "base64" 12) "mixed"))`)
	untagged = rc.ok("a4", "FETCH 1 (BODY.PEEK[1.2] BODY.PEEK[2.MIME] BINARY.PEEK[2] BINARY.SIZE[2])")
	expectLines(t, untagged, "* 1 FETCH (BODY[1.2] {12}\r\n<p>Hello</p> BODY[2.MIME] {133}\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n BINARY[2] ~{9}\r\n%PDF-1.4\n BINARY.SIZE[2] 9)")
}

func TestTranscriptEnvelopeEncodedWordsAndGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	raw := "Date: Tue, 03 Feb 2026 10:00:00 +0100\r\n" +
		"Subject: =?ISO-8859-1?Q?Caf=E9?= and =?UTF-8?B?8J+NlQ==?=\r\n" +
		"From: =?UTF-8?Q?Andr=C3=A9?= <andre@example.org>\r\n" +
		"To: Team: \"Doe, John\" <john@example.org>, jane@example.org (Jane);, bob@example.com\r\n" +
		"Cc: undisclosed-recipients:;\r\n" +
		"In-Reply-To: <parent@example.org>\r\n" +
		"Message-ID: <child@example.org>\r\n\r\nbody\r\n"
	e.appendMsg(t, alice, "INBOX", raw, time.Time{})
	rc := e.rawLogin(t, alice)
	rc.ok("a1", "EXAMINE INBOX")
	untagged := rc.ok("a2", "FETCH 1 (ENVELOPE)")
	// go-imap's encoder puts a space between the addresses of a list,
	// which RFC 3501's grammar does not; clients accept it.
	expectLines(t, untagged, `* 1 FETCH (ENVELOPE ("Tue, 03 Feb 2026 10:00:00 +0100" "=?ISO-8859-1?Q?Caf=E9?= and =?UTF-8?B?8J+NlQ==?=" (("=?UTF-8?Q?Andr=C3=A9?=" NIL "andre" "example.org")) (("=?UTF-8?Q?Andr=C3=A9?=" NIL "andre" "example.org")) (("=?UTF-8?Q?Andr=C3=A9?=" NIL "andre" "example.org")) ((NIL NIL "Team" NIL) ("Doe, John" NIL "john" "example.org") (NIL NIL "jane" "example.org") (NIL NIL NIL NIL) (NIL NIL "bob" "example.com")) ((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL)) NIL "<parent@example.org>" "<child@example.org>"))`)
}

func TestTranscriptExamineIsReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.appendMsg(t, alice, "INBOX", simpleMsg("one", "body"), time.Time{}, `\Deleted`)
	rc := e.rawLogin(t, alice)
	untagged, tagged := rc.cmd("a1", "EXAMINE INBOX")
	if tagged != "a1 OK [READ-ONLY] EXAMINE completed" {
		t.Fatalf("examine: %q", tagged)
	}
	if !contains(untagged, "* OK [PERMANENTFLAGS ()] Permanent flags") {
		t.Errorf("permanent flags: %q", untagged)
	}
	for _, c := range []string{`STORE 1 +FLAGS (\Seen)`, "EXPUNGE", "MOVE 1 Trash"} {
		if _, tagged := rc.cmd("a2", c); !strings.HasPrefix(tagged, "a2 NO ") {
			t.Errorf("%s: %q", c, tagged)
		}
	}
	untagged = rc.ok("a3", "FETCH 1 (BODY[TEXT])")
	expectLines(t, untagged, "* 1 FETCH (BODY[TEXT] {6}\r\nbody\r\n)")
	rc.ok("a4", "CLOSE") // silent, and expunges nothing
	if n := len(e.mailbox(t, alice, "INBOX").Snapshot().Entries); n != 1 {
		t.Fatalf("CLOSE after EXAMINE expunged: %d left", n)
	}
	untagged, tagged = rc.cmd("a5", "SELECT INBOX")
	if tagged != "a5 OK [READ-WRITE] SELECT completed" || !contains(untagged, `* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft \*)] Permanent flags`) {
		t.Fatalf("select: %q %q", untagged, tagged)
	}
	untagged = rc.ok("a6", "CLOSE")
	expectLines(t, untagged)
	if n := len(e.mailbox(t, alice, "INBOX").Snapshot().Entries); n != 0 {
		t.Fatalf("CLOSE left %d messages", n)
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}
