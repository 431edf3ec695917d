package imapfront

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailrig/mailrig/memstore"
)

// sortCriterion is one sort key of SORT (RFC 5256, RFC 5957).
type sortCriterion struct {
	key     string // upper case: ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, DISPLAYFROM, DISPLAYTO
	reverse bool
}

// sortRequest is a parsed SORT command.
type sortRequest struct {
	criteria []sortCriterion
	charset  string
	search   *imap.SearchCriteria
}

// parseSort parses SORT's arguments: SP "(" sort-criteria ")" SP charset
// 1*(SP search-key). display allows RFC 5957's DISPLAYFROM and DISPLAYTO.
func parseSort(a *argReader, display bool) (*sortRequest, error) {
	req := &sortRequest{}
	if err := a.sp(); err != nil {
		return nil, err
	}
	if err := a.special('('); err != nil {
		return nil, err
	}
	for {
		word, err := a.atom()
		if err != nil {
			return nil, syntaxErr("expected sort key")
		}
		var c sortCriterion
		if strings.EqualFold(word, "REVERSE") {
			c.reverse = true
			if err := a.sp(); err != nil {
				return nil, err
			}
			if word, err = a.atom(); err != nil {
				return nil, syntaxErr("expected sort key")
			}
		}
		c.key = strings.ToUpper(word)
		switch c.key {
		case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO":
		case "DISPLAYFROM", "DISPLAYTO":
			if !display {
				return nil, imapErr(imap.StatusResponseTypeBad, imap.ResponseCodeClientBug, "Unknown sort key %s", word)
			}
		default:
			return nil, imapErr(imap.StatusResponseTypeBad, imap.ResponseCodeClientBug, "Unknown sort key %s", word)
		}
		req.criteria = append(req.criteria, c)
		if a.peek() == ')' {
			a.pos++
			break
		}
		if err := a.sp(); err != nil {
			return nil, err
		}
	}
	var err error
	if req.charset, req.search, err = parseCharsetSearch(a); err != nil {
		return nil, err
	}
	return req, nil
}

// parseCharsetSearch parses SP charset 1*(SP search-key) CRLF, the tail
// SORT and THREAD share.
func parseCharsetSearch(a *argReader) (string, *imap.SearchCriteria, error) {
	if err := a.sp(); err != nil {
		return "", nil, err
	}
	charset, err := a.astring()
	if err != nil {
		return "", nil, syntaxErr("expected charset")
	}
	if err := a.sp(); err != nil {
		return "", nil, err
	}
	search, err := a.searchKeys()
	if err != nil {
		return "", nil, err
	}
	if err := a.end(); err != nil {
		return "", nil, err
	}
	return charset, search, nil
}

// checkCharset accepts the charsets search strings are compared in.
func checkCharset(charset string) error {
	if strings.EqualFold(charset, "UTF-8") || strings.EqualFold(charset, "US-ASCII") {
		return nil
	}
	return imapErr(imap.StatusResponseTypeNo, "BADCHARSET (US-ASCII UTF-8)", "Unsupported charset %s", charset)
}

// handleSort answers SORT and UID SORT.
func (fc *frontConn) handleSort(tag, name string, a *argReader) error {
	req, err := parseSort(a, !fc.srv.caps.hidden(capSortDisplay))
	if err != nil {
		return err
	}
	if err := fc.needSelected(); err != nil {
		return err
	}
	if err := fc.intercept(name, ""); err != nil {
		return err
	}
	if err := checkCharset(req.charset); err != nil {
		return err
	}
	hits, err := fc.sess.searchHits(req.search)
	if err != nil {
		return err
	}
	sel := fc.sess.sel
	sortHits(sel, hits, req.criteria)
	var b bytes.Buffer
	b.WriteString("* SORT")
	writeNums(&b, sel, hits, name == "UID SORT")
	b.WriteString("\r\n")
	return fc.writeResp(b.Bytes())
}

// writeNums appends " n" for each hit: its sequence number or UID.
func writeNums(b *bytes.Buffer, sel *selected, hits []int, uid bool) {
	var num [12]byte
	for _, i := range hits {
		n := uint64(i + 1)
		if uid {
			n = uint64(sel.entries[i].uid)
		}
		b.WriteByte(' ')
		b.Write(strconv.AppendUint(num[:0], n, 10))
	}
}

// sortHits orders hits (view indexes, ascending) by criteria. Messages
// equal by every criterion keep their mailbox order (RFC 5256 §3). The keys
// are computed once per message, into one flat slice.
func sortHits(sel *selected, hits []int, criteria []sortCriterion) {
	type sortVal struct {
		n, frac int64 // a number, or a time as Unix seconds and nanoseconds
		s       string
	}
	k := len(criteria)
	vals := make([]sortVal, len(hits)*k)
	for j, i := range hits {
		msg := sel.entries[i].msg
		for c, cr := range criteria {
			v := &vals[j*k+c]
			switch cr.key {
			case "ARRIVAL", "DATE":
				t := msg.ReceivedAt()
				if cr.key == "DATE" {
					t = sentDate(msg)
				}
				v.n, v.frac = t.Unix(), int64(t.Nanosecond())
			case "SIZE":
				v.n = msg.Size()
			default:
				v.s = sortString(msg, cr.key)
			}
		}
	}
	order := make([]int32, len(hits))
	for j := range order {
		order[j] = int32(j)
	}
	slices.SortStableFunc(order, func(x, y int32) int {
		for c, cr := range criteria {
			a, b := &vals[int(x)*k+c], &vals[int(y)*k+c]
			d := cmp.Compare(a.n, b.n)
			if d == 0 {
				d = cmp.Compare(a.frac, b.frac)
			}
			if d == 0 {
				d = strings.Compare(a.s, b.s)
			}
			if cr.reverse {
				d = -d
			}
			if d != 0 {
				return d
			}
		}
		return 0
	})
	sorted := make([]int, len(hits))
	for j, o := range order {
		sorted[j] = hits[o]
	}
	copy(hits, sorted)
}

// sortString is the string a message sorts by for key, upper-cased for
// the i;ascii-casemap collation.
func sortString(msg *memstore.Message, key string) string {
	env := messageEnvelope(msg)
	switch key {
	case "SUBJECT":
		return messageSubject(msg).key
	case "FROM":
		return asciiUpper(firstMailbox(env.From).Mailbox)
	case "TO":
		return asciiUpper(firstMailbox(env.To).Mailbox)
	case "CC":
		return asciiUpper(firstMailbox(env.Cc).Mailbox)
	case "DISPLAYFROM":
		return asciiUpper(displayName(firstMailbox(env.From)))
	case "DISPLAYTO":
		return asciiUpper(displayName(firstMailbox(env.To)))
	}
	return ""
}

// firstMailbox is the first address of a list that is not a group marker.
func firstMailbox(list []imap.Address) imap.Address {
	for _, a := range list {
		if a.Host != "" {
			return a
		}
	}
	return imap.Address{}
}

// displayName is RFC 5957's sort string: the decoded display name, or the
// addr-spec when the name is empty.
func displayName(a imap.Address) string {
	name := a.Name
	if strings.Contains(name, "=?") {
		if dec, err := wordDecoder.DecodeHeader(name); err == nil {
			name = dec
		}
	}
	if name = strings.TrimSpace(name); name != "" {
		return name
	}
	if a.Mailbox == "" {
		return ""
	}
	return a.Mailbox + "@" + a.Host
}
