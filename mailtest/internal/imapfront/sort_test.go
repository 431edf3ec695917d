package imapfront

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func TestBaseSubject(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, base string
		reply    bool
	}{
		{"hello", "hello", false},
		{"  hello \t  world  ", "hello world", false},
		{"Re: hello", "hello", true},
		{"RE:hello", "hello", true},
		{"Re: Re: re:hello", "hello", true},
		{"Fw: hello", "hello", true},
		{"FWD : hello", "hello", true},
		{"Re [list]: hello", "hello", true},
		{"[list] Re: hello", "hello", true},
		{"RE: [list] Re: hello (fwd)", "hello", true},
		{"hello (fwd) (FWD)  ", "hello", true},
		{"[fwd: Re: hello]", "hello", true},
		{"Re: [fwd: hello]", "hello", true},
		{"[fwd: [fwd: hello]]", "hello", true},
		{"Fwd: [PATCH 1/2] fix it", "fix it", true},
		{"[PATCH 1/2] fix it", "fix it", false},
		{"[PATCH]", "[PATCH]", false},
		{"[a][b] c", "c", false},
		{"Rex: hello", "Rex: hello", false},
		{"Re hello", "Re hello", false},
		{"re:", "", true},
		{"", "", false},
		{"=?UTF-8?Q?Re:_caf=C3=A9?=", "café", true},
		{"\tRe:\r\n folded\r\n  subject", "folded subject", true},
		{"[unclosed Re: x", "[unclosed Re: x", false},
	} {
		base, reply := baseSubject(tc.in)
		if base != tc.base || reply != tc.reply {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tc.in, base, reply, tc.base, tc.reply)
		}
	}
}

// sortEnv holds four messages that every sort key orders differently,
// behind an expunged first message so that UIDs are not sequence numbers.
func sortEnv(t *testing.T) *env {
	e := newEnv(t, Options{})
	day := func(m, d int) time.Time { return time.Date(2024, time.Month(m), d, 12, 0, 0, 0, time.UTC) }
	gone := e.appendMsg(t, alice, "INBOX", simpleMsg("gone", "x"), day(1, 1))
	e.mailbox(t, alice, "INBOX").Expunge([]uint32{gone}, nil)
	msgs := []struct {
		hdr      string
		size     int
		internal time.Time
	}{
		{"From: Zed <a@x>\r\nTo: c@y\r\nCc: b@z\r\nSubject: Re: beta\r\nDate: Wed, 03 Jan 2024 10:00:00 +0000\r\n", 100, day(2, 1)},
		{"From: b@x\r\nTo: Bob <a@y>\r\nSubject: alpha\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n", 400, day(2, 4)},
		{"From: Amy <c@x>\r\nTo: b@y\r\nCc: zed@z\r\nSubject: Gamma\r\nDate: Tue, 02 Jan 2024 10:00:00 -0500\r\n", 200, day(2, 2)},
		{"From: =?UTF-8?Q?=C3=89mile?= <d@x>\r\nTo: alice@example.com\r\nSubject: [list] Alpha\r\n", 300, time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC)},
	}
	for _, m := range msgs {
		e.appendMsg(t, alice, "INBOX", m.hdr+"\r\n"+strings.Repeat("x", m.size), m.internal)
	}
	return e
}

