package imapfront

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailrig/mailrig/memstore"
)

// Create answers CREATE, with CREATE-SPECIAL-USE's USE (...). A trailing
// delimiter is dropped, as RFC 3501 §6.3.3 allows.
func (s *session) Create(name string, options *imap.CreateOptions) error {
	if err := s.intercept("CREATE", name); err != nil {
		return err
	}
	name = strings.TrimSuffix(name, memstore.Delimiter)
	var use string
	if options != nil && len(options.SpecialUse) > 0 {
		if s.srv.caps.hidden(imap.CapCreateSpecialUse) {
			return refuseHidden(imap.CapCreateSpecialUse)
		}
		if len(options.SpecialUse) > 1 {
			return imapErr(imap.StatusResponseTypeNo, responseCodeUseAttr, "Only one special-use attribute per mailbox")
		}
		use = string(options.SpecialUse[0])
	}
	_, err := s.user.CreateMailbox(name, use)
	return storeError(err, "Cannot create mailbox")
}

// Delete answers DELETE. Sessions that have the mailbox selected are
// disconnected at their next update point.
func (s *session) Delete(name string) error {
	if err := s.intercept("DELETE", name); err != nil {
		return err
	}
	return storeError(s.user.DeleteMailbox(name), "Cannot delete mailbox")
}

// Rename answers RENAME; renaming INBOX moves its messages (memstore does it).
func (s *session) Rename(name, newName string, _ *imap.RenameOptions) error {
	if err := s.intercept("RENAME", name); err != nil {
		return err
	}
	return storeError(s.user.RenameMailbox(name, strings.TrimSuffix(newName, memstore.Delimiter)), "Cannot rename mailbox")
}

// Subscribe answers SUBSCRIBE.
func (s *session) Subscribe(name string) error {
	if err := s.intercept("SUBSCRIBE", name); err != nil {
		return err
	}
	return storeError(s.user.Subscribe(name), "Cannot subscribe")
}

// Unsubscribe answers UNSUBSCRIBE.
func (s *session) Unsubscribe(name string) error {
	if err := s.intercept("UNSUBSCRIBE", name); err != nil {
		return err
	}
	return storeError(s.user.Unsubscribe(name), "Cannot unsubscribe")
}
