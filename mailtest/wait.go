package mailtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mailrig/mailrig/memstore"
)

// A Matcher selects messages for the Wait and Messages helpers. Several
// matchers given together must all match.
type Matcher struct {
	desc  string
	match func(*Message) bool
}

// String describes the matcher, for failure messages.
func (m Matcher) String() string { return m.desc }

// Match returns a matcher that selects the messages for which f is true;
// desc describes it in failure messages.
func Match(desc string, f func(*Message) bool) Matcher {
	return Matcher{desc: desc, match: f}
}

// To matches messages with address among the SMTP envelope recipients
// (RCPT TO, so Bcc counts) or in the To or Cc header, case-insensitively.
func To(address string) Matcher {
	return Match(fmt.Sprintf("To(%q)", address), func(m *Message) bool {
		return containsFold(m.Envelope().Rcpts, address) || containsFold(m.To(), address) || containsFold(m.Cc(), address)
	})
}

// From matches messages whose envelope sender (MAIL FROM) or From header
// address is address, case-insensitively.
func From(address string) Matcher {
	return Match(fmt.Sprintf("From(%q)", address), func(m *Message) bool {
		return strings.EqualFold(m.Envelope().MailFrom, address) || strings.EqualFold(m.From(), address)
	})
}

// Subject matches messages whose decoded subject is exactly s.
func Subject(s string) Matcher {
	return Match(fmt.Sprintf("Subject(%q)", s), func(m *Message) bool { return m.Subject() == s })
}

// SubjectContains matches messages whose decoded subject contains s.
func SubjectContains(s string) Matcher {
	return Match(fmt.Sprintf("SubjectContains(%q)", s), func(m *Message) bool { return strings.Contains(m.Subject(), s) })
}

// Header matches messages with a header field name (case-insensitive)
// whose decoded value is exactly value.
func Header(name, value string) Matcher {
	return Match(fmt.Sprintf("Header(%q, %q)", name, value), func(m *Message) bool {
		for _, v := range headerValues(m, name) {
			if v == value {
				return true
			}
		}
		return false
	})
}

// HeaderContains matches messages with a header field name whose decoded
// value contains value.
func HeaderContains(name, value string) Matcher {
	return Match(fmt.Sprintf("HeaderContains(%q, %q)", name, value), func(m *Message) bool {
		for _, v := range headerValues(m, name) {
			if strings.Contains(v, value) {
				return true
			}
		}
		return false
	})
}

// BodyContains matches messages whose text or HTML part contains s.
func BodyContains(s string) Matcher {
	return Match(fmt.Sprintf("BodyContains(%q)", s), func(m *Message) bool {
		return strings.Contains(m.Text(), s) || strings.Contains(m.HTML(), s)
	})
}

func headerValues(m *Message, name string) []string {
	h := m.Header()
	fields := h.FieldsByKey(name)
	var out []string
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		out = append(out, v)
	}
	return out
}

func matchAll(m *Message, ms []Matcher) bool {
	for _, x := range ms {
		if !x.match(m) {
			return false
		}
	}
	return true
}

func describe(ms []Matcher) string {
	if len(ms) == 0 {
		return "any message"
	}
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.desc
	}
	return strings.Join(parts, " and ")
}

// Messages returns the received messages that match all matchers, in
// arrival order. It counts SMTP transactions: a message sent to three
// recipients is one Message, even though each recipient's INBOX holds a
// copy. Messages put straight into a mailbox with DeliverTo are not
// included (look at IMAPView for those).
func (s *Server) Messages(ms ...Matcher) []*Message {
	var out []*Message
	for _, raw := range s.store.Received() {
		if m := wrap(raw); matchAll(m, ms) {
			out = append(out, m)
		}
	}
	return out
}

// Purge forgets every received message and empties every mailbox of every
// user; users and mailboxes stay. Open IMAP sessions see the expunges.
func (s *Server) Purge() { s.store.Purge() }

// ErrTimeout is returned (wrapped) by Wait when the deadline passes first.
var ErrTimeout = errors.New("mailtest: timed out waiting for messages")

// Wait blocks until n received messages match all matchers, and returns
// the first n of them in arrival order. It wakes on each delivery, never by
// polling. It fails when ctx is done, with an error wrapping ErrTimeout
// that lists what did arrive.
func (s *Server) Wait(ctx context.Context, n int, ms ...Matcher) ([]*Message, error) {
	received, w := s.store.ReceivedAndWatch()
	defer w.Close()
	var found []*Message
	consider := func(raw *memstore.Message) bool {
		if m := wrap(raw); matchAll(m, ms) {
			found = append(found, m)
		}
		return len(found) >= n
	}
	for _, raw := range received {
		if consider(raw) {
			return found[:n], nil
		}
	}
	for {
		select {
		case <-w.C():
			for _, ev := range w.Drain() {
				if ev.Kind == memstore.EventReceived && consider(ev.Message) {
					return found[:n], nil
				}
			}
		case <-ctx.Done():
			return found, fmt.Errorf("%w: want %d matching %s, got %d; %s",
				ErrTimeout, n, describe(ms), len(found), s.arrivedSummary())
		}
	}
}

// arrivedSummary lists what was received, for failure messages.
func (s *Server) arrivedSummary() string {
	all := s.store.Received()
	if len(all) == 0 {
		return "no message was received"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d received:", len(all))
	for _, raw := range all {
		fmt.Fprintf(&b, "\n\t%s", wrap(raw))
	}
	return b.String()
}

// WaitForMessage waits for one received message matching all matchers and
// returns it. If none arrives within the wait timeout (WithWaitTimeout,
// default 5 s) it fails t, listing what did arrive.
func (s *Server) WaitForMessage(t testing.TB, ms ...Matcher) *Message {
	t.Helper()
	got := s.WaitForMessages(t, 1, ms...)
	if len(got) == 0 {
		return nil
	}
	return got[0]
}

// WaitForMessages waits for n received messages matching all matchers and
// returns the first n in arrival order, failing t on timeout like
// WaitForMessage.
func (s *Server) WaitForMessages(t testing.TB, n int, ms ...Matcher) []*Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.waitTimeout)
	defer cancel()
	got, err := s.Wait(ctx, n, ms...)
	if err != nil {
		t.Fatalf("mailtest: after %s: %v", s.cfg.waitTimeout, err)
		return nil
	}
	return got
}