func TestSortTranscript(t *testing.T) {
	t.Parallel()
	e := sortEnv(t)
	rc := e.rawLogin(t, alice)
	if _, tagged := rc.cmd("a", "SORT (DATE) UTF-8 ALL"); tagged != "a BAD [CLIENTBUG] This command is only valid in the selected state" {
		t.Errorf("SORT before SELECT: %q", tagged)
	}
	rc.ok("b", "SELECT INBOX")
	rc.ok("c", "STORE 1 +FLAGS (\\Seen)")
	for _, tc := range []struct{ cmd, want string }{
		{"SORT (DATE) UTF-8 ALL", "* SORT 4 2 3 1"},
		{"SORT (REVERSE DATE) UTF-8 ALL", "* SORT 1 3 2 4"},
		{"SORT (ARRIVAL) US-ASCII ALL", "* SORT 4 1 3 2"},
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 2 4 1 3"},
		{"SORT (SUBJECT DATE) UTF-8 ALL", "* SORT 4 2 1 3"},
		{"SORT (SUBJECT REVERSE DATE) UTF-8 ALL", "* SORT 2 4 1 3"},
		{"sort (from) utf-8 all", "* SORT 1 2 3 4"},
		{"SORT (REVERSE FROM) UTF-8 ALL", "* SORT 4 3 2 1"},
		{"SORT (TO) UTF-8 ALL", "* SORT 2 4 3 1"},
		{"SORT (CC) UTF-8 ALL", "* SORT 2 4 1 3"},
		{"SORT (SIZE) UTF-8 ALL", "* SORT 1 3 4 2"},
		{"SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 3 2 1 4"},
		{"SORT (DISPLAYTO) UTF-8 ALL", "* SORT 4 3 2 1"},
		{"UID SORT (DATE) UTF-8 ALL", "* SORT 5 3 4 2"},
		{"SORT (DATE) UTF-8 SUBJECT alpha", "* SORT 4 2"},
		{"SORT (DATE) UTF-8 SUBJECT {5}\r\nalpha", "* SORT 4 2"},
		{"SORT (DATE) UTF-8 SUBJECT {5+}\r\nalpha SMALLER 400", "* SORT 4"},
		{"SORT (SIZE) UTF-8 NOT FROM zed", "* SORT 3 4 2"},
		{"SORT (ARRIVAL) UTF-8 UNSEEN", "* SORT 4 3 2"},
		{"SORT (ARRIVAL) UTF-8 (OR 1 4) ALL", "* SORT 4 1"},
		{"SORT (ARRIVAL) UTF-8 UID 2:3", "* SORT 1 2"},
		{"SORT (ARRIVAL) UTF-8 2:*", "* SORT 4 3 2"},
		{"SORT (ARRIVAL) UTF-8 SENTBEFORE 2-Jan-2024", "* SORT 4 2"},
		{"SORT (DATE) UTF-8 SUBJECT nothing", "* SORT"},
	} {
		untagged, tagged := rc.cmd("d", tc.cmd)
		if strings.Contains(tc.cmd, "{5}") && len(untagged) > 0 && untagged[0] == "+ Ready for literal data" {
			untagged = untagged[1:] // the continuation of a synchronising literal
		}
		if len(untagged) != 1 || untagged[0] != tc.want || !strings.HasPrefix(tagged, "d OK ") {
			t.Errorf("%s:\n got %q %q\nwant %q", tc.cmd, untagged, tagged, tc.want)
		}
	}
	for _, tc := range []struct{ cmd, want string }{
		{"SORT (COLOR) UTF-8 ALL", "e BAD [CLIENTBUG] Unknown sort key COLOR"},
		{"SORT (REVERSE) UTF-8 ALL", "e BAD [CLIENTBUG] Syntax error: expected SP"},
		{"SORT () UTF-8 ALL", "e BAD [CLIENTBUG] Syntax error: expected sort key"},
		{"SORT DATE UTF-8 ALL", "e BAD [CLIENTBUG] Syntax error: expected '('"},
		{"SORT (DATE)", "e BAD [CLIENTBUG] Syntax error: expected SP"},
		{"SORT (DATE) UTF-8", "e BAD [CLIENTBUG] Syntax error: expected SP"},
		{"SORT (DATE) UTF-8 FOO", `e BAD [CLIENTBUG] Syntax error: unknown search key "FOO"`},
		{"SORT (DATE) UTF-8 SINCE yesterday", `e BAD [CLIENTBUG] Syntax error: bad date "yesterday"`},
		{"SORT (DATE) UTF-8 (ALL", "e BAD [CLIENTBUG] Syntax error: expected SP"},
		{"SORT (DATE) KOI8-R ALL", "e NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset KOI8-R"},
		{"SORT (DATE) UTF-8 $", "e OK SORT completed"},
		{"UID SORT", "e BAD [CLIENTBUG] Syntax error: expected SP"},
	} {
		if _, tagged := rc.cmd("e", tc.cmd); tagged != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, tagged, tc.want)
		}
	}
}

func TestSortWithImapclient(t *testing.T) {
	t.Parallel()
	e := sortEnv(t)
	c := e.client(t, alice, nil)
	_, err := c.Select("INBOX", nil).Wait()
	mustNoErr(t, err, "select")
	nums, err := c.Sort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyDate, Reverse: true}},
	}).Wait()
	mustNoErr(t, err, "SORT")
	if fmt.Sprint(nums) != "[2 4 1 3]" {
		t.Errorf("SORT: %v", nums)
	}
	uids, err := c.UIDSort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "alpha"}}},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeyDate}},
	}).Wait()
	mustNoErr(t, err, "UID SORT")
	if fmt.Sprint(uids) != "[5 3]" {
		t.Errorf("UID SORT: %v", uids)
	}
}

