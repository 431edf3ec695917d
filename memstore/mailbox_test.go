package memstore

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func mailboxNames(u *User) []string {
	var out []string
	for _, mb := range u.Mailboxes() {
		out = append(out, mb.Name())
	}
	return out
}

func TestDefaultMailboxes(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	if got := mailboxNames(u); !slices.Equal(got, []string{"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"}) {
		t.Fatalf("mailboxes = %q", got)
	}
	uses := map[string]string{"INBOX": "", "Archive": `\Archive`, "Drafts": `\Drafts`, "Junk": `\Junk`, "Sent": `\Sent`, "Trash": `\Trash`}
	seenValidity := map[uint32]bool{}
	for name, use := range uses {
		mb := mustMailbox(t, u, name)
		if mb.SpecialUse() != use {
			t.Errorf("%s: special use %q, want %q", name, mb.SpecialUse(), use)
		}
		if seenValidity[mb.UIDValidity()] || mb.UIDValidity() == 0 {
			t.Errorf("%s: UIDVALIDITY %d repeated or zero", name, mb.UIDValidity())
		}
		seenValidity[mb.UIDValidity()] = true
		snap := mb.Snapshot()
		if snap.UIDNext != 1 || len(snap.Entries) != 0 || snap.Size != 0 || snap.Name != name || snap.MailboxID != mb.ID() {
			t.Errorf("%s: fresh snapshot %+v", name, snap)
		}
		if mb.User() != u || mb.Deleted() {
			t.Errorf("%s: owner or deleted wrong", name)
		}
	}
	for _, spelling := range []string{"inbox", "Inbox", "iNbOx"} {
		if mustMailbox(t, u, spelling) != u.Inbox() {
			t.Errorf("Mailbox(%q) is not INBOX", spelling)
		}
	}
	if _, err := u.Mailbox("sent"); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatalf("names other than INBOX are case-sensitive: %v", err)
	}
	if got := u.Subscriptions(); !slices.Equal(got, []string{"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"}) {
		t.Fatalf("Subscriptions = %q", got)
	}
}

func TestCreateMailbox(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	mb, err := u.CreateMailbox("Projects/2026/Q1", `\archive`)
	if err != nil {
		t.Fatal(err)
	}
	if mb.Name() != "Projects/2026/Q1" || mb.SpecialUse() != `\Archive` {
		t.Fatalf("created %q with use %q", mb.Name(), mb.SpecialUse())
	}
	for _, parent := range []string{"Projects", "Projects/2026"} {
		p := mustMailbox(t, u, parent)
		if p.SpecialUse() != "" {
			t.Errorf("parent %q got special use %q", parent, p.SpecialUse())
		}
	}
	if got := mailboxNames(u); !slices.Equal(got, []string{"INBOX", "Archive", "Drafts", "Junk", "Projects", "Projects/2026", "Projects/2026/Q1", "Sent", "Trash"}) {
		t.Fatalf("mailboxes = %q", got)
	}
	// A child of an existing parent creates only itself.
	mustCreate(t, u, "Projects/2027")
	if got := len(u.Mailboxes()); got != 10 {
		t.Fatalf("%d mailboxes", got)
	}
	for _, name := range []string{"Projects", "Projects/2026/Q1", "Sent", "INBOX", "inbox"} {
		if _, err := u.CreateMailbox(name, ""); !errors.Is(err, ErrMailboxExists) {
			t.Errorf("CreateMailbox(%q) again: %v, want ErrMailboxExists", name, err)
		}
	}
	if _, err := u.CreateMailbox("Other", `\Flagged`); !errors.Is(err, ErrBadSpecialUse) {
		t.Fatalf("bad special use: %v", err)
	}
	if _, err := u.Mailbox("Other"); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatal("mailbox created despite bad special use")
	}
	// Every mailbox has its own ID and UIDVALIDITY.
	ids, vals := map[uint64]bool{}, map[uint32]bool{}
	for _, mb := range u.Mailboxes() {
		if ids[mb.ID()] || vals[mb.UIDValidity()] {
			t.Fatalf("%q: ID %d or UIDVALIDITY %d repeated", mb.Name(), mb.ID(), mb.UIDValidity())
		}
		ids[mb.ID()], vals[mb.UIDValidity()] = true, true
	}
}

