package imapfront

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailrig/mailrig/memstore"
)

// parseThread parses THREAD's arguments: SP algorithm SP charset
// 1*(SP search-key). allowed reports whether an algorithm is offered.
func parseThread(a *argReader, allowed func(imap.ThreadAlgorithm) bool) (imap.ThreadAlgorithm, string, *imap.SearchCriteria, error) {
	if err := a.sp(); err != nil {
		return "", "", nil, err
	}
	word, err := a.atom()
	if err != nil {
		return "", "", nil, syntaxErr("expected threading algorithm")
	}
	alg := imap.ThreadAlgorithm(strings.ToUpper(word))
	if (alg != imap.ThreadOrderedSubject && alg != imap.ThreadReferences) || !allowed(alg) {
		return "", "", nil, imapErr(imap.StatusResponseTypeBad, imap.ResponseCodeClientBug, "Unknown threading algorithm %s", word)
	}
	charset, search, err := parseCharsetSearch(a)
	if err != nil {
		return "", "", nil, err
	}
	return alg, charset, search, nil
}

// handleThread answers THREAD and UID THREAD.
func (fc *frontConn) handleThread(tag, name string, a *argReader) error {
	caps := fc.srv.caps
	alg, charset, search, err := parseThread(a, func(alg imap.ThreadAlgorithm) bool {
		if alg == imap.ThreadOrderedSubject {
			return !caps.hidden(capThreadOrdered)
		}
		return !caps.hidden(capThreadRefs)
	})
	if err != nil {
		return err
	}
	if err := fc.needSelected(); err != nil {
		return err
	}
	if err := fc.intercept(name, ""); err != nil {
		return err
	}
	if err := checkCharset(charset); err != nil {
		return err
	}
	hits, err := fc.sess.searchHits(search)
	if err != nil {
		return err
	}
	sel := fc.sess.sel
	var roots []*threadNode
	if alg == imap.ThreadOrderedSubject {
		roots = threadOrderedSubject(sel, hits)
	} else {
		roots = threadReferences(sel, hits)
	}
	var b bytes.Buffer
	b.WriteString("* THREAD")
	if len(roots) > 0 {
		b.WriteByte(' ')
	}
	uid := name == "UID THREAD"
	for _, r := range roots {
		b.WriteByte('(')
		writeThreadNode(&b, sel, r, uid)
		b.WriteByte(')')
	}
	b.WriteString("\r\n")
	return fc.writeResp(b.Bytes())
}

// threadNode is a message in a thread tree, or a dummy (idx -1) standing
// for a referenced message that is not in the result.
type threadNode struct {
	idx      int // view index; -1 for a dummy
	parent   *threadNode
	children []*threadNode
	date     time.Time   // sent date (RFC 5256 §2.2)
	subj     subjectInfo // base subject, for step 5
	rooted   bool        // listed among the root's children (step 2)
}

func (n *threadNode) dummy() bool { return n.idx < 0 }

// sortKey is the node's date and index for sorting siblings: a dummy's
// come from its first child (whose children are sorted first).
func (n *threadNode) sortKey() (time.Time, int) {
	for n.dummy() && len(n.children) > 0 {
		n = n.children[0]
	}
	return n.date, n.idx
}

func compareNodes(a, b *threadNode) int {
	da, ia := a.sortKey()
	db, ib := b.sortKey()
	if c := da.Compare(db); c != 0 {
		return c
	}
	return ia - ib
}

// subject is the thread subject of a node (its first child's if a dummy).
func (n *threadNode) subject() subjectInfo {
	for n.dummy() && len(n.children) > 0 {
		n = n.children[0]
	}
	return n.subj // zero for a dummy
}

// writeThreadNode writes a node: its number, then a single child inline
// or several children each in parentheses (RFC 5256 §4, thread-list).
func writeThreadNode(b *bytes.Buffer, sel *selected, n *threadNode, uid bool) {
	for {
		if n.dummy() {
			for _, c := range n.children {
				b.WriteByte('(')
				writeThreadNode(b, sel, c, uid)
				b.WriteByte(')')
			}
			return
		}
		num := uint64(n.idx + 1)
		if uid {
			num = uint64(sel.entries[n.idx].uid)
		}
		b.WriteString(strconv.FormatUint(num, 10))
		switch len(n.children) {
		case 0:
			return
		case 1:
			b.WriteByte(' ')
			n = n.children[0] // a chain: iterate, not recurse
			continue
		}
		b.WriteByte(' ')
		for _, c := range n.children {
			b.WriteByte('(')
			writeThreadNode(b, sel, c, uid)
			b.WriteByte(')')
		}
		return
	}
}