// threadEnv fills INBOX with n messages; refs maps a sequence number to
// the sequence numbers its References names, dates follow the numbers.
func threadEnv(t *testing.T, n int, subjects map[int]string, refs map[int][]int, missing map[int]string) *env {
	e := newEnv(t, Options{})
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		subj, ok := subjects[i]
		if !ok {
			subj = fmt.Sprintf("filler %d", i)
		}
		h := fmt.Sprintf("From: a@x\r\nSubject: %s\r\nMessage-ID: <m%d@x>\r\nDate: %s\r\n", subj, i, base.Add(time.Duration(i)*time.Minute).Format(time.RFC1123Z))
		var ids []string
		for _, r := range refs[i] {
			ids = append(ids, fmt.Sprintf("<m%d@x>", r))
		}
		if m, ok := missing[i]; ok {
			ids = append([]string{m}, ids...)
		}
		if len(ids) > 0 {
			h += "References: " + strings.Join(ids, " ") + "\r\nIn-Reply-To: " + ids[len(ids)-1] + "\r\n"
		}
		e.appendMsg(t, alice, "INBOX", h+"\r\nbody\r\n", time.Time{})
	}
	return e
}

// TestThreadRFCExamples checks the THREAD responses RFC 5256 §4 explains.
func TestThreadRFCExamples(t *testing.T) {
	t.Parallel()
	subjects := map[int]string{2: "other", 3: "topic", 6: "Re: topic", 4: "Re: topic", 23: "Re: topic", 44: "Re: topic", 7: "Re: topic", 96: "Re: topic"}
	refs := map[int][]int{6: {3}, 4: {3, 6}, 23: {3, 6, 4}, 44: {3, 6}, 7: {3, 6, 44}, 96: {3, 6, 44, 7}}
	e := threadEnv(t, 96, subjects, refs, nil)
	rc := e.rawLogin(t, alice)
	if _, tagged := rc.cmd("a", "THREAD REFERENCES UTF-8 ALL"); tagged != "a BAD [CLIENTBUG] This command is only valid in the selected state" {
		t.Errorf("THREAD before SELECT: %q", tagged)
	}
	rc.ok("b", "SELECT INBOX")
	// "(2)(3 6 (4 23)(44 7 96))": 2 alone; 3, its child 6, whose children
	// are 4 (with 23) and 44 (with 7, then 96).
	expectLines(t, rc.ok("c", "THREAD REFERENCES UTF-8 2,3,4,6,7,23,44,96"), "* THREAD (2)(3 6 (4 23)(44 7 96))")
	expectLines(t, rc.ok("d", "UID THREAD REFERENCES UTF-8 2,3,4,6,7,23,44,96"), "* THREAD (2)(3 6 (4 23)(44 7 96))")

	// "((3)(5))": 3 and 5 are siblings whose parent is not in the result.
	e2 := threadEnv(t, 5, map[int]string{3: "Re: lost", 5: "Re: lost"}, nil, map[int]string{3: "<missing@x>", 5: "<missing@x>"})
	rc2 := e2.rawLogin(t, alice)
	rc2.ok("a", "SELECT INBOX")
	expectLines(t, rc2.ok("b", "THREAD REFERENCES UTF-8 3,5"), "* THREAD ((3)(5))")
	expectLines(t, rc2.ok("c", "THREAD REFERENCES UTF-8 3"), "* THREAD (3)")
	expectLines(t, rc2.ok("d", "THREAD REFERENCES UTF-8 SUBJECT nothing"), "* THREAD")
}