func TestCreateMailboxInvalidNames(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	before := len(u.Mailboxes())
	for _, name := range []string{
		"", "a//b", "../x", "a/./b", "a/../b", "..", ".", "/a", "a/", "*", "a*b", "%", "x%", "nul\x00byte",
		"tab\there", "del\x7f", "bad\xffutf8", "\xc3", strings.Repeat("x", 513),
	} {
		if _, err := u.CreateMailbox(name, ""); !errors.Is(err, ErrBadName) {
			t.Errorf("CreateMailbox(%q): %v, want ErrBadName", name, err)
		}
		if err := ValidateMailboxName(name); !errors.Is(err, ErrBadName) {
			t.Errorf("ValidateMailboxName(%q): %v", name, err)
		}
	}
	if got := len(u.Mailboxes()); got != before {
		t.Fatalf("invalid names created mailboxes: %d → %d", before, got)
	}
	for _, name := range []string{"a", "a.b/c..d", "Ünïcödé/日本", "a b", strings.Repeat("x", 512), "..a", "a."} {
		if err := ValidateMailboxName(name); err != nil {
			t.Errorf("ValidateMailboxName(%q) = %v", name, err)
		}
	}
}

func TestDeleteMailbox(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	for _, name := range []string{"INBOX", "inbox"} {
		if err := u.DeleteMailbox(name); !errors.Is(err, ErrInbox) {
			t.Fatalf("DeleteMailbox(%q): %v", name, err)
		}
	}
	if err := u.DeleteMailbox("nope"); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatalf("deleting a missing mailbox: %v", err)
	}
	mb := mustCreate(t, u, "Work/Sub")
	mustAppend(t, mb, rawMsg(1))
	mustAppend(t, mb, rawMsg(2))
	oldValidity, oldID := mb.UIDValidity(), mb.ID()
	if err := u.DeleteMailbox("Work/Sub"); err != nil {
		t.Fatal(err)
	}
	if !mb.Deleted() {
		t.Fatal("Deleted() false")
	}
	if _, err := u.Mailbox("Work/Sub"); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatalf("deleted mailbox still found: %v", err)
	}
	if _, err := mb.Append(NewMessage(rawMsg(3), testDate, Envelope{}), Flags{}); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatalf("Append to deleted: %v", err)
	}
	if _, err := mb.SetFlags([]uint32{1}, AddFlags, NewFlags(FlagSeen), nil); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatalf("SetFlags on deleted: %v", err)
	}
	if got := mb.Expunge([]uint32{1, 2}, nil); len(got) != 0 {
		t.Fatalf("Expunge on deleted removed %v", got)
	}
	if usedBytes(u) != 0 {
		t.Fatalf("usage after delete = %d", usedBytes(u))
	}
	// Recreated: a new mailbox, new UIDVALIDITY, UIDs from 1.
	mb2 := mustCreate(t, u, "Work/Sub")
	if mb2 == mb || mb2.ID() == oldID || mb2.UIDValidity() == oldValidity || mb2.UIDValidity() <= oldValidity {
		t.Fatalf("recreated: ID %d (old %d), UIDVALIDITY %d (old %d)", mb2.ID(), oldID, mb2.UIDValidity(), oldValidity)
	}
	if uid := mustAppend(t, mb2, rawMsg(4)); uid != 1 {
		t.Fatalf("first UID after recreate = %d", uid)
	}
	// Deleting a parent keeps its children.
	if err := u.DeleteMailbox("Work"); err != nil {
		t.Fatal(err)
	}
	if mustMailbox(t, u, "Work/Sub") != mb2 {
		t.Fatal("child lost with its parent")
	}
	if err := u.DeleteMailbox("Work"); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestRenameMailbox(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	a := mustCreate(t, u, "A")
	ab := mustCreate(t, u, "A/B")
	abc := mustCreate(t, u, "A/B/C")
	ax := mustCreate(t, u, "AX") // shares a prefix but is not a child
	uid := mustAppend(t, ab, rawMsg(1), FlagSeen)
	validity := ab.UIDValidity()
	if err := u.RenameMailbox("A", "Z/New"); err != nil {
		t.Fatal(err)
	}
	for name, mb := range map[string]*Mailbox{"Z/New": a, "Z/New/B": ab, "Z/New/B/C": abc, "AX": ax} {
		if got := mustMailbox(t, u, name); got != mb || mb.Name() != name {
			t.Errorf("%q: got %p named %q", name, got, mb.Name())
		}
	}
	for _, old := range []string{"A", "A/B", "A/B/C"} {
		if _, err := u.Mailbox(old); !errors.Is(err, ErrNoSuchMailbox) {
			t.Errorf("old name %q still there: %v", old, err)
		}
	}
	if _, err := u.Mailbox("Z"); err != nil {
		t.Fatalf("missing parent not created: %v", err)
	}
	snap := ab.Snapshot()
	if ab.UIDValidity() != validity || snap.Name != "Z/New/B" || !slices.Equal(uidsOf(snap), []uint32{uid}) || snap.UIDNext != 2 {
		t.Fatalf("renamed mailbox state: %+v", snap)
	}
	// Errors.
	for _, tc := range []struct {
		old, new string
		want     error
	}{
		{"nope", "x", ErrNoSuchMailbox},
		{"AX", "Sent", ErrMailboxExists},
		{"AX", "inbox", ErrMailboxExists},
		{"AX", "AX/sub", ErrBadName},
		{"AX", "AX", ErrBadName},
		{"AX", "a//b", ErrBadName},
	} {
		if err := u.RenameMailbox(tc.old, tc.new); !errors.Is(err, tc.want) {
			t.Errorf("RenameMailbox(%q, %q) = %v, want %v", tc.old, tc.new, err, tc.want)
		}
	}
	if mustMailbox(t, u, "AX") != ax {
		t.Fatal("failed renames changed AX")
	}
}

