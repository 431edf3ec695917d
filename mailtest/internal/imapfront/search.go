package imapfront

import (
	"bytes"
	"io"
	"mime"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"

	"github.com/mailrig/mailrig/memstore"
)

// wordDecoder decodes RFC 2047 encoded words in any charset go-message knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// Search answers SEARCH and UID SEARCH, with ESEARCH return options and
// SEARCHRES (SAVE and $).
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	sel := s.sel
	name := "SEARCH"
	if kind == imapserver.NumKindUID {
		name = "UID SEARCH"
	}
	if err := s.intercept(name, sel.name); err != nil {
		return nil, err
	}
	if options.ReturnSave && s.srv.caps.hidden(imap.CapSearchRes) {
		return nil, refuseHidden(imap.CapSearchRes)
	}
	if (options.ReturnMin || options.ReturnMax || options.ReturnCount) && s.srv.caps.hidden(imap.CapESearch) && !s.rev2() {
		return nil, refuseHidden(imap.CapESearch)
	}
	hits, err := s.searchHits(criteria)
	if err != nil {
		return nil, err
	}

	data := &imap.SearchData{Count: uint32(len(hits))}
	num := func(i int) uint32 {
		if kind == imapserver.NumKindUID {
			return sel.entries[i].uid
		}
		return uint32(i + 1)
	}
	if len(hits) > 0 {
		data.Min, data.Max = num(hits[0]), num(hits[len(hits)-1])
	}
	if kind == imapserver.NumKindUID {
		var set imap.UIDSet
		addRuns(hits, num, func(a, b uint32) { set.AddRange(imap.UID(a), imap.UID(b)) })
		data.All = set
	} else {
		var set imap.SeqSet
		addRuns(hits, num, func(a, b uint32) { set.AddRange(a, b) })
		data.All = set
	}

	if options.ReturnSave {
		// RFC 5182 §2.4: with only MIN and/or MAX, just those are saved.
		var saved []int
		switch {
		case options.ReturnAll || options.ReturnCount || !(options.ReturnMin || options.ReturnMax):
			saved = hits
		case len(hits) > 0:
			if options.ReturnMin {
				saved = append(saved, hits[0])
			}
			if options.ReturnMax && len(hits) > 1 {
				saved = append(saved, hits[len(hits)-1])
			}
		}
		sel.searchRes = make([]uint32, len(saved))
		for j, i := range saved {
			sel.searchRes[j] = sel.entries[i].uid
		}
	}
	return data, nil
}

// searchHits returns the view indexes of the messages that match criteria,
// in order. SEARCH, SORT and THREAD all select their messages through it,
// so a search key means the same in each.
func (s *session) searchHits(criteria *imap.SearchCriteria) ([]int, error) {
	if usesSearchRes(criteria) && s.srv.caps.hidden(imap.CapSearchRes) {
		return nil, refuseHidden(imap.CapSearchRes)
	}
	m := newMatcher(s, criteria)
	if m.unsupported != "" {
		return nil, imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeCannot, "%s is not supported", m.unsupported)
	}
	return m.matches(criteria), nil
}

// addRuns feeds ascending indexes to add as runs of consecutive numbers, so
// that SEARCH ALL on a big mailbox builds one range, not thousands.
func addRuns(idx []int, num func(int) uint32, add func(a, b uint32)) {
	for j := 0; j < len(idx); {
		start := num(idx[j])
		end := start
		k := j + 1
		for k < len(idx) && num(idx[k]) == end+1 {
			end++
			k++
		}
		add(start, end)
		j = k
	}
}

func usesSearchRes(c *imap.SearchCriteria) bool {
	for _, u := range c.UID {
		if imap.IsSearchRes(u) {
			return true
		}
	}
	for i := range c.Not {
		if usesSearchRes(&c.Not[i]) {
			return true
		}
	}
	for _, or := range c.Or {
		if usesSearchRes(&or[0]) || usesSearchRes(&or[1]) {
			return true
		}
	}
	return false
}

// matcher evaluates search criteria against the view.
type matcher struct {
	sel         *selected
	rev2        bool
	maxUID      uint32
	unsupported string
}