// threadOrderedSubject is ORDEREDSUBJECT (RFC 5256 §3): messages grouped
// by base subject, each group's earliest message the parent of the rest in
// sent-date order, groups ordered by their first message's sent date.
func threadOrderedSubject(sel *selected, hits []int) []*threadNode {
	type row struct {
		subj string
		date time.Time
		idx  int
	}
	rows := make([]row, len(hits))
	for j, i := range hits {
		msg := sel.entries[i].msg
		rows[j] = row{messageSubject(msg).key, sentDate(msg), i}
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := strings.Compare(a.subj, b.subj); c != 0 {
			return c
		}
		if c := a.date.Compare(b.date); c != 0 {
			return c
		}
		return a.idx - b.idx
	})
	var roots []*threadNode
	var cur *threadNode
	for j, r := range rows {
		n := &threadNode{idx: r.idx, date: r.date}
		if j > 0 && r.subj == rows[j-1].subj {
			n.parent = cur
			cur.children = append(cur.children, n)
			continue
		}
		cur = n
		roots = append(roots, n)
	}
	slices.SortStableFunc(roots, compareNodes)
	return roots
}

// threadRefs is what REFERENCES threading reads from a message, computed
// once per message.
type threadRefs struct {
	id   string   // Message-ID, "" if none is valid
	refs []string // References, or else In-Reply-To's first id
	date time.Time
	subj subjectInfo
}

type threadRefsKey struct{}

func messageRefs(m *memstore.Message) *threadRefs {
	return m.Cached(threadRefsKey{}, func() any {
		h := m.Header()
		r := &threadRefs{date: sentDate(m), subj: messageSubject(m)}
		if ids := msgIDs(h.Get("Message-Id")); len(ids) > 0 {
			r.id = ids[0]
		}
		r.refs = msgIDs(h.Get("References"))
		if len(r.refs) == 0 {
			if ids := msgIDs(h.Get("In-Reply-To")); len(ids) > 0 {
				r.refs = ids[:1]
			}
		}
		return r
	}).(*threadRefs)
}

// msgIDs extracts the "<...>" message ids of a field, leniently: anything
// non-empty between angle brackets without spaces.
func msgIDs(v string) []string {
	var ids []string
	for {
		open := strings.IndexByte(v, '<')
		if open < 0 {
			return ids
		}
		end := strings.IndexByte(v[open:], '>')
		if end < 0 {
			return ids
		}
		id := v[open+1 : open+end]
		v = v[open+end+1:]
		if id != "" && !strings.ContainsAny(id, " \t\r\n<") {
			ids = append(ids, id)
		}
	}
}