// A rename must not overwrite an existing mailbox that sits where a child
// of the renamed mailbox would land (here "B/C" survives its deleted parent).
func TestRenameMailboxChildCollision(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	mustCreate(t, u, "A/C")
	bc := mustCreate(t, u, "B/C")
	mustAppend(t, bc, rawMsg(1))
	if err := u.DeleteMailbox("B"); err != nil {
		t.Fatal(err)
	}
	used := usedBytes(u)
	before := mailboxNames(u)
	if err := u.RenameMailbox("A", "B"); !errors.Is(err, ErrMailboxExists) {
		t.Fatalf("rename onto existing child: %v, want ErrMailboxExists", err)
	}
	if got := mustMailbox(t, u, "B/C"); got != bc || len(got.Snapshot().Entries) != 1 {
		t.Fatal("existing B/C was replaced")
	}
	if got := mailboxNames(u); !slices.Equal(got, before) {
		t.Fatalf("failed rename changed mailboxes: %q → %q", before, got)
	}
	if sumSizes(t, u) != used || usedBytes(u) != used {
		t.Fatalf("usage %d, mailboxes hold %d", usedBytes(u), sumSizes(t, u))
	}
	// Renaming a mailbox onto a name freed by its own children works.
	mustCreate(t, u, "P/Q/Q")
	if err := u.DeleteMailbox("P"); err != nil {
		t.Fatal(err)
	}
	q, qq := mustMailbox(t, u, "P/Q"), mustMailbox(t, u, "P/Q/Q")
	if err := u.RenameMailbox("P/Q", "P"); err != nil {
		t.Fatal(err)
	}
	if mustMailbox(t, u, "P") != q || mustMailbox(t, u, "P/Q") != qq {
		t.Fatal("overlapping rename mixed up mailboxes")
	}
}

func TestRenameInbox(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	inbox := u.Inbox()
	mustDeliver(t, s, rawMsg(1), "ann@example.com")
	mustDeliver(t, s, rawMsg(2), "ann@example.com")
	mustDeliver(t, s, rawMsg(3), "ann@example.com")
	if _, err := inbox.SetFlags([]uint32{2}, AddFlags, NewFlags(FlagFlagged, "$Work"), nil); err != nil {
		t.Fatal(err)
	}
	inbox.Expunge([]uint32{1}, nil)
	used := usedBytes(u)
	if err := u.RenameMailbox("inbox", "Old/Mail"); err != nil {
		t.Fatal(err)
	}
	if u.Inbox() != inbox || inbox.Name() != "INBOX" {
		t.Fatal("INBOX replaced")
	}
	is := inbox.Snapshot()
	if len(is.Entries) != 0 || is.UIDNext != 4 || is.Size != 0 {
		t.Fatalf("INBOX after rename: %d entries, UIDNEXT %d, size %d", len(is.Entries), is.UIDNext, is.Size)
	}
	old := mustMailbox(t, u, "Old/Mail")
	os := old.Snapshot()
	if !slices.Equal(uidsOf(os), []uint32{1, 2}) || !slices.Equal(bodiesOf(os), []string{"body 2\r\n", "body 3\r\n"}) {
		t.Fatalf("moved: %v %q", uidsOf(os), bodiesOf(os))
	}
	if got := os.Entries[0].Flags.List(); !slices.Equal(got, []string{`\Flagged`, "$Work"}) {
		t.Fatalf("flags not kept: %q", got)
	}
	if usedBytes(u) != used || sumSizes(t, u) != used {
		t.Fatalf("usage %d → %d (mailboxes %d)", used, usedBytes(u), sumSizes(t, u))
	}
	if uid := mustAppend(t, inbox, rawMsg(9)); uid != 4 {
		t.Fatalf("next INBOX UID = %d, want 4", uid)
	}
	if err := u.RenameMailbox("INBOX", "Old/Mail"); !errors.Is(err, ErrMailboxExists) {
		t.Fatalf("rename INBOX onto existing: %v", err)
	}
}

