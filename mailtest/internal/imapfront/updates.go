package imapfront

import (
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailrig/mailrig/memstore"
)

// Poll sends the changes other sessions made since the last update point.
// go-imap calls it after every command, with allowExpunge false after
// FETCH, STORE and SEARCH (RFC 9051 §7.5.1): expunges are then held back and
// the affected messages keep their numbers.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.sel == nil {
		return nil
	}
	return s.update(w, allowExpunge)
}

// Idle waits for changes and sends them at once. The watcher was
// registered at SELECT, so events queued before IDLE began are flushed
// first and none can be missed. With no mailbox selected it just waits for
// DONE.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.idleMu.Lock()
	if s.closed {
		s.idleMu.Unlock()
		return nil
	}
	end := make(chan struct{})
	s.idleEnd = end
	s.idleMu.Unlock()
	defer func() {
		s.idleMu.Lock()
		s.idleEnd = nil
		s.idleMu.Unlock()
		close(end)
	}()

	if s.srv.caps.hidden(imap.CapIdle) {
		return refuseHidden(imap.CapIdle)
	}
	mailbox := ""
	if s.sel != nil {
		mailbox = s.sel.name
	}
	if err := s.intercept("IDLE", mailbox); err != nil {
		return err
	}
	if s.sel == nil {
		select {
		case <-stop:
		case <-s.srv.done:
		}
		return nil
	}
	if err := s.update(w, true); err != nil {
		return err
	}
	for {
		select {
		case <-stop:
			return nil
		case <-s.srv.done:
			return nil
		case <-s.sel.w.C():
			if err := s.update(w, true); err != nil {
				return err
			}
		}
	}
}

// update applies the queued store events to the view and tells the client.
func (s *session) update(w *imapserver.UpdateWriter, allowExpunge bool) error {
	sel := s.sel
	appended := false
	var touched []uint32 // messages whose flags others changed
	for _, ev := range sel.w.Drain() {
		switch ev.Kind {
		case memstore.EventAppend:
			if n := len(sel.entries); n > 0 && ev.UID <= sel.entries[n-1].uid {
				continue // already in the view
			}
			sel.entries = append(sel.entries, viewEntry{uid: ev.UID, msg: ev.Message, flags: ev.Flags, reported: ev.Flags})
			sel.noteKeywords(ev.Flags)
			appended = true
		case memstore.EventFlags:
			i := sel.index(ev.UID)
			if i < 0 {
				continue
			}
			sel.entries[i].flags = ev.Flags
			sel.noteKeywords(ev.Flags)
			if ev.Origin != s {
				touched = append(touched, ev.UID)
			}
		case memstore.EventExpunge:
			// A UID missing from the view was expunged by this session,
			// which told the client already.
			if i := sel.index(ev.UID); i >= 0 && !sel.entries[i].expunged {
				sel.entries[i].expunged = true
				sel.pending = append(sel.pending, ev.UID)
			}
		case memstore.EventMailboxRenamed:
			sel.name = ev.Mailbox
		case memstore.EventMailboxDeleted:
			sel.gone = true
		}
	}
	if sel.gone {
		s.log.Info("imap selected mailbox deleted", "mailbox", sel.name)
		_ = s.conn.Bye("Selected mailbox was deleted")
		return errConnClosed
	}

	if allowExpunge && len(sel.pending) > 0 {
		for _, uid := range sel.pending {
			i := sel.index(uid)
			if i < 0 {
				continue
			}
			if err := w.WriteExpunge(uint32(i + 1)); err != nil {
				return err
			}
			sel.entries = slices.Delete(sel.entries, i, i+1)
		}
		sel.pending = nil
	}
	if appended {
		sel.claimRecent()
		if err := w.WriteNumMessages(uint32(len(sel.entries))); err != nil {
			return err
		}
		if err := w.WriteNumRecent(sel.numRecent()); err != nil {
			return err
		}
	}
	if sel.newKeyword {
		sel.newKeyword = false
		if err := w.WriteMailboxFlags(sel.mailboxFlags()); err != nil {
			return err
		}
	}
	if len(touched) == 0 {
		return nil
	}
	slices.Sort(touched)
	rev2 := s.rev2()
	for _, uid := range slices.Compact(touched) {
		i := sel.index(uid)
		if i < 0 {
			continue
		}
		e := &sel.entries[i]
		if e.expunged || e.flags.Equal(e.reported) {
			continue
		}
		e.reported = e.flags
		if err := w.WriteMessageFlags(uint32(i+1), imap.UID(uid), sel.imapFlags(e, rev2)); err != nil {
			return err
		}
	}
	return nil
}

// imapFlags lists a message's flags for the client: stored flags in
// memstore's stable order, then \Recent (IMAP4rev1 only).
func (sel *selected) imapFlags(e *viewEntry, rev2 bool) []imap.Flag {
	list := e.flags.List()
	out := make([]imap.Flag, 0, len(list)+1)
	for _, f := range list {
		out = append(out, imap.Flag(f))
	}
	if !rev2 && sel.isRecent(e.uid) {
		out = append(out, imap.Flag(`\Recent`))
	}
	return out
}
