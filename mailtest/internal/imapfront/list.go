package imapfront

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailrig/mailrig/memstore"
)

const delim = '/'

// List answers LIST (with LIST-EXTENDED selection and return options and
// LIST-STATUS) and LSUB. Only the user's own mailboxes exist for it, so no
// pattern can reach another user's.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if err := s.intercept("LIST", ref); err != nil {
		return err
	}
	if options.ReturnStatus != nil && s.srv.caps.hidden(imap.CapListStatus) {
		return refuseHidden(imap.CapListStatus)
	}
	if (options.SelectSpecialUse || options.ReturnSpecialUse) && s.srv.caps.hidden(imap.CapSpecialUse) {
		return refuseHidden(imap.CapSpecialUse)
	}
	if options.ReturnStatus != nil && options.ReturnStatus.Size && s.srv.caps.hidden(imap.CapStatusSize) {
		return refuseHidden(imap.CapStatusSize)
	}
	if len(patterns) == 0 {
		// LIST "" "": the hierarchy delimiter and root (RFC 3501 §6.3.8).
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim, Mailbox: ""})
	}

	mailboxes := make(map[string]*memstore.Mailbox)
	var names []string
	for _, mb := range s.user.Mailboxes() {
		n := mb.Name()
		mailboxes[n] = mb
		names = append(names, n)
	}
	subscribed := make(map[string]bool)
	for _, n := range s.user.Subscriptions() {
		subscribed[n] = true
	}

	matches := func(name string) bool {
		for _, p := range patterns {
			if matchMailbox(name, ref, p) {
				return true
			}
		}
		return false
	}

	// Candidates: existing mailboxes, or subscriptions (which need not
	// exist) with SUBSCRIBED.
	candidates := names
	if options.SelectSubscribed {
		candidates = candidates[:0:0]
		for n := range subscribed {
			candidates = append(candidates, n)
		}
	}
	listed := make(map[string]*imap.ListData)
	for _, n := range candidates {
		if !matches(n) {
			continue
		}
		mb := mailboxes[n]
		if options.SelectSpecialUse && (mb == nil || mb.SpecialUse() == "") {
			continue
		}
		listed[n] = s.listData(n, mb, names, subscribed, options)
	}
	if options.SelectRecursiveMatch && options.SelectSubscribed {
		// Parents of matching subscriptions are listed with CHILDINFO
		// (RFC 5258 §3.5) when they match the pattern themselves.
		for n := range subscribed {
			for p := parent(n); p != ""; p = parent(p) {
				if !matches(p) {
					continue
				}
				ld := listed[p]
				if ld == nil {
					if subscribed[p] {
						continue
					}
					ld = s.listData(p, mailboxes[p], names, subscribed, &imap.ListOptions{})
					listed[p] = ld
				}
				ld.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
			}
		}
	}

	out := make([]string, 0, len(listed))
	for n := range listed {
		out = append(out, n)
	}
	slices.SortFunc(out, compareMailboxNames)
	for _, n := range out {
		ld := listed[n]
		if options.ReturnStatus != nil {
			if mb := mailboxes[n]; mb != nil {
				ld.Status = s.statusData(mb, options.ReturnStatus)
			}
		}
		if err := w.WriteList(ld); err != nil {
			return err
		}
	}
	return nil
}

// listData builds one LIST response. mb is nil for a subscription to a
// mailbox that does not exist.
func (s *session) listData(name string, mb *memstore.Mailbox, names []string, subscribed map[string]bool, options *imap.ListOptions) *imap.ListData {
	ld := &imap.ListData{Delim: delim, Mailbox: name}
	if mb == nil {
		ld.Attrs = append(ld.Attrs, imap.MailboxAttrNonExistent)
	} else {
		ld.Attrs = s.mailboxAttrs(mb, names)
	}
	if (options.SelectSubscribed || options.ReturnSubscribed) && subscribed[name] {
		ld.Attrs = append(ld.Attrs, imap.MailboxAttrSubscribed)
	}
	return ld
}

// mailboxAttrs are the attributes of an existing mailbox: children (when
// names is given) and special use.
func (s *session) mailboxAttrs(mb *memstore.Mailbox, names []string) []imap.MailboxAttr {
	var attrs []imap.MailboxAttr
	if names != nil && !s.srv.caps.hidden(imap.CapChildren) {
		prefix := mb.Name() + string(delim)
		has := slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, prefix) })
		if has {
			attrs = append(attrs, imap.MailboxAttrHasChildren)
		} else {
			attrs = append(attrs, imap.MailboxAttrHasNoChildren)
		}
	}
	if use := mb.SpecialUse(); use != "" && !s.srv.caps.hidden(imap.CapSpecialUse) {
		attrs = append(attrs, imap.MailboxAttr(use))
	}
	return attrs
}

// matchMailbox matches a name against a reference and pattern, treating
// INBOX case-insensitively as RFC 3501 requires.
func matchMailbox(name, ref, pattern string) bool {
	if imapserver.MatchList(name, delim, ref, pattern) {
		return true
	}
	if name != memstore.InboxName && !strings.HasPrefix(name, memstore.InboxName+string(delim)) {
		return false
	}
	if ref != "" && !strings.HasPrefix(pattern, string(delim)) {
		ref = canonicalInbox(ref)
	} else {
		pattern = canonicalInbox(pattern)
	}
	return imapserver.MatchList(name, delim, ref, pattern)
}

// canonicalInbox spells a leading "inbox" level as INBOX.
func canonicalInbox(s string) string {
	const n = len(memstore.InboxName)
	if len(s) >= n && strings.EqualFold(s[:n], memstore.InboxName) && (len(s) == n || s[n] == byte(delim)) {
		return memstore.InboxName + s[n:]
	}
	return s
}

func parent(name string) string {
	i := strings.LastIndexByte(name, byte(delim))
	if i < 0 {
		return ""
	}
	return name[:i]
}

// compareMailboxNames sorts INBOX first, then by name.
func compareMailboxNames(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == memstore.InboxName:
		return -1
	case b == memstore.InboxName:
		return 1
	}
	return strings.Compare(a, b)
}