// Renaming INBOX moves messages within one user, which must not need
// twice their size in quota.
func TestRenameInboxNearQuota(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	m := mustDeliver(t, s, rawMsg(1), "ann@example.com")
	u.SetQuota(m.Size() + 1)
	if err := u.RenameMailbox("INBOX", "Saved"); err != nil {
		t.Fatalf("rename INBOX near quota: %v", err)
	}
	if got := len(mustMailbox(t, u, "Saved").Snapshot().Entries); got != 1 {
		t.Fatalf("Saved holds %d messages", got)
	}
	if usedBytes(u) != m.Size() {
		t.Fatalf("usage %d, want %d", usedBytes(u), m.Size())
	}
}

func TestSubscriptions(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	if err := u.Subscribe("Not/Existing"); err != nil {
		t.Fatal(err)
	}
	if err := u.Subscribe("inbox"); err != nil {
		t.Fatal(err)
	}
	if err := u.Subscribe("a//b"); !errors.Is(err, ErrBadName) {
		t.Fatalf("Subscribe bad name: %v", err)
	}
	if err := u.Unsubscribe("Junk"); err != nil {
		t.Fatal(err)
	}
	if err := u.Unsubscribe("Junk"); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatalf("second Unsubscribe: %v", err)
	}
	if got := u.Subscriptions(); !slices.Equal(got, []string{"INBOX", "Archive", "Drafts", "Not/Existing", "Sent", "Trash"}) {
		t.Fatalf("Subscriptions = %q", got)
	}
	mustCreate(t, u, "Box")
	if err := u.Subscribe("Box"); err != nil {
		t.Fatal(err)
	}
	if err := u.RenameMailbox("Box", "Crate"); err != nil {
		t.Fatal(err)
	}
	if got := u.Subscriptions(); !slices.Contains(got, "Crate") || slices.Contains(got, "Box") {
		t.Fatalf("subscription not renamed: %q", got)
	}
}

func TestUIDsStrictlyIncreasing(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	mb := mustCreate(t, u, "Box")
	for i := 1; i <= 5; i++ {
		if uid := mustAppend(t, mb, rawMsg(i)); uid != uint32(i) {
			t.Fatalf("append %d got UID %d", i, uid)
		}
	}
	if got := mb.Expunge([]uint32{5, 3, 3, 99}, nil); !slices.Equal(got, []uint32{3, 5}) {
		t.Fatalf("Expunge = %v", got)
	}
	// The highest UID was expunged; it is still never reused.
	if uid := mustAppend(t, mb, rawMsg(6)); uid != 6 {
		t.Fatalf("UID after expunge = %d, want 6", uid)
	}
	snap := mb.Snapshot()
	wantUIDs(t, "after expunge+append", uidsOf(snap), []uint32{1, 2, 4, 6})
	if snap.UIDNext != 7 {
		t.Fatalf("UIDNext = %d", snap.UIDNext)
	}
	if got := bodiesOf(snap); !slices.Equal(got, []string{"body 1\r\n", "body 2\r\n", "body 4\r\n", "body 6\r\n"}) {
		t.Fatalf("bodies %q", got)
	}
	for uid, idx := range map[uint32]int{1: 0, 2: 1, 3: -1, 4: 2, 5: -1, 6: 3, 7: -1, 0: -1} {
		if got := snap.Index(uid); got != idx {
			t.Errorf("Index(%d) = %d, want %d", uid, got, idx)
		}
	}
}

