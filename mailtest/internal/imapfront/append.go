package imapfront

import (
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"

	"github.com/mailrig/mailrig/memstore"
)

// Append answers APPEND with APPENDUID. go-imap has already refused a
// literal over AppendLimit with NO [TOOBIG] before reading it.
func (s *session) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	if err := s.intercept("APPEND", mailbox); err != nil {
		return nil, err
	}
	limit := int64(s.srv.appendLimit())
	if r.Size() > limit {
		return nil, imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeTooBig, "Message is larger than %d bytes", limit)
	}
	raw, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("imapfront: read APPEND literal: %w", err)
	}
	if int64(len(raw)) != r.Size() {
		// go-imap's literal reader ends without an error when the client
		// vanishes mid-literal: store nothing half-way.
		return nil, fmt.Errorf("imapfront: APPEND literal cut short at %d of %d bytes: %w", len(raw), r.Size(), io.ErrUnexpectedEOF)
	}
	mb, err := s.user.Mailbox(mailbox)
	if err != nil {
		return nil, imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate, "No such mailbox %q", mailbox)
	}
	names := make([]string, len(options.Flags))
	for i, f := range options.Flags {
		names[i] = string(f)
	}
	msg := memstore.NewMessage(raw, options.Time, memstore.Envelope{})
	uid, err := mb.Append(msg, memstore.NewFlags(names...))
	if err != nil {
		return nil, transferError(err, "Cannot append")
	}
	if s.srv.caps.hidden(imap.CapUIDPlus) {
		return nil, nil
	}
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: mb.UIDValidity()}, nil
}
