package imapfront

import (
	"github.com/emersion/go-imap/v2"

	"github.com/mailrig/mailrig/memstore"
)

// Status answers STATUS. RECENT counts the messages no session has claimed
// as \Recent yet.
func (s *session) Status(mailbox string, options *imap.StatusOptions) (*imap.StatusData, error) {
	if err := s.intercept("STATUS", mailbox); err != nil {
		return nil, err
	}
	if options.Size && s.srv.caps.hidden(imap.CapStatusSize) {
		return nil, refuseHidden(imap.CapStatusSize)
	}
	mb, err := s.user.Mailbox(mailbox)
	if err != nil {
		return nil, storeError(err, "Cannot get status")
	}
	return s.statusData(mb, options), nil
}

func (s *session) statusData(mb *memstore.Mailbox, options *imap.StatusOptions) *imap.StatusData {
	snap := mb.Snapshot()
	data := &imap.StatusData{
		Mailbox:     snap.Name,
		UIDNext:     imap.UID(snap.UIDNext),
		UIDValidity: snap.UIDValidity,
	}
	u32 := func(n int) *uint32 { v := uint32(n); return &v }
	if options.NumMessages {
		data.NumMessages = u32(len(snap.Entries))
	}
	if options.NumUnseen {
		data.NumUnseen = u32(snap.Unseen())
	}
	if options.NumRecent {
		n := 0
		for _, e := range snap.Entries {
			if e.UID >= snap.RecentFrom {
				n++
			}
		}
		data.NumRecent = u32(n)
	}
	if options.NumDeleted || options.DeletedStorage {
		n, size := 0, int64(0)
		for _, e := range snap.Entries {
			if e.Flags.Has(memstore.FlagDeleted) {
				n++
				size += e.Message.Size()
			}
		}
		data.NumDeleted = u32(n)
		data.DeletedStorage = &size
	}
	if options.Size {
		size := snap.Size
		data.Size = &size
	}
	if options.AppendLimit {
		limit := s.srv.appendLimit()
		data.AppendLimit = &limit
	}
	return data
}
