package imapfront

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func listNames(t *testing.T, data []*imap.ListData) []string {
	t.Helper()
	var out []string
	for _, d := range data {
		out = append(out, d.Mailbox)
	}
	return out
}

func TestListCreateRenameDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	c := e.client(t, alice, nil)
	mustNoErr(t, c.Create("Projects/2026/Q1", nil).Wait(), "create nested")
	mustNoErr(t, c.Create("Sent Items", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrSent}}).Wait(), "create special-use")
	if err := c.Create("INBOX", nil).Wait(); imapCode(err) != imap.ResponseCodeAlreadyExists {
		t.Errorf("create INBOX: %v", err)
	}
	if err := c.Create("Bad", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrFlagged}}).Wait(); imapCode(err) != "USEATTR" {
		t.Errorf("create with \\Flagged: %v", err)
	}

	all, err := c.List("", "*", nil).Collect()
	mustNoErr(t, err, "list")
	want := []string{"INBOX", "Archive", "Drafts", "Junk", "Projects", "Projects/2026", "Projects/2026/Q1", "Sent", "Sent Items", "Trash"}
	if got := listNames(t, all); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("LIST *: %q", got)
	}
	attrs := map[string][]imap.MailboxAttr{}
	for _, d := range all {
		attrs[d.Mailbox] = d.Attrs
		if d.Delim != '/' {
			t.Errorf("%s delim %q", d.Mailbox, d.Delim)
		}
	}
	checkAttrs := func(name string, want ...imap.MailboxAttr) {
		t.Helper()
		if got := attrs[name]; len(got) != len(want) || !containsAll(got, want) {
			t.Errorf("%s attrs %v, want %v", name, got, want)
		}
	}
	checkAttrs("Projects", imap.MailboxAttrHasChildren)
	checkAttrs("Projects/2026/Q1", imap.MailboxAttrHasNoChildren)
	checkAttrs("Sent", imap.MailboxAttrHasNoChildren, imap.MailboxAttrSent)
	checkAttrs("Sent Items", imap.MailboxAttrHasNoChildren, imap.MailboxAttrSent)
	checkAttrs("Trash", imap.MailboxAttrHasNoChildren, imap.MailboxAttrTrash)

	pct, err := c.List("", "%", nil).Collect()
	mustNoErr(t, err, "list %")
	if got := strings.Join(listNames(t, pct), ","); got != "INBOX,Archive,Drafts,Junk,Projects,Sent,Sent Items,Trash" {
		t.Errorf("LIST %%: %s", got)
	}
	ref, err := c.List("Projects/", "%", nil).Collect()
	mustNoErr(t, err, "list ref")
	if got := strings.Join(listNames(t, ref), ","); got != "Projects/2026" {
		t.Errorf("LIST Projects/ %%: %s", got)
	}
	inbox, err := c.List("", "inbox", nil).Collect()
	mustNoErr(t, err, "list inbox")
	if got := strings.Join(listNames(t, inbox), ","); got != "INBOX" {
		t.Errorf("LIST inbox: %s", got)
	}
	special, err := c.List("", "*", &imap.ListOptions{SelectSpecialUse: true}).Collect()
	mustNoErr(t, err, "list special-use")
	if got := strings.Join(listNames(t, special), ","); got != "Archive,Drafts,Junk,Sent,Sent Items,Trash" {
		t.Errorf("LIST (SPECIAL-USE): %s", got)
	}

	mustNoErr(t, c.Rename("Projects", "Work/Projects", nil).Wait(), "rename")
	renamed, err := c.List("", "Work/*", nil).Collect()
	mustNoErr(t, err, "list renamed")
	if got := strings.Join(listNames(t, renamed), ","); got != "Work/Projects,Work/Projects/2026,Work/Projects/2026/Q1" {
		t.Errorf("after rename: %s", got)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Error("DELETE INBOX succeeded")
	}
	if err := c.Delete("Nope").Wait(); imapCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("DELETE Nope: %v", err)
	}
	mustNoErr(t, c.Delete("Work/Projects/2026/Q1").Wait(), "delete")
}