func TestSnapshotIsolation(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	mb := mustCreate(t, u, "Box")
	for i := 1; i <= 4; i++ {
		mustAppend(t, mb, rawMsg(i))
	}
	s0 := mb.Snapshot()
	if s0.Unseen() != 4 {
		t.Fatalf("Unseen = %d", s0.Unseen())
	}
	if _, err := mb.SetFlags([]uint32{1, 2}, AddFlags, NewFlags(FlagSeen, "kw"), nil); err != nil {
		t.Fatal(err)
	}
	s1 := mb.Snapshot()
	mb.Expunge([]uint32{2}, nil)
	s2 := mb.Snapshot()
	mustAppend(t, mb, rawMsg(5), FlagDraft, "other")
	s3 := mb.Snapshot()
	if _, err := mb.SetFlags([]uint32{3}, ReplaceFlags, NewFlags(FlagDeleted), nil); err != nil {
		t.Fatal(err)
	}
	mb.Expunge([]uint32{1, 4}, nil)
	mustAppend(t, mb, rawMsg(6))

	check := func(name string, snap Snapshot, uids []uint32, unseen int, next uint32, kws []string) {
		t.Helper()
		wantUIDs(t, name, uidsOf(snap), uids)
		if snap.Unseen() != unseen || snap.UIDNext != next || !slices.Equal(snap.Keywords, kws) {
			t.Errorf("%s: unseen %d next %d keywords %q; want %d %d %q", name, snap.Unseen(), snap.UIDNext, snap.Keywords, unseen, next, kws)
		}
		var size int64
		for _, e := range snap.Entries {
			size += e.Message.Size()
			if !strings.HasSuffix(string(e.Message.Body()), "\r\n") || string(e.Message.Body()) != "body "+string(rune('0'+e.UID))+"\r\n" {
				t.Errorf("%s: UID %d holds %q", name, e.UID, e.Message.Body())
			}
		}
		if size != snap.Size {
			t.Errorf("%s: Size %d, entries %d", name, snap.Size, size)
		}
	}
	check("s0", s0, []uint32{1, 2, 3, 4}, 4, 5, nil)
	check("s1", s1, []uint32{1, 2, 3, 4}, 2, 5, []string{"kw"})
	check("s2", s2, []uint32{1, 3, 4}, 2, 5, []string{"kw"})
	check("s3", s3, []uint32{1, 3, 4, 5}, 3, 6, []string{"kw", "other"})
	check("now", mb.Snapshot(), []uint32{3, 5, 6}, 3, 7, []string{"kw", "other"})
	if s0.Entries[0].Flags.Has(FlagSeen) || !s1.Entries[0].Flags.Has(FlagSeen) {
		t.Fatal("flags leaked between snapshots")
	}
	if got := mb.Snapshot().Entries[0].Flags.List(); !slices.Equal(got, []string{`\Deleted`}) {
		t.Fatalf("replaced flags = %q", got)
	}
}

func TestSetFlags(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	mb := mustCreate(t, u, "Box")
	for i := 1; i <= 3; i++ {
		mustAppend(t, mb, rawMsg(i))
	}
	w := mustWatch(mb)
	defer w.Close()
	out, err := mb.SetFlags([]uint32{3, 1, 1, 42}, AddFlags, NewFlags(`\seen`), "me")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].UID != 1 || out[1].UID != 3 || !out[0].Flags.Has(FlagSeen) || !out[1].Flags.Has(FlagSeen) {
		t.Fatalf("SetFlags returned %+v", out)
	}
	// No change: entries returned, no event.
	out, _ = mb.SetFlags([]uint32{1}, AddFlags, NewFlags(FlagSeen), "me")
	if len(out) != 1 || out[0].UID != 1 {
		t.Fatalf("unchanged SetFlags returned %+v", out)
	}
	evs := w.Drain()
	if len(evs) != 2 || evs[0].Kind != EventFlags || evs[0].UID != 1 || evs[1].UID != 3 || evs[0].Origin != "me" || !evs[1].Flags.Has(FlagSeen) {
		t.Fatalf("events %+v", evs)
	}
	if _, err := mb.SetFlags([]uint32{1, 2, 3}, RemoveFlags, NewFlags(FlagSeen), nil); err != nil {
		t.Fatal(err)
	}
	if got := mb.Snapshot().Unseen(); got != 3 {
		t.Fatalf("Unseen = %d", got)
	}
}

