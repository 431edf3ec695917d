package imapfront

import (
	"errors"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailrig/mailrig/memstore"
)

// Copy answers COPY and UID COPY with COPYUID. memstore takes the two
// mailbox locks in a fixed order, so crossing copies cannot deadlock.
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	sel := s.sel
	name := "COPY"
	if isUIDSet(numSet) && !imap.IsSearchRes(numSet) {
		name = "UID COPY"
	}
	if err := s.intercept(name, dest); err != nil {
		return nil, err
	}
	dst, uids, err := s.transferArgs(numSet, dest)
	if err != nil || len(uids) == 0 {
		return nil, err
	}
	res, err := sel.mb.CopyTo(dst, uids, s)
	if err != nil {
		return nil, transferError(err, "Cannot copy")
	}
	return s.copyData(res), nil
}

// Move answers MOVE and UID MOVE (RFC 6851): COPYUID first, then one
// EXPUNGE per moved message, numbered as the client counts. The store's
// expunge events for them are later ignored, since the UIDs have left the
// view.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	sel := s.sel
	name := "MOVE"
	if isUIDSet(numSet) && !imap.IsSearchRes(numSet) {
		name = "UID MOVE"
	}
	if s.srv.caps.hidden(imap.CapMove) {
		return refuseHidden(imap.CapMove)
	}
	if err := s.intercept(name, dest); err != nil {
		return err
	}
	if sel.readOnly {
		return imapErr(imap.StatusResponseTypeNo, "", "Mailbox is read-only")
	}
	dst, uids, err := s.transferArgs(numSet, dest)
	if err != nil || len(uids) == 0 {
		return err
	}
	res, err := sel.mb.MoveTo(dst, uids, s)
	if err != nil {
		return transferError(err, "Cannot move")
	}
	if data := s.copyData(res); data != nil {
		if err := w.WriteCopyData(data); err != nil {
			return err
		}
	}
	for _, uid := range res.SourceUIDs {
		i := sel.index(uid)
		if i < 0 {
			continue
		}
		if err := w.WriteExpunge(uint32(i + 1)); err != nil {
			return err
		}
		sel.entries = slices.Delete(sel.entries, i, i+1)
	}
	return nil
}

// transferArgs finds the destination and the UIDs to copy or move.
func (s *session) transferArgs(numSet imap.NumSet, dest string) (*memstore.Mailbox, []uint32, error) {
	sel := s.sel
	if imap.IsSearchRes(numSet) && s.srv.caps.hidden(imap.CapSearchRes) {
		return nil, nil, refuseHidden(imap.CapSearchRes)
	}
	dst, err := s.user.Mailbox(dest)
	if err != nil {
		return nil, nil, imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate, "No such mailbox %q", dest)
	}
	var uids []uint32
	for _, i := range sel.resolve(numSet) {
		if !sel.entries[i].expunged {
			uids = append(uids, sel.entries[i].uid)
		}
	}
	return dst, uids, nil
}

func transferError(err error, what string) error {
	if errors.Is(err, memstore.ErrNoSuchMailbox) {
		return imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate, "%s: %s", what, trimPrefix(err.Error()))
	}
	return storeError(err, what)
}

// copyData is the COPYUID data, or nil when UIDPLUS is hidden or nothing
// was copied.
func (s *session) copyData(res memstore.CopyResult) *imap.CopyData {
	if s.srv.caps.hidden(imap.CapUIDPlus) || len(res.SourceUIDs) == 0 {
		return nil
	}
	var src, dst imap.UIDSet
	for i := range res.SourceUIDs {
		src.AddNum(imap.UID(res.SourceUIDs[i]))
		dst.AddNum(imap.UID(res.DestUIDs[i]))
	}
	return &imap.CopyData{UIDValidity: res.UIDValidity, SourceUIDs: src, DestUIDs: dst}
}