// threadReferences is REFERENCES (RFC 5256 §3), steps 1 to 6.
func threadReferences(sel *selected, hits []int) []*threadNode {
	byID := make(map[string]*threadNode, len(hits))
	// wouldLoop reports whether making parent the parent of child closes a
	// loop: parent is child or one of its descendants.
	wouldLoop := func(parent, child *threadNode) bool {
		for p := parent; p != nil; p = p.parent {
			if p == child {
				return true
			}
		}
		return false
	}
	unlink := func(n *threadNode) {
		if p := n.parent; p != nil {
			if k := slices.Index(p.children, n); k >= 0 {
				p.children = slices.Delete(p.children, k, k+1)
			}
			n.parent = nil
		}
	}
	link := func(parent, child *threadNode) {
		child.parent = parent
		parent.children = append(parent.children, child)
	}
	node := func(id string) *threadNode {
		n := byID[id]
		if n == nil {
			n = &threadNode{idx: -1}
			byID[id] = n
		}
		return n
	}
	all := make([]*threadNode, 0, len(hits))
	slab := make([]threadNode, len(hits)) // the messages' nodes, in one allocation
	// (1) Link messages by their references.
	for j, i := range hits {
		refs := messageRefs(sel.entries[i].msg)
		var n *threadNode
		if refs.id != "" {
			if n = byID[refs.id]; n != nil && !n.dummy() {
				n = nil // a duplicate Message-ID: this one gets a unique one
			}
		}
		if n == nil {
			n = &slab[j]
			if refs.id != "" && byID[refs.id] == nil {
				byID[refs.id] = n
			}
		}
		n.idx, n.date, n.subj = i, refs.date, refs.subj
		all = append(all, n)
		// (1A) Each reference is the parent of the next, unless that one
		// has a parent already or the link would close a loop.
		var prev *threadNode
		for _, id := range refs.refs {
			cur := node(id)
			if cur == n {
				prev = nil // a message that references itself
				continue
			}
			if prev != nil && cur.parent == nil && !wouldLoop(prev, cur) {
				link(prev, cur)
			}
			prev = cur
		}
		// (1B) The last reference is the message's parent, replacing any
		// link a truncated References elsewhere made.
		unlink(n)
		if prev != nil && !wouldLoop(prev, n) {
			link(prev, n)
		}
	}
	// (2) The messages without a parent, in the order first seen, are the
	// root's children; dummies too.
	var roots []*threadNode
	addRoot := func(n *threadNode) {
		for n.parent != nil {
			n = n.parent
		}
		if !n.rooted {
			n.rooted = true
			roots = append(roots, n)
		}
	}
	for _, n := range all {
		addRoot(n)
	}
	// (3) Prune dummies.
	roots = pruneDummies(roots, nil)
	// (4) Sort the root's children by sent date.
	for _, r := range roots {
		if r.dummy() {
			slices.SortStableFunc(r.children, compareNodes)
		}
	}
	slices.SortStableFunc(roots, compareNodes)
	// (5) Gather threads with the same base subject.
	roots = mergeBySubject(roots)
	// (6) Sort every set of siblings by sent date, the deepest first.
	sortSiblings(roots)
	return roots
}

// pruneDummies is step 3: a dummy without children goes; a dummy with
// children gives way to them, except at the top level, where only a dummy
// with one child does.
func pruneDummies(list []*threadNode, parent *threadNode) []*threadNode {
	out := list[:0:0]
	for _, n := range list {
		n.children = pruneDummies(n.children, n)
		if !n.dummy() {
			out = append(out, n)
			continue
		}
		if len(n.children) == 0 {
			continue
		}
		if parent != nil || len(n.children) == 1 {
			for _, c := range n.children {
				c.parent = parent
			}
			out = append(out, n.children...)
			continue
		}
		out = append(out, n)
	}
	return out
}

// mergeBySubject is step 5.
func mergeBySubject(roots []*threadNode) []*threadNode {
	table := make(map[string]*threadNode)
	isReply := func(n *threadNode) bool { return !n.dummy() && n.subj.isReply }
	// (5B) One thread per subject: prefer a dummy, then a non-reply.
	for _, n := range roots {
		subj := n.subject().key
		if subj == "" {
			continue
		}
		t, ok := table[subj]
		if !ok || (!t.dummy() && (n.dummy() || (isReply(t) && !isReply(n)))) {
			table[subj] = n
		}
	}
	// (5C) Merge the others into it.
	removed := make(map[*threadNode]bool)
	replaced := make(map[*threadNode]*threadNode)
	for _, n := range slices.Clone(roots) {
		subj := n.subject().key
		if subj == "" {
			continue
		}
		t := table[subj]
		if t == n {
			continue
		}
		switch {
		case t.dummy() && n.dummy():
			for _, c := range n.children {
				c.parent = t
			}
			t.children = append(t.children, n.children...)
		case t.dummy() || (isReply(n) && !isReply(t)):
			n.parent = t
			t.children = append(t.children, n)
		default:
			d := &threadNode{idx: -1}
			t.parent, n.parent = d, d
			d.children = []*threadNode{t, n}
			replaced[t] = d // t is never a dummy here, so never replaced twice
			table[subj] = d
		}
		removed[n] = true
	}
	out := roots[:0:0]
	for _, n := range roots {
		if removed[n] {
			continue
		}
		if d, ok := replaced[n]; ok {
			n = d
		}
		out = append(out, n)
	}
	return out
}

// sortSiblings sorts each set of siblings, children before their parents,
// so that a dummy sorts by its earliest child.
func sortSiblings(list []*threadNode) {
	for _, n := range list {
		if len(n.children) > 0 {
			sortSiblings(n.children)
		}
	}
	slices.SortStableFunc(list, compareNodes)
}