func mustWatch(mb *Mailbox) *Watcher {
	_, w := mb.SnapshotAndWatch()
	return w
}

func TestExpungeDeleted(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	mb := mustCreate(t, u, "Box")
	for i := 1; i <= 6; i++ {
		mustAppend(t, mb, rawMsg(i))
	}
	if _, err := mb.SetFlags([]uint32{2, 3, 5, 6}, AddFlags, NewFlags(`\deleted`), nil); err != nil {
		t.Fatal(err)
	}
	// UID filter: only the \Deleted among 1..3.
	if got := mb.ExpungeDeleted([]uint32{3, 1, 2}, "o"); !slices.Equal(got, []uint32{2, 3}) {
		t.Fatalf("ExpungeDeleted filtered = %v", got)
	}
	// An empty, non-nil filter removes nothing.
	if got := mb.ExpungeDeleted([]uint32{}, nil); len(got) != 0 {
		t.Fatalf("empty filter removed %v", got)
	}
	wantUIDs(t, "after filtered", uidsOf(mb.Snapshot()), []uint32{1, 4, 5, 6})
	if got := mb.ExpungeDeleted(nil, nil); !slices.Equal(got, []uint32{5, 6}) {
		t.Fatalf("ExpungeDeleted all = %v", got)
	}
	if got := mb.ExpungeDeleted(nil, nil); len(got) != 0 {
		t.Fatalf("second ExpungeDeleted = %v", got)
	}
	snap := mb.Snapshot()
	wantUIDs(t, "after all", uidsOf(snap), []uint32{1, 4})
	if sumSizes(t, u) != usedBytes(u) || snap.Size != rawSize(1)+rawSize(4) {
		t.Fatalf("size %d, usage %d", snap.Size, usedBytes(u))
	}
}

func rawSize(n int) int64 { return int64(len(rawMsg(n))) }

func TestCopyAndMove(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	src := mustCreate(t, u, "Src")
	dst := mustCreate(t, u, "Dst")
	mustAppend(t, dst, rawMsg(100)) // dst UIDs start at 2
	for i := 1; i <= 4; i++ {
		mustAppend(t, src, rawMsg(i), "k"+string(rune('0'+i)))
	}
	src.SetFlags([]uint32{2}, AddFlags, NewFlags(FlagSeen, FlagFlagged), nil)
	used := usedBytes(u)

	res, err := src.CopyTo(dst, []uint32{4, 2, 2, 77}, "copy")
	if err != nil {
		t.Fatal(err)
	}
	if res.UIDValidity != dst.UIDValidity() || !slices.Equal(res.SourceUIDs, []uint32{2, 4}) || !slices.Equal(res.DestUIDs, []uint32{2, 3}) {
		t.Fatalf("CopyTo result %+v", res)
	}
	ds := dst.Snapshot()
	if got := ds.Entries[1].Flags.List(); !slices.Equal(got, []string{`\Seen`, `\Flagged`, "k2"}) {
		t.Fatalf("copied flags %q", got)
	}
	if ds.Entries[1].Message != src.Snapshot().Entries[1].Message {
		t.Fatal("copy duplicated the message")
	}
	if !slices.Equal(ds.Keywords, []string{"k2", "k4"}) {
		t.Fatalf("dst keywords %q", ds.Keywords)
	}
	if usedBytes(u) != used+rawSize(2)+rawSize(4) {
		t.Fatalf("usage after copy %d", usedBytes(u))
	}
	wantUIDs(t, "src after copy", uidsOf(src.Snapshot()), []uint32{1, 2, 3, 4})

	used = usedBytes(u)
	res, err = src.MoveTo(dst, []uint32{1, 3}, "move")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.SourceUIDs, []uint32{1, 3}) || !slices.Equal(res.DestUIDs, []uint32{4, 5}) {
		t.Fatalf("MoveTo result %+v", res)
	}
	wantUIDs(t, "src after move", uidsOf(src.Snapshot()), []uint32{2, 4})
	ds = dst.Snapshot()
	wantUIDs(t, "dst after move", uidsOf(ds), []uint32{1, 2, 3, 4, 5})
	if got := bodiesOf(ds); !slices.Equal(got, []string{"body 100\r\n", "body 2\r\n", "body 4\r\n", "body 1\r\n", "body 3\r\n"}) {
		t.Fatalf("dst bodies %q", got)
	}
	if ds.Entries[4].Flags.String() != "k3" {
		t.Fatalf("moved flags %q", ds.Entries[4].Flags)
	}
	if usedBytes(u) != used || sumSizes(t, u) != used {
		t.Fatalf("move within a user changed usage %d → %d", used, usedBytes(u))
	}
	if _, err := src.MoveTo(src, []uint32{2}, nil); !errors.Is(err, ErrSameMailbox) {
		t.Fatalf("MoveTo self: %v", err)
	}
	// Copy into the same mailbox makes new UIDs.
	res, err = src.CopyTo(src, []uint32{2}, nil)
	if err != nil || !slices.Equal(res.DestUIDs, []uint32{5}) {
		t.Fatalf("CopyTo self: %+v %v", res, err)
	}
	wantUIDs(t, "src after self copy", uidsOf(src.Snapshot()), []uint32{2, 4, 5})
	// Nothing matched: empty result, no error.
	res, err = src.MoveTo(dst, []uint32{99}, nil)
	if err != nil || len(res.SourceUIDs) != 0 || len(res.DestUIDs) != 0 {
		t.Fatalf("empty move: %+v %v", res, err)
	}
	// Deleted destination.
	if err := u.DeleteMailbox("Dst"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CopyTo(dst, []uint32{2}, nil); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatalf("copy to deleted: %v", err)
	}
	if _, err := src.MoveTo(dst, []uint32{2}, nil); !errors.Is(err, ErrNoSuchMailbox) {
		t.Fatalf("move to deleted: %v", err)
	}
	wantUIDs(t, "src unchanged", uidsOf(src.Snapshot()), []uint32{2, 4, 5})
	if sumSizes(t, u) != usedBytes(u) {
		t.Fatalf("usage %d, mailboxes %d", usedBytes(u), sumSizes(t, u))
	}
}

