package imapfront

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestFetchServesCachedViews proves that FETCH ENVELOPE and BODYSTRUCTURE
// parse nothing once a message's views are cached: a first FETCH stores
// them on the message (computing them again would fail the test), and
// views planted in the cache beforehand are what a FETCH sends, so the
// server reads the cache rather than the message.
func TestFetchServesCachedViews(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.appendMsg(t, alice, "INBOX", simpleMsg("parsed once", "body"), time.Time{})
	e.appendMsg(t, alice, "INBOX", simpleMsg("planted", "body"), time.Time{})
	snap := e.mailbox(t, alice, "INBOX").Snapshot()
	parsed, planted := snap.Entries[0].Message, snap.Entries[1].Message

	plantedEnv := &imap.Envelope{Subject: "from the cache"}
	plantedBS := &imap.BodyStructureSinglePart{
		Type: "text", Subtype: "x-cached", Encoding: "7bit", Size: 4,
		Text:     &imap.BodyStructureText{NumLines: 1},
		Extended: &imap.BodyStructureSinglePartExt{},
	}
	planted.Cached(envelopeKey{}, func() any { return plantedEnv })
	planted.Cached(bodyStructureKey{}, func() any { return imap.BodyStructure(plantedBS) })

	views := &imap.FetchOptions{Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}
	fetch := func(c *imapclient.Client) []*imapclient.FetchMessageBuffer {
		t.Helper()
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, views).Collect()
		if err != nil || len(msgs) != 2 {
			t.Fatalf("fetch: %v, %d messages", err, len(msgs))
		}
		return msgs
	}

	msgs := fetch(e.client(t, alice, nil))
	if got := msgs[0].Envelope.Subject; got != "parsed once" {
		t.Errorf("parsed envelope subject %q", got)
	}
	recompute := func(what string) func() any {
		return func() any { t.Errorf("%s computed again after FETCH", what); return nil }
	}
	env := parsed.Cached(envelopeKey{}, recompute("ENVELOPE"))
	bs := parsed.Cached(bodyStructureKey{}, recompute("BODYSTRUCTURE"))

	// A second session, as a second client would: the same views, still
	// the planted ones for the planted message.
	for _, msgs := range [][]*imapclient.FetchMessageBuffer{msgs, fetch(e.client(t, alice, nil))} {
		if got := msgs[1].Envelope.Subject; got != plantedEnv.Subject {
			t.Errorf("planted message: ENVELOPE subject %q, want the cached %q", got, plantedEnv.Subject)
		}
		if got, ok := msgs[1].BodyStructure.(*imap.BodyStructureSinglePart); !ok || !strings.EqualFold(got.Subtype, "x-cached") {
			t.Errorf("planted message: BODYSTRUCTURE %+v, want the cached one", msgs[1].BodyStructure)
		}
	}
	if parsed.Cached(envelopeKey{}, recompute("ENVELOPE")) != env || parsed.Cached(bodyStructureKey{}, recompute("BODYSTRUCTURE")) != bs {
		t.Error("cached views replaced")
	}
}

// TestCorkedWrites checks the write coalescing FETCH uses: while corked,
// writes are held (up to corkSize) and come out whole and in order, big
// ones included; uncork sends the rest and ends it.
func TestCorkedWrites(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer client.Close()
	tc := &trackedConn{Conn: server}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	var want bytes.Buffer
	write := func(p []byte) {
		t.Helper()
		if n, err := tc.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
		want.Write(p)
	}
	tc.cork()
	for i := 0; i < 200; i++ { // ~200 KiB in 1 KiB pieces: several fills
		write(benchMessage(i))
	}
	write(bytes.Repeat([]byte("big"), corkSize)) // larger than the buffer
	write([]byte("tail\r\n"))
	if err := tc.uncork(); err != nil {
		t.Fatal(err)
	}
	write([]byte("uncorked\r\n"))
	if tc.wbuf != nil {
		t.Error("still corked")
	}
	server.Close()
	if b := <-got; !bytes.Equal(b, want.Bytes()) {
		t.Errorf("received %d octets, want %d, or not in order", len(b), want.Len())
	}
}
