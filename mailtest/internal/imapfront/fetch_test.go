package imapfront

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailrig/mailrig/memstore"
)

func TestFetchWithClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))
	raw := simpleMsg("hello there", "line one\r\nline two")
	e.appendMsg(t, alice, "INBOX", raw, date, "$seen-by-bot")
	c := e.client(t, alice, nil)
	_, err := c.Select("INBOX", nil).Wait()
	mustNoErr(t, err, "select")
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{
			{Peek: true},
			{Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"Subject", "Date"}, Peek: true},
			{Specifier: imap.PartSpecifierText, Partial: &imap.SectionPartial{Offset: 5, Size: 3}, Peek: true},
		},
	}).Collect()
	mustNoErr(t, err, "fetch")
	m := msgs[0]
	if m.UID != 1 || !m.InternalDate.Equal(date) || m.RFC822Size != int64(len(raw)) {
		t.Errorf("uid %d date %v size %d", m.UID, m.InternalDate, m.RFC822Size)
	}
	if got := flagStrings(m.Flags); got != `$seen-by-bot \Recent` {
		t.Errorf("flags %q", got)
	}
	if m.Envelope.Subject != "hello there" || m.Envelope.From[0].Addr() != "sender@example.org" || m.Envelope.From[0].Name != "Sender" || m.Envelope.MessageID != "hello.there@example.org" {
		t.Errorf("envelope %+v", m.Envelope)
	}
	if bs, ok := m.BodyStructure.(*imap.BodyStructureSinglePart); !ok || bs.Type != "text" || bs.Subtype != "plain" {
		t.Errorf("bodystructure %#v", m.BodyStructure)
	}
	if got := string(m.BodySection[0].Bytes); got != raw {
		t.Errorf("BODY[] %q", got)
	}
	if got := string(m.BodySection[1].Bytes); got != "From: Sender <sender@example.org>\r\nTo: alice@example.com\r\nMessage-ID: <hello.there@example.org>\r\n\r\n" {
		t.Errorf("HEADER.FIELDS.NOT %q", got)
	}
	if got := string(m.BodySection[2].Bytes); got != "one" {
		t.Errorf("TEXT<5.3> %q", got)
	}

	// A non-PEEK fetch sets \Seen and reports it.
	msgs, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierText}}}).Collect()
	mustNoErr(t, err, "fetch non-peek")
	if got := flagStrings(msgs[0].Flags); got != `\Seen $seen-by-bot \Recent` {
		t.Errorf("flags after BODY[TEXT]: %q", got)
	}
	if snap := e.mailbox(t, alice, "INBOX").Snapshot(); !snap.Entries[0].Flags.Has(memstore.FlagSeen) {
		t.Error("store lacks \\Seen")
	}
}

func flagStrings(fs []imap.Flag) string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f))
	}
	return strings.Join(out, " ")
}

// TestFetchCachesParsedViews checks that ENVELOPE and BODYSTRUCTURE are
// computed once per message, shared across sessions and mailboxes.
func TestFetchCachesParsedViews(t *testing.T) {
	t.Parallel()
	msg := memstore.NewMessage([]byte(simpleMsg("cached", "b")), time.Time{}, memstore.Envelope{})
	env1 := messageEnvelope(msg)
	if env2 := messageEnvelope(msg); env1 != env2 {
		t.Error("envelope parsed twice")
	}
	bs1 := messageBodyStructure(msg)
	if bs2 := messageBodyStructure(msg); bs1 != bs2 {
		t.Error("bodystructure parsed twice")
	}
}

func TestAppendLimitsAndQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{AppendLimit: 100})
	u, _ := e.store.User(alice)
	u.SetQuota(150)
	rc := e.rawLogin(t, alice)
	_, tagged := rc.cmd("a", "APPEND INBOX {101}")
	if tagged != "a NO [TOOBIG] Literals are limited to 100 bytes for this command" {
		t.Errorf("too big: %q", tagged)
	}
	msg := strings.Repeat("x", 78) + "\r\n" // 80 bytes
	rc.send("b APPEND INBOX (\\Flagged $x) \"02-Jan-2026 10:00:00 +0000\" {80}")
	rc.readResp()
	rc.send(msg)
	if tagged := rc.readResp(); !strings.HasPrefix(tagged, "b OK [APPENDUID ") {
		t.Fatalf("append: %q", tagged)
	}
	rc.send("c APPEND INBOX {80}")
	rc.readResp()
	rc.send(msg)
	if tagged := rc.readResp(); !strings.HasPrefix(tagged, "c NO [OVERQUOTA]") {
		t.Fatalf("over quota: %q", tagged)
	}
	rc.send("d APPEND Nowhere {80}")
	rc.readResp()
	rc.send(msg)
	if tagged := rc.readResp(); !strings.HasPrefix(tagged, "d NO [TRYCREATE]") {
		t.Fatalf("no mailbox: %q", tagged)
	}
	snap := e.mailbox(t, alice, "INBOX").Snapshot()
	if len(snap.Entries) != 1 || snap.Entries[0].Flags.String() != `\Flagged $x` ||
		!snap.Entries[0].Message.ReceivedAt().Equal(time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("stored %+v", snap.Entries)
	}
	// COPY over quota.
	rc.ok("e", "SELECT INBOX")
	if _, tagged := rc.cmd("f", "COPY 1 Archive"); !strings.HasPrefix(tagged, "f NO [OVERQUOTA]") {
		t.Fatalf("copy over quota: %q", tagged)
	}
	if _, tagged := rc.cmd("g", "COPY 1 Nowhere"); !strings.HasPrefix(tagged, "g NO [TRYCREATE]") {
		t.Fatalf("copy to missing: %q", tagged)
	}
}

func TestAppendWithClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	c := e.client(t, alice, nil)
	raw := []byte("Subject: appended\nX: lf only\n\nbody\n")
	cmd := c.Append("Drafts", int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}})
	_, _ = cmd.Write(raw)
	mustNoErr(t, cmd.Close(), "append close")
	data, err := cmd.Wait()
	mustNoErr(t, err, "append")
	mb := e.mailbox(t, alice, "Drafts")
	if data.UID != 1 || data.UIDValidity != mb.UIDValidity() {
		t.Errorf("APPENDUID %+v", data)
	}
	got := mb.Snapshot().Entries[0].Message.Raw()
	if !bytes.Equal(got, []byte("Subject: appended\r\nX: lf only\r\n\r\nbody\r\n")) {
		t.Errorf("stored %q", got)
	}
}

func TestCopyMoveExpungeWithClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for i := 0; i < 5; i++ {
		e.appendMsg(t, alice, "INBOX", simpleMsg("m", "b"), time.Time{}, "$k")
	}
	var expunged []uint32
	c := e.client(t, alice, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { expunged = append(expunged, seq) },
	}})
	_, err := c.Select("INBOX", nil).Wait()
	mustNoErr(t, err, "select")
	cd, err := c.Copy(imap.SeqSetNum(2, 4), "Archive").Wait()
	mustNoErr(t, err, "copy")
	if cd.SourceUIDs.String() != "2,4" || cd.DestUIDs.String() != "1:2" {
		t.Errorf("COPYUID %v %v", cd.SourceUIDs, cd.DestUIDs)
	}
	md, err := c.Move(imap.UIDSetNum(1, 5), "Trash").Wait()
	mustNoErr(t, err, "move")
	if md.SourceUIDs.String() != "1,5" {
		t.Errorf("move COPYUID %v", md.SourceUIDs)
	}
	mustNoErr(t, c.Store(imap.SeqSetNum(1, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(), "store")
	seqs, err := c.UIDExpunge(imap.UIDSetNum(4)).Collect()
	mustNoErr(t, err, "uid expunge")
	if len(seqs) != 1 || seqs[0] != 3 {
		t.Errorf("UID EXPUNGE 4: %v", seqs)
	}
	seqs, err = c.Expunge().Collect()
	mustNoErr(t, err, "expunge")
	if len(seqs) != 1 || seqs[0] != 1 {
		t.Errorf("EXPUNGE: %v", seqs)
	}
	left := e.mailbox(t, alice, "INBOX").Snapshot().Entries
	if len(left) != 1 || left[0].UID != 3 {
		t.Errorf("left %+v", left)
	}
	arch := e.mailbox(t, alice, "Archive").Snapshot().Entries
	if len(arch) != 2 || !arch[0].Flags.Has("$k") {
		t.Errorf("archive %+v", arch)
	}
}