func containsAll(got, want []imap.MailboxAttr) bool {
	for _, w := range want {
		found := false
		for _, g := range got {
			if strings.EqualFold(string(g), string(w)) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestRenameInboxMovesMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.appendMsg(t, alice, "INBOX", simpleMsg("a", "b"), time.Time{})
	e.appendMsg(t, alice, "INBOX", simpleMsg("c", "d"), time.Time{})
	c := e.client(t, alice, nil)
	mustNoErr(t, c.Rename("INBOX", "Old", nil).Wait(), "rename INBOX")
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	mustNoErr(t, err, "status INBOX")
	st2, err := c.Status("Old", &imap.StatusOptions{NumMessages: true}).Wait()
	mustNoErr(t, err, "status Old")
	if *st.NumMessages != 0 || *st2.NumMessages != 2 {
		t.Fatalf("INBOX %d, Old %d", *st.NumMessages, *st2.NumMessages)
	}
}

func TestUsersSeeOnlyTheirOwnMailboxes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.appendMsg(t, bob, "INBOX", simpleMsg("secret", "for bob"), time.Time{})
	rc := e.rawLogin(t, alice)
	for _, name := range []string{`"../bob@example.com/INBOX"`, `"bob@example.com/INBOX"`, `"bob@example.com"`, `"/INBOX/../../bob@example.com"`, `"%"`, `"*"`, `"INBOX/.."`, `"~bob/INBOX"`} {
		for _, cmd := range []string{"SELECT " + name, "STATUS " + name + " (MESSAGES)", "DELETE " + name, "RENAME " + name + " Stolen"} {
			if _, tagged := rc.cmd("x", cmd); !strings.HasPrefix(tagged, "x NO") && !strings.HasPrefix(tagged, "x BAD") {
				t.Errorf("%s: %q", cmd, tagged)
			}
		}
	}
	for _, pat := range []string{`"*"`, `"%"`, `"%/%"`, `"../*"`, `"bob@example.com/*"`, `"*bob*"`} {
		for _, ref := range []string{`""`, `"bob@example.com/"`, `"../"`, `"/"`} {
			untagged := rc.ok("l", "LIST "+ref+" "+pat)
			for _, l := range untagged {
				if strings.Contains(l, "bob") || strings.Contains(l, "..") {
					t.Errorf("LIST %s %s leaked %q", ref, pat, l)
				}
			}
		}
	}
	if n := len(e.mailbox(t, bob, "INBOX").Snapshot().Entries); n != 1 {
		t.Fatalf("bob's INBOX has %d", n)
	}
	rc.ok("c", `CREATE "bob@example.com/INBOX"`) // a folder of alice's, named oddly
	untagged := rc.ok("s", `STATUS "bob@example.com/INBOX" (MESSAGES)`)
	expectLines(t, untagged, `* STATUS "bob@example.com/INBOX" (MESSAGES 0)`)
}

func TestStatusItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{AppendLimit: 5000})
	m1 := simpleMsg("one", "body")
	e.appendMsg(t, alice, "INBOX", m1, time.Time{}, `\Seen`)
	e.appendMsg(t, alice, "INBOX", m1, time.Time{}, `\Deleted`)
	e.appendMsg(t, alice, "INBOX", m1, time.Time{})
	rc := e.rawLogin(t, alice)
	mb := e.mailbox(t, alice, "INBOX")
	untagged := rc.ok("a", "STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT SIZE DELETED APPENDLIMIT)")
	size := 3 * len(m1)
	expectLines(t, untagged, "* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY "+itoa(int(mb.UIDValidity()))+" UNSEEN 2 DELETED 1 SIZE "+itoa(size)+" APPENDLIMIT 5000 RECENT 3)")
	rc.ok("b", "SELECT INBOX") // claims \Recent
	untagged = rc.ok("c", "STATUS INBOX (RECENT)")
	expectLines(t, untagged, "* STATUS INBOX (RECENT 0)")
	untagged = rc.ok("d", `LIST "" "INBOX" RETURN (STATUS (MESSAGES UNSEEN SIZE) SUBSCRIBED CHILDREN)`)
	expectLines(t, untagged, `* LIST (\HasNoChildren \Subscribed) "/" INBOX`, "* STATUS INBOX (MESSAGES 3 UNSEEN 2 SIZE "+itoa(size)+")")
}

func TestSubscriptionsAndLSUB(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	rc := e.rawLogin(t, alice)
	rc.ok("a", "CREATE Lists/golang")
	rc.ok("b", "SUBSCRIBE Lists/golang")
	rc.ok("c", "SUBSCRIBE Gone")
	rc.ok("d", "UNSUBSCRIBE Sent")
	untagged := rc.ok("e", `LIST (SUBSCRIBED) "" "*"`)
	expectLines(t, untagged,
		`* LIST (\HasNoChildren \Subscribed) "/" INBOX`,
		`* LIST (\HasNoChildren \Archive \Subscribed) "/" "Archive"`,
		`* LIST (\HasNoChildren \Drafts \Subscribed) "/" "Drafts"`,
		`* LIST (\NonExistent \Subscribed) "/" "Gone"`,
		`* LIST (\HasNoChildren \Junk \Subscribed) "/" "Junk"`,
		`* LIST (\HasNoChildren \Subscribed) "/" "Lists/golang"`,
		`* LIST (\HasNoChildren \Trash \Subscribed) "/" "Trash"`)
	untagged = rc.ok("f", `LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`)
	if !contains(untagged, `* LIST (\HasChildren) "/" "Lists" (CHILDINFO ("SUBSCRIBED"))`) {
		t.Errorf("RECURSIVEMATCH: %q", untagged)
	}
	untagged = rc.ok("g", `LSUB "" "L*"`)
	expectLines(t, untagged, `* LSUB (\HasNoChildren \Subscribed) "/" "Lists/golang"`)
	untagged = rc.ok("h", `LIST "" ""`)
	expectLines(t, untagged, `* LIST (\Noselect) "/" ""`)
	untagged = rc.ok("i", "NAMESPACE")
	expectLines(t, untagged, `* NAMESPACE (("" "/")) NIL NIL`)
	if _, tagged := rc.cmd("j", "UNSUBSCRIBE Never"); !strings.HasPrefix(tagged, "j NO") {
		t.Errorf("unsubscribe unknown: %q", tagged)
	}
}
