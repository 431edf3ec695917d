package imapfront

import (
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"
)

// resolve turns a sequence set, UID set or "$" into view indexes in
// ascending order. Numbers outside the view are ignored, as is usual for
// UIDs; "*" is the last message the client knows.
func (sel *selected) resolve(set imap.NumSet) []int {
	n := len(sel.entries)
	if n == 0 {
		return nil
	}
	var out []int
	switch set := set.(type) {
	case imap.SeqSet:
		for _, r := range set {
			start, stop := seqBound(r.Start, n), seqBound(r.Stop, n)
			if start > stop {
				start, stop = stop, start
			}
			for seq := start; seq <= stop && seq <= uint32(n); seq++ {
				if seq >= 1 {
					out = append(out, int(seq-1))
				}
			}
		}
	case imap.UIDSet:
		if imap.IsSearchRes(set) {
			for _, uid := range sel.searchRes {
				if i := sel.index(uid); i >= 0 {
					out = append(out, i)
				}
			}
			break
		}
		maxUID := sel.entries[n-1].uid
		for _, r := range set {
			start, stop := uidBound(uint32(r.Start), maxUID), uidBound(uint32(r.Stop), maxUID)
			if start > stop {
				start, stop = stop, start
			}
			lo := sort.Search(n, func(i int) bool { return sel.entries[i].uid >= start })
			for i := lo; i < n && sel.entries[i].uid <= stop; i++ {
				out = append(out, i)
			}
		}
	}
	if len(out) > 1 && !slices.IsSorted(out) {
		slices.Sort(out)
	}
	return slices.Compact(out)
}

// seqBound maps "*" (0) to the last sequence number.
func seqBound(v uint32, n int) uint32 {
	if v == 0 {
		return uint32(n)
	}
	return v
}

// uidBound maps "*" (0) to the largest UID in the view.
func uidBound(v, maxUID uint32) uint32 {
	if v == 0 {
		return maxUID
	}
	return v
}

// isUIDSet reports whether a command addressed messages by UID; "$" counts
// as UIDs, since go-imap parses it as a UID set whatever the command.
func isUIDSet(set imap.NumSet) bool {
	_, ok := set.(imap.UIDSet)
	return ok
}
