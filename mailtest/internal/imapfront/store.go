package imapfront

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailrig/mailrig/memstore"
)

// Store answers STORE and UID STORE. Flags are stored canonically
// (`\seen` → `\Seen`) and reported in memstore's stable order; the change
// is tagged with the session as origin so it is not echoed back by Poll.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	sel := s.sel
	uidCmd := isUIDSet(numSet)
	name := "STORE"
	if uidCmd && !imap.IsSearchRes(numSet) {
		name = "UID STORE"
	}
	if err := s.intercept(name, sel.name); err != nil {
		return err
	}
	if sel.readOnly {
		return imapErr(imap.StatusResponseTypeNo, "", "Mailbox is read-only")
	}
	if options != nil && options.UnchangedSince > 0 {
		return imapErr(imap.StatusResponseTypeBad, imap.ResponseCodeClientBug, "CONDSTORE is not supported")
	}
	names := make([]string, len(flags.Flags))
	for i, f := range flags.Flags {
		names[i] = string(f)
	}
	var op memstore.FlagOp
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = memstore.AddFlags
	case imap.StoreFlagsDel:
		op = memstore.RemoveFlags
	default:
		op = memstore.ReplaceFlags
	}

	idx := sel.resolve(numSet)
	uids := make([]uint32, 0, len(idx))
	for _, i := range idx {
		if !sel.entries[i].expunged {
			uids = append(uids, sel.entries[i].uid)
		}
	}
	if len(uids) == 0 {
		return nil
	}
	changed, err := sel.mb.SetFlags(uids, op, memstore.NewFlags(names...), s)
	if err != nil {
		return storeError(err, "Cannot store flags")
	}
	rev2 := s.rev2()
	for _, ce := range changed {
		i := sel.index(ce.UID)
		if i < 0 {
			continue
		}
		e := &sel.entries[i]
		e.flags = ce.Flags
		sel.noteKeywords(ce.Flags)
		if flags.Silent {
			// The client knows what it asked for; later changes by others
			// are still compared against this.
			e.reported = ce.Flags
			continue
		}
		e.reported = ce.Flags
		rw := w.CreateMessage(uint32(i + 1))
		if uidCmd {
			rw.WriteUID(imap.UID(e.uid))
		}
		rw.WriteFlags(sel.imapFlags(e, rev2))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}
