package imapfront

import (
	"slices"

	"github.com/emersion/go-imap/v2"

	"github.com/mailrig/mailrig/memstore"
)

// viewEntry is one message as the client knows it.
type viewEntry struct {
	uid uint32
	msg *memstore.Message
	// flags is the newest state heard from the store; reported is what the
	// client was last told. They differ between an event and the next
	// update point.
	flags, reported memstore.Flags
	// expunged marks a message removed from the store whose EXPUNGE is
	// held back (after FETCH, STORE or SEARCH); it keeps its number.
	expunged bool
}

// selected is the state of the selected mailbox: the session's view.
type selected struct {
	mb       *memstore.Mailbox
	w        *memstore.Watcher
	name     string
	readOnly bool

	entries []viewEntry // in UID order: index+1 is the sequence number
	// pending are UIDs expunged in the store but not yet announced, in the
	// order they were expunged.
	pending []uint32
	// recent holds the UID ranges [from, to) whose \Recent this session
	// claimed.
	recent [][2]uint32
	// keywords are the keywords announced in the last FLAGS response;
	// newKeyword says a FLAGS response is due.
	keywords   memstore.Flags
	newKeyword bool
	// searchRes is the SEARCHRES result ($) as UIDs.
	searchRes []uint32
	// gone says the mailbox was deleted.
	gone bool
}

// index returns the position of uid in the view, or -1.
func (sel *selected) index(uid uint32) int {
	i, ok := slices.BinarySearchFunc(sel.entries, uid, func(e viewEntry, uid uint32) int {
		switch {
		case e.uid < uid:
			return -1
		case e.uid > uid:
			return 1
		}
		return 0
	})
	if !ok {
		return -1
	}
	return i
}

// isRecent reports whether this session owns uid's \Recent.
func (sel *selected) isRecent(uid uint32) bool {
	for _, r := range sel.recent {
		if uid >= r[0] && uid < r[1] {
			return true
		}
	}
	return false
}

// claimRecent claims \Recent for new messages. Read-only sessions never
// claim (RFC 3501 §6.3.2: EXAMINE leaves \Recent alone).
func (sel *selected) claimRecent() {
	if sel.readOnly {
		return
	}
	from, to := sel.mb.ClaimRecent()
	if from >= to {
		return
	}
	if n := len(sel.recent); n > 0 && sel.recent[n-1][1] == from {
		sel.recent[n-1][1] = to
		return
	}
	sel.recent = append(sel.recent, [2]uint32{from, to})
}

func (sel *selected) numRecent() uint32 {
	var n uint32
	for _, e := range sel.entries {
		if sel.isRecent(e.uid) {
			n++
		}
	}
	return n
}

// noteKeywords records keywords the client has not been told about yet.
func (sel *selected) noteKeywords(f memstore.Flags) {
	for _, k := range f.Keywords() {
		if !sel.keywords.Has(k) {
			sel.keywords = sel.keywords.Union(memstore.NewFlags(k))
			sel.newKeyword = true
		}
	}
}

// mailboxFlags is the FLAGS response: system flags then known keywords.
func (sel *selected) mailboxFlags() []imap.Flag {
	out := []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}
	for _, k := range sel.keywords.Keywords() {
		out = append(out, imap.Flag(k))
	}
	return out
}

// Select opens a mailbox: it takes a snapshot and registers the watcher in
// one step, so no change falls between them.
func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	cmd := "SELECT"
	if options.ReadOnly {
		cmd = "EXAMINE"
	}
	if err := s.intercept(cmd, name); err != nil {
		return nil, err
	}
	s.unselect()
	mb, err := s.user.Mailbox(name)
	if err != nil {
		return nil, storeError(err, "Cannot select")
	}
	snap, w := mb.SnapshotAndWatch()
	if mb.Deleted() {
		w.Close()
		return nil, storeError(memstore.ErrNoSuchMailbox, "Cannot select")
	}
	sel := &selected{
		mb:       mb,
		w:        w,
		name:     snap.Name,
		readOnly: options.ReadOnly,
		entries:  make([]viewEntry, len(snap.Entries)),
		keywords: memstore.NewFlags(snap.Keywords...),
	}
	for i, e := range snap.Entries {
		sel.entries[i] = viewEntry{uid: e.UID, msg: e.Message, flags: e.Flags, reported: e.Flags}
	}
	sel.claimRecent()
	s.sel = sel

	data := &imap.SelectData{
		Flags:       sel.mailboxFlags(),
		NumMessages: uint32(len(sel.entries)),
		NumRecent:   sel.numRecent(),
		UIDNext:     imap.UID(snap.UIDNext),
		UIDValidity: snap.UIDValidity,
	}
	if !options.ReadOnly {
		data.PermanentFlags = append(sel.mailboxFlags(), imap.FlagWildcard)
	} else {
		data.PermanentFlags = []imap.Flag{}
	}
	for i, e := range sel.entries {
		if !e.flags.Has(memstore.FlagSeen) {
			data.FirstUnseenSeqNum = uint32(i + 1)
			break
		}
	}
	if s.rev2() {
		data.List = &imap.ListData{Delim: '/', Mailbox: snap.Name, Attrs: s.mailboxAttrs(mb, nil)}
	}
	return data, nil
}

// Unselect leaves the selected state (UNSELECT, CLOSE, or a new SELECT).
// It is not intercepted: go-imap calls it for SELECT too, so it cannot tell
// an UNSELECT command apart.
func (s *session) Unselect() error {
	s.unselect()
	return nil
}

func (s *session) unselect() {
	if s.sel != nil {
		s.sel.w.Close()
		s.sel = nil
	}
}