func TestMoveAcrossUsers(t *testing.T) {
	t.Parallel()
	s := New()
	a := mustUser(t, s, "a@example.com", "pw")
	b := mustUser(t, s, "b@example.com", "pw")
	mustDeliver(t, s, rawMsg(1), "a@example.com")
	mustDeliver(t, s, rawMsg(2), "a@example.com")
	res, err := a.Inbox().MoveTo(b.Inbox(), []uint32{1}, nil)
	if err != nil || !slices.Equal(res.DestUIDs, []uint32{1}) {
		t.Fatalf("%+v %v", res, err)
	}
	if usedBytes(a) != rawSize(2) || usedBytes(b) != rawSize(1) {
		t.Fatalf("usage a %d b %d", usedBytes(a), usedBytes(b))
	}
	b.SetQuota(rawSize(1) + 1)
	if _, err := a.Inbox().CopyTo(b.Inbox(), []uint32{2}, nil); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("copy beyond other user's quota: %v", err)
	}
	if _, err := a.Inbox().MoveTo(b.Inbox(), []uint32{2}, nil); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("move beyond other user's quota: %v", err)
	}
	wantUIDs(t, "a", uidsOf(a.Inbox().Snapshot()), []uint32{2})
	wantUIDs(t, "b", uidsOf(b.Inbox().Snapshot()), []uint32{1})
	if usedBytes(a) != rawSize(2) || usedBytes(b) != rawSize(1) {
		t.Fatalf("usage after refused: a %d b %d", usedBytes(a), usedBytes(b))
	}
}

func TestClaimRecent(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	mb := u.Inbox()
	if from, to := mb.ClaimRecent(); from != 1 || to != 1 {
		t.Fatalf("empty: [%d,%d)", from, to)
	}
	mustAppend(t, mb, rawMsg(1))
	mustAppend(t, mb, rawMsg(2))
	if from, to := mb.ClaimRecent(); from != 1 || to != 3 {
		t.Fatalf("first claim [%d,%d)", from, to)
	}
	if from, to := mb.ClaimRecent(); from != to {
		t.Fatalf("second claim [%d,%d)", from, to)
	}
	mustAppend(t, mb, rawMsg(3))
	if from, to := mb.ClaimRecent(); from != 3 || to != 4 {
		t.Fatalf("third claim [%d,%d)", from, to)
	}
}