func newMatcher(s *session, c *imap.SearchCriteria) *matcher {
	m := &matcher{sel: s.sel, rev2: s.rev2()}
	if n := len(s.sel.entries); n > 0 {
		m.maxUID = s.sel.entries[n-1].uid
	}
	m.check(c)
	return m
}

func (m *matcher) check(c *imap.SearchCriteria) {
	if c.ModSeq != nil {
		m.unsupported = "MODSEQ"
	}
	for i := range c.Not {
		m.check(&c.Not[i])
	}
	for _, or := range c.Or {
		m.check(&or[0])
		m.check(&or[1])
	}
}

// matches returns the indexes of the entries that match c, in order.
func (m *matcher) matches(c *imap.SearchCriteria) []int {
	if reflect.ValueOf(c).Elem().IsZero() {
		// SEARCH ALL, or no key at all: every message, without asking
		// match for each. IsZero, unlike a list of fields, cannot miss a
		// criterion a newer go-imap adds.
		hits := make([]int, len(m.sel.entries))
		for i := range hits {
			hits[i] = i
		}
		return hits
	}
	var hits []int
	for i := range m.sel.entries {
		if m.match(i, c) {
			hits = append(hits, i)
		}
	}
	return hits
}

func (m *matcher) match(i int, c *imap.SearchCriteria) bool {
	e := &m.sel.entries[i]
	seq := uint32(i + 1)
	n := uint32(len(m.sel.entries))
	for _, set := range c.SeqNum {
		if !inSeqSet(set, seq, n) {
			return false
		}
	}
	for _, set := range c.UID {
		if !m.inUIDSet(set, e.uid) {
			return false
		}
	}
	for _, f := range c.Flag {
		if !m.hasFlag(e, f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if m.hasFlag(e, f) {
			return false
		}
	}
	size := e.msg.Size()
	if c.Larger > 0 && size <= c.Larger {
		return false
	}
	if c.Smaller > 0 && size >= c.Smaller {
		return false
	}
	if !c.Since.IsZero() || !c.Before.IsZero() {
		if !inDateRange(e.msg.ReceivedAt(), c.Since, c.Before) {
			return false
		}
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		if !inDateRange(sentDate(e.msg), c.SentSince, c.SentBefore) {
			return false
		}
	}
	for _, hf := range c.Header {
		if !matchHeader(e.msg, hf.Key, hf.Value) {
			return false
		}
	}
	for _, b := range c.Body {
		if !matchBody(e.msg, b) {
			return false
		}
	}
	for _, t := range c.Text {
		if !matchText(e.msg, t) {
			return false
		}
	}
	for j := range c.Not {
		if m.match(i, &c.Not[j]) {
			return false
		}
	}
	for _, or := range c.Or {
		if !m.match(i, &or[0]) && !m.match(i, &or[1]) {
			return false
		}
	}
	return true
}

func inSeqSet(set imap.SeqSet, seq, n uint32) bool {
	for _, r := range set {
		a, b := seqBound(r.Start, int(n)), seqBound(r.Stop, int(n))
		if a > b {
			a, b = b, a
		}
		if seq >= a && seq <= b {
			return true
		}
	}
	return false
}

func (m *matcher) inUIDSet(set imap.UIDSet, uid uint32) bool {
	if imap.IsSearchRes(set) {
		for _, u := range m.sel.searchRes {
			if u == uid {
				return true
			}
		}
		return false
	}
	for _, r := range set {
		a, b := uidBound(uint32(r.Start), m.maxUID), uidBound(uint32(r.Stop), m.maxUID)
		if a > b {
			a, b = b, a
		}
		if uid >= a && uid <= b {
			return true
		}
	}
	return false
}

func (m *matcher) hasFlag(e *viewEntry, f imap.Flag) bool {
	if strings.EqualFold(string(f), `\Recent`) {
		return m.sel.isRecent(e.uid)
	}
	return e.flags.Has(string(f))
}

// inDateRange compares calendar dates, ignoring time and zone as RFC 3501
// asks: the message's date in its own zone against the criterion's date.
func inDateRange(t, since, before time.Time) bool {
	y, mo, d := t.Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && day.Before(dateOnly(since)) {
		return false
	}
	if !before.IsZero() && !day.Before(dateOnly(before)) {
		return false
	}
	return true
}

func dateOnly(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

// containsFold reports whether s contains sub, ignoring case. The ASCII
// case is the common one and avoids allocating.
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	if isASCII(sub) && isASCII(s) {
		return indexASCIIFold(s, sub) >= 0
	}
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func indexASCIIFold(s, sub string) int {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if lowerASCII(s[i]) == lowerASCII(sub[0]) && asciiEqualFold(s[i:i+n], sub) {
			return i
		}
	}
	return -1
}

func asciiEqualFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// matchHeader is SEARCH HEADER (and FROM, TO, CC, BCC, SUBJECT): a
// case-insensitive substring of the decoded field. An empty value matches
// every message that has the field. It reads memstore's parsed header.
func matchHeader(msg *memstore.Message, key, value string) bool {
	h := msg.Header()
	values := h.Values(key) // nil when the field is absent
	if len(values) == 0 {
		return false
	}
	if value == "" {
		return true
	}
	for _, v := range values {
		if strings.Contains(v, "=?") {
			if dec, err := wordDecoder.DecodeHeader(v); err == nil {
				v = dec
			}
		}
		if containsFold(v, value) {
			return true
		}
	}
	return false
}

// matchBody is SEARCH BODY: the raw body, or failing that the decoded text
// parts (base64 or quoted-printable hides words from the raw match).
func matchBody(msg *memstore.Message, value string) bool {
	if containsFoldBytes(msg.Body(), value) {
		return true
	}
	return containsFold(decodedText(msg), value)
}

// matchText is SEARCH TEXT: header or body.
func matchText(msg *memstore.Message, value string) bool {
	if containsFoldBytes(msg.HeaderBytes(), value) {
		return true
	}
	h := msg.Header() // a copy of the shared header; Fields only reads it
	for f := h.Fields(); f.Next(); {
		v := f.Value()
		if strings.Contains(v, "=?") {
			if dec, err := wordDecoder.DecodeHeader(v); err == nil && containsFold(dec, value) {
				return true
			}
		}
	}
	return matchBody(msg, value)
}

func containsFoldBytes(b []byte, sub string) bool {
	if isASCII(sub) {
		return bytesIndexASCIIFold(b, sub)
	}
	if !utf8.Valid(b) {
		return false
	}
	return containsFold(string(b), sub)
}

func bytesIndexASCIIFold(b []byte, sub string) bool {
	if sub == "" {
		return true
	}
	first := [2]byte{lowerASCII(sub[0]), sub[0]}
	if 'a' <= first[0] && first[0] <= 'z' {
		first[1] = first[0] - ('a' - 'A')
	} else {
		first[1] = first[0]
	}
	n := len(sub)
	for i := 0; i+n <= len(b); {
		j := bytes.IndexAny(b[i:len(b)-n+1], string(first[:]))
		if j < 0 {
			return false
		}
		i += j
		if asciiEqualFold(string(b[i:i+n]), sub) {
			return true
		}
		i++
	}
	return false
}

type decodedTextKey struct{}

// decodedText is the transfer-decoded, charset-converted text of the
// message's text/* parts, computed once.
func decodedText(msg *memstore.Message) string {
	return msg.Cached(decodedTextKey{}, func() any {
		ent, err := gomessage.Read(bytes.NewReader(msg.Raw()))
		if ent == nil {
			return ""
		}
		_ = err // unknown charsets still yield raw text
		var b strings.Builder
		_ = ent.Walk(func(_ []int, part *gomessage.Entity, _ error) error {
			if part.MultipartReader() != nil {
				return nil
			}
			t, _, _ := part.Header.ContentType()
			if t != "" && !strings.HasPrefix(t, "text/") {
				return nil
			}
			body, _ := io.ReadAll(io.LimitReader(part.Body, 16<<20))
			b.Write(body)
			b.WriteByte('\n')
			return nil
		})
		return b.String()
	}).(string)
}
