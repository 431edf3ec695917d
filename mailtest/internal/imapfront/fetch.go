package imapfront

import (
	"bytes"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailrig/mailrig/memstore"
)

// Keys of the views cached on memstore messages, so no message is parsed
// twice.
type (
	envelopeKey      struct{}
	bodyStructureKey struct{}
)

// Fetch answers FETCH and UID FETCH. A non-PEEK body section in a
// read-write mailbox sets \Seen first, and the response then carries the
// new FLAGS.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) (err error) {
	sel := s.sel
	name := "FETCH"
	if isUIDSet(numSet) && !imap.IsSearchRes(numSet) {
		name = "UID FETCH"
	}
	if err := s.intercept(name, sel.name); err != nil {
		return err
	}
	if (len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0) && s.srv.caps.hidden(imap.CapBinary) {
		return refuseHidden(imap.CapBinary)
	}
	if imap.IsSearchRes(numSet) && s.srv.caps.hidden(imap.CapSearchRes) {
		return refuseHidden(imap.CapSearchRes)
	}
	if options.ModSeq || options.ChangedSince > 0 {
		return imapErr(imap.StatusResponseTypeBad, imap.ResponseCodeClientBug, "CONDSTORE is not supported")
	}
	idx := sel.resolve(numSet)

	setsSeen := false
	if !sel.readOnly {
		for _, bs := range options.BodySection {
			setsSeen = setsSeen || !bs.Peek
		}
		for _, bs := range options.BinarySection {
			setsSeen = setsSeen || !bs.Peek
		}
	}
	withFlags := options.Flags
	if setsSeen {
		if err := s.markSeen(idx); err != nil {
			return err
		}
		withFlags = true
	}

	if len(idx) > 1 && s.tc != nil {
		// One write per ~64 KiB instead of one per message.
		s.tc.cork()
		defer func() {
			if uerr := s.tc.uncork(); uerr != nil && err == nil {
				err = fmt.Errorf("imapfront: write FETCH response: %w", uerr)
			}
		}()
	}
	rev2 := s.rev2()
	for _, i := range idx {
		e := &sel.entries[i]
		rw := w.CreateMessage(uint32(i + 1))
		if options.UID {
			rw.WriteUID(imap.UID(e.uid))
		}
		if withFlags {
			e.reported = e.flags
			rw.WriteFlags(sel.imapFlags(e, rev2))
		}
		if options.InternalDate {
			rw.WriteInternalDate(e.msg.ReceivedAt())
		}
		if options.RFC822Size {
			rw.WriteRFC822Size(e.msg.Size())
		}
		if options.Envelope {
			rw.WriteEnvelope(messageEnvelope(e.msg))
		}
		if options.BodyStructure != nil {
			rw.WriteBodyStructure(messageBodyStructure(e.msg))
		}
		for _, bs := range options.BodySection {
			b := bodySection(e.msg, bs)
			if err := writeLiteral(rw.WriteBodySection(bs, int64(len(b))), b); err != nil {
				_ = rw.Close() // releases go-imap's encoder lock, or the connection hangs
				return err
			}
		}
		for _, bs := range options.BinarySection {
			b := imapserver.ExtractBinarySection(bytes.NewReader(e.msg.Raw()), bs)
			if err := writeLiteral(rw.WriteBinarySection(bs, int64(len(b))), b); err != nil {
				_ = rw.Close()
				return err
			}
		}
		for _, bss := range options.BinarySectionSize {
			rw.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(e.msg.Raw()), bss))
		}
		if err := rw.Close(); err != nil {
			return fmt.Errorf("imapfront: write FETCH response: %w", err)
		}
	}
	return nil
}

// markSeen adds \Seen to the messages at idx that lack it, in one store
// call, and takes the new flags into the view as already reported (the
// FETCH response carries them).
func (s *session) markSeen(idx []int) error {
	sel := s.sel
	var uids []uint32
	for _, i := range idx {
		if e := sel.entries[i]; !e.expunged && !e.flags.Has(memstore.FlagSeen) {
			uids = append(uids, e.uid)
		}
	}
	if len(uids) == 0 {
		return nil
	}
	changed, err := sel.mb.SetFlags(uids, memstore.AddFlags, memstore.NewFlags(memstore.FlagSeen), s)
	if err != nil {
		return storeError(err, "Cannot set \\Seen")
	}
	for _, ce := range changed {
		if i := sel.index(ce.UID); i >= 0 {
			sel.entries[i].flags = ce.Flags
		}
	}
	return nil
}

func writeLiteral(wc interface {
	Write([]byte) (int, error)
	Close() error
}, b []byte) error {
	if _, err := wc.Write(b); err != nil {
		_ = wc.Close()
		return fmt.Errorf("imapfront: write literal: %w", err)
	}
	if err := wc.Close(); err != nil {
		return fmt.Errorf("imapfront: write literal: %w", err)
	}
	return nil
}

// bodySection returns the bytes of a BODY[...] item. The common sections
// are slices of the stored message; the rest go through go-imap's parser.
func bodySection(m *memstore.Message, bs *imap.FetchItemBodySection) []byte {
	var b []byte
	switch {
	case len(bs.Part) > 0 || len(bs.HeaderFields) > 0 || len(bs.HeaderFieldsNot) > 0:
		return imapserver.ExtractBodySection(bytes.NewReader(m.Raw()), bs)
	case bs.Specifier == imap.PartSpecifierNone:
		b = m.Raw()
	case bs.Specifier == imap.PartSpecifierHeader:
		b = m.HeaderBytes()
	case bs.Specifier == imap.PartSpecifierText:
		b = m.Body()
	default:
		return imapserver.ExtractBodySection(bytes.NewReader(m.Raw()), bs)
	}
	return partial(b, bs.Partial)
}

// partial cuts <offset.size> out of b.
func partial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset >= int64(len(b)) {
		return nil
	}
	end := p.Offset + p.Size
	if end > int64(len(b)) || end < p.Offset {
		end = int64(len(b))
	}
	return b[p.Offset:end]
}

// messageBodyStructure is the extended BODYSTRUCTURE, computed once per
// message. go-imap derives BODY from it.
func messageBodyStructure(m *memstore.Message) imap.BodyStructure {
	return m.Cached(bodyStructureKey{}, func() any {
		return imapserver.ExtractBodyStructure(bytes.NewReader(m.Raw()))
	}).(imap.BodyStructure)
}
