package imapfront

import (
	"strings"
	"testing"
	"time"
)

// searchEnv fills alice's INBOX with messages that tell search keys apart.
func searchEnv(t *testing.T) (*env, *rawConn) {
	e := newEnv(t, Options{})
	day := func(d int) time.Time { return time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC) }
	msgs := []struct {
		raw   string
		date  time.Time
		flags []string
	}{
		{"From: Ann <ann@example.org>\r\nTo: alice@example.com\r\nCc: carl@example.org\r\nSubject: Quarterly report\r\nDate: Sun, 01 Mar 2026 09:00:00 +0000\r\n\r\nNumbers inside.\r\n", day(1), []string{`\Seen`, `\Answered`}},
		{"From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nBcc: hidden@example.org\r\nSubject: =?UTF-8?Q?Caf=C3=A9_meeting?=\r\nDate: Tue, 03 Mar 2026 09:00:00 +0000\r\nX-Priority: 1\r\n\r\nSee you at the cafe.\r\n", day(3), []string{`\Flagged`, "$Work"}},
		{"From: ann@example.org\r\nTo: team@example.org\r\nSubject: Draft plan\r\nDate: Thu, 05 Mar 2026 09:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nU2VjcmV0IHBsYW4gZm9yIFExCg==\r\n", day(5), []string{`\Draft`, `\Deleted`}},
		{"From: zed@example.net\r\nSubject: big\r\nDate: Sat, 07 Mar 2026 09:00:00 +0000\r\n\r\n" + strings.Repeat("z", 2000) + "\r\n", day(7), nil},
	}
	for _, m := range msgs {
		e.appendMsg(t, alice, "INBOX", m.raw, m.date, m.flags...)
	}
	rc := e.rawLogin(t, alice)
	rc.ok("s", "SELECT INBOX")
	return e, rc
}

func TestSearchKeys(t *testing.T) {
	t.Parallel()
	_, rc := searchEnv(t)
	rc.ok("r", `STORE 4 -FLAGS.SILENT (\Recent)`) // no-op: \Recent cannot be stored
	cases := map[string]string{
		"ALL":                              "1 2 3 4",
		"1:2":                              "1 2",
		"2:*":                              "2 3 4",
		"*":                                "4",
		"UID 3:*":                          "3 4",
		"ANSWERED":                         "1",
		"UNANSWERED":                       "2 3 4",
		"DELETED":                          "3",
		"UNDELETED":                        "1 2 4",
		"DRAFT":                            "3",
		"UNDRAFT":                          "1 2 4",
		"FLAGGED":                          "2",
		"UNFLAGGED":                        "1 3 4",
		"SEEN":                             "1",
		"UNSEEN":                           "2 3 4",
		"KEYWORD $work":                    "2",
		"UNKEYWORD $Work":                  "1 3 4",
		"RECENT":                           "1 2 3 4",
		"NEW":                              "2 3 4",
		"OLD":                              "",
		"BEFORE 3-Mar-2026":                "1",
		"ON 3-Mar-2026":                    "2",
		"SINCE 5-Mar-2026":                 "3 4",
		"SENTBEFORE 3-Mar-2026":            "1",
		"SENTON 5-Mar-2026":                "3",
		"SENTSINCE 4-Mar-2026":             "3 4",
		"FROM ANN":                         "1 3",
		"FROM bob@example.com":             "2",
		"TO team":                          "3",
		"CC carl":                          "1",
		"BCC hidden":                       "2",
		`SUBJECT "café"`:                   "2",
		"SUBJECT report":                   "1",
		"HEADER X-Priority 1":              "2",
		`HEADER X-Priority ""`:             "2",
		"BODY cafe":                        "2",
		"BODY secret":                      "3", // only in the base64-decoded text
		"TEXT quarterly":                   "1",
		"TEXT numbers":                     "1",
		"LARGER 1000":                      "4",
		"SMALLER 1000":                     "1 2 3",
		"NOT SEEN":                         "2 3 4",
		"OR FLAGGED DRAFT":                 "2 3",
		"(FROM ann SUBJECT draft)":         "3",
		"FROM ann NOT DELETED":             "1",
		"OR (SEEN) (OR DRAFT LARGER 1500)": "1 3 4",
		"NOT OR SEEN FLAGGED":              "3 4",
	}
	for key, want := range cases {
		untagged := rc.ok("q", "SEARCH "+key)
		got := strings.TrimSpace(strings.TrimPrefix(strings.Join(untagged, ""), "* SEARCH"))
		if got != want {
			t.Errorf("SEARCH %s = %q, want %q", key, got, want)
		}
	}
	expectLines(t, rc.ok("u", "UID SEARCH FLAGGED"), "* SEARCH 2")
	expectLines(t, rc.ok("c", `SEARCH CHARSET UTF-8 SUBJECT "CAFÉ"`), "* SEARCH 2")
}

func TestESearchAndSearchRes(t *testing.T) {
	t.Parallel()
	_, rc := searchEnv(t)
	expectLines(t, rc.ok("a", "SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN"), `* ESEARCH (TAG "a") ALL 2:4 MIN 2 MAX 4 COUNT 3`)
	expectLines(t, rc.ok("b", "UID SEARCH RETURN (COUNT) ALL"), `* ESEARCH (TAG "b") UID COUNT 4`)
	expectLines(t, rc.ok("c", "SEARCH RETURN (MIN) SEEN NOT SEEN"), `* ESEARCH (TAG "c")`)
	expectLines(t, rc.ok("d", "SEARCH RETURN (SAVE) OR FLAGGED DRAFT"), `* ESEARCH (TAG "d") ALL 2:3`)
	expectLines(t, rc.ok("e", "FETCH $ (UID)"), "* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)")
	expectLines(t, rc.ok("f", "SEARCH $ DRAFT"), "* SEARCH 3")
	expectLines(t, rc.ok("g", "SEARCH RETURN (SAVE MAX) ALL"), `* ESEARCH (TAG "g") MAX 4`)
	expectLines(t, rc.ok("h", "UID FETCH $ (FLAGS)"), `* 4 FETCH (UID 4 FLAGS (\Recent))`)
}

func TestSearchAfterEnableIMAP4rev2(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.appendMsg(t, alice, "INBOX", simpleMsg("x", "y"), time.Time{})
	rc := e.rawLogin(t, alice)
	expectLines(t, rc.ok("a", "ENABLE IMAP4rev2"), "* ENABLED IMAP4rev2")
	untagged := rc.ok("b", "SELECT INBOX")
	if !contains(untagged, `* LIST () "/" INBOX`) {
		t.Errorf("SELECT under IMAP4rev2 lacks LIST: %q", untagged)
	}
	for _, l := range untagged {
		if strings.Contains(l, "RECENT") {
			t.Errorf("RECENT under IMAP4rev2: %q", l)
		}
	}
	expectLines(t, rc.ok("c", "SEARCH ALL"), `* ESEARCH (TAG "c") ALL 1`)
	expectLines(t, rc.ok("d", "FETCH 1 (FLAGS)"), `* 1 FETCH (FLAGS ())`)
}