func TestThreadTranscript(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	add := func(subject string, minute int, extra string) {
		h := fmt.Sprintf("From: a@x\r\nSubject: %s\r\nDate: %s\r\n%s", subject, base.Add(time.Duration(minute)*time.Minute).Format(time.RFC1123Z), extra)
		e.appendMsg(t, alice, "INBOX", h+"\r\nbody\r\n", time.Time{})
	}
	add("a", 1, "Message-ID: <a1@x>\r\n")                              // 1
	add("Re: b", 2, "Message-ID: <b2@x>\r\n")                          // 2
	add("b", 3, "Message-ID: <b3@x>\r\n")                              // 3
	add("Re: a", 0, "Message-ID: <a4@x>\r\n")                          // 4
	add("c", 5, "Message-ID: <c5@x>\r\n")                              // 5
	add("Fwd: b", 6, "Message-ID: <b6@x>\r\n")                         // 6
	add("news", 7, "Message-ID: <n7@x>\r\n")                           // 7
	add("news", 8, "Message-ID: <n7@x>\r\n")                           // 8: a duplicate Message-ID
	add("Re: c", 9, "In-Reply-To: <c5@x>\r\n")                         // 9: no Message-ID, In-Reply-To only
	add("Re: x", 10, "Message-ID: <x10@x>\r\nReferences: <x10@x>\r\n") // 10: references itself
	rc := e.rawLogin(t, alice)
	rc.ok("a", "SELECT INBOX")
	// ORDEREDSUBJECT: by base subject, the earliest the parent of the rest.
	expectLines(t, rc.ok("b", "THREAD ORDEREDSUBJECT UTF-8 1:6"), "* THREAD (4 1)(2 (3)(6))(5)")
	// REFERENCES: 4 ("Re: a") joins 1 ("a"), the non-reply; 2 and 6 join
	// 3; the two "news" (a duplicate id) get a dummy parent; 9 answers 5.
	expectLines(t, rc.ok("c", "THREAD REFERENCES UTF-8 ALL"), "* THREAD (1 4)(3 (2)(6))(5 9)((7)(8))(10)")
	expectLines(t, rc.ok("d", "UID THREAD ORDEREDSUBJECT UTF-8 SUBJECT news"), "* THREAD (7 8)")
	expectLines(t, rc.ok("d2", "THREAD REFERENCES UTF-8 SUBJECT {4+}\r\nnews"), "* THREAD ((7)(8))")
	expectLines(t, rc.ok("d3", "THREAD REFERENCES UTF-8 OR SUBJECT {1}\r\nc SUBJECT a"), "+ Ready for literal data", "* THREAD (1 4)(5 9)")
	for _, tc := range []struct{ cmd, want string }{
		{"THREAD SUBJECTS UTF-8 ALL", "e BAD [CLIENTBUG] Unknown threading algorithm SUBJECTS"},
		{"THREAD REFERENCES", "e BAD [CLIENTBUG] Syntax error: expected SP"},
		{"THREAD REFERENCES UTF-8", "e BAD [CLIENTBUG] Syntax error: expected SP"},
		{"THREAD (REFERENCES) UTF-8 ALL", "e BAD [CLIENTBUG] Syntax error: expected threading algorithm"},
		{"THREAD REFERENCES ISO-2022-JP ALL", "e NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset ISO-2022-JP"},
		{"THREAD REFERENCES UTF-8 ALL extra", `e BAD [CLIENTBUG] Syntax error: unknown search key "extra"`},
	} {
		if _, tagged := rc.cmd("e", tc.cmd); tagged != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, tagged, tc.want)
		}
	}
}

func TestThreadWithImapclient(t *testing.T) {
	t.Parallel()
	subjects := map[int]string{2: "other", 3: "topic", 6: "Re: topic", 4: "Re: topic", 23: "Re: topic", 44: "Re: topic", 7: "Re: topic", 96: "Re: topic"}
	refs := map[int][]int{6: {3}, 4: {3, 6}, 23: {3, 6, 4}, 44: {3, 6}, 7: {3, 6, 44}, 96: {3, 6, 44, 7}}
	e := threadEnv(t, 96, subjects, refs, nil)
	c := e.client(t, alice, nil)
	_, err := c.Select("INBOX", nil).Wait()
	mustNoErr(t, err, "select")
	var set imap.SeqSet
	set.AddNum(2, 3, 4, 6, 7, 23, 44, 96)
	threads, err := c.Thread(&imapclient.ThreadOptions{Algorithm: imap.ThreadReferences, SearchCriteria: &imap.SearchCriteria{SeqNum: []imap.SeqSet{set}}}).Wait()
	mustNoErr(t, err, "THREAD")
	if got := fmt.Sprintf("%v", threads); got != "[{[2] []} {[3 6] [{[4 23] []} {[44 7 96] []}]}]" {
		t.Errorf("threads: %s", got)
	}
}
