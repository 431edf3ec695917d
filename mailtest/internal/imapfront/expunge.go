package imapfront

import (
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// Expunge answers EXPUNGE and UID EXPUNGE, and the silent expunge of CLOSE
// (go-imap passes CLOSE an ExpungeWriter that writes nothing).
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	sel := s.sel
	// go-imap gives CLOSE a zero ExpungeWriter; comparing is the only way
	// to tell CLOSE, which must succeed silently in a read-only mailbox,
	// from EXPUNGE, which must fail there.
	closing := *w == (imapserver.ExpungeWriter{})
	name := "EXPUNGE"
	switch {
	case closing:
		name = "CLOSE"
	case uids != nil:
		name = "UID EXPUNGE"
	}
	if err := s.intercept(name, sel.name); err != nil {
		return err
	}
	if sel.readOnly {
		if closing {
			return nil
		}
		return imapErr(imap.StatusResponseTypeNo, "", "Mailbox is read-only")
	}
	if uids != nil && s.srv.caps.hidden(imap.CapUIDPlus) {
		return refuseHidden(imap.CapUIDPlus)
	}
	var only []uint32
	if uids != nil {
		only = []uint32{}
		for _, i := range sel.resolve(*uids) {
			only = append(only, sel.entries[i].uid)
		}
		if len(only) == 0 {
			return nil
		}
	}
	removed := sel.mb.ExpungeDeleted(only, s)
	if closing {
		return nil
	}
	for _, uid := range removed {
		i := sel.index(uid)
		if i < 0 {
			continue // not yet announced to the client: Poll adds and removes it
		}
		if err := w.WriteExpunge(uint32(i + 1)); err != nil {
			return err
		}
		sel.entries = slices.Delete(sel.entries, i, i+1)
	}
	return nil
}
