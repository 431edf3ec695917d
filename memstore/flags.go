package memstore

import (
	"slices"
	"strings"
)

// System flags, spelled canonically as IMAP sends them.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// systemFlags is the stable order flags are listed in: system flags first,
// in this order, then keywords sorted case-insensitively.
var systemFlags = [...]string{FlagSeen, FlagAnswered, FlagFlagged, FlagDeleted, FlagDraft}

// Flags is an immutable set of message flags and keywords. Names match
// case-insensitively; system flags are stored in their canonical spelling
// and keywords in the spelling first used.
type Flags struct {
	system   uint8
	keywords []string // sorted by strings.ToLower, no case-insensitive duplicates
}

// NewFlags returns the set of the given flags. Unknown backslash flags other
// than the five system flags (e.g. \Recent, which is per session) are dropped.
func NewFlags(names ...string) Flags {
	var f Flags
	for _, n := range names {
		f = f.with(n)
	}
	return f
}

func systemBit(name string) (uint8, bool) {
	for i, s := range systemFlags {
		if strings.EqualFold(s, name) {
			return 1 << i, true
		}
	}
	return 0, false
}

// CanonicalFlag returns the canonical spelling of a system flag (`\seen` →
// `\Seen`, as FlagSeen spells it) and returns other names (keywords)
// unchanged.
func CanonicalFlag(name string) string {
	if bit, ok := systemBit(name); ok {
		for i := range systemFlags {
			if bit == 1<<i {
				return systemFlags[i]
			}
		}
	}
	return name
}

func (f Flags) with(name string) Flags {
	if name == "" {
		return f
	}
	if bit, ok := systemBit(name); ok {
		f.system |= bit
		return f
	}
	if strings.HasPrefix(name, `\`) {
		return f
	}
	i, found := f.search(name)
	if found {
		return f
	}
	f.keywords = slices.Insert(slices.Clip(f.keywords), i, name)
	return f
}

func (f Flags) without(name string) Flags {
	if bit, ok := systemBit(name); ok {
		f.system &^= bit
		return f
	}
	i, found := f.search(name)
	if !found {
		return f
	}
	f.keywords = slices.Delete(slices.Clone(f.keywords), i, i+1)
	return f
}

func (f Flags) search(name string) (int, bool) {
	return slices.BinarySearchFunc(f.keywords, name, func(a, b string) int {
		return strings.Compare(strings.ToLower(a), strings.ToLower(b))
	})
}

// Has reports whether the set holds name, compared case-insensitively.
func (f Flags) Has(name string) bool {
	if bit, ok := systemBit(name); ok {
		return f.system&bit != 0
	}
	_, found := f.search(name)
	return found
}

// Union returns f with every flag of g added.
func (f Flags) Union(g Flags) Flags {
	f.system |= g.system
	for _, k := range g.keywords {
		f = f.with(k)
	}
	return f
}

// Minus returns f without the flags of g.
func (f Flags) Minus(g Flags) Flags {
	f.system &^= g.system
	for _, k := range g.keywords {
		f = f.without(k)
	}
	return f
}

// Equal reports whether f and g hold the same flags.
func (f Flags) Equal(g Flags) bool {
	return f.system == g.system && slices.EqualFunc(f.keywords, g.keywords, strings.EqualFold)
}

// Keywords returns the keywords (flags without a backslash) in stable order.
func (f Flags) Keywords() []string { return slices.Clone(f.keywords) }

// List returns the flags in their stable order: system flags as \Seen,
// \Answered, \Flagged, \Deleted, \Draft, then keywords sorted
// case-insensitively.
func (f Flags) List() []string {
	out := make([]string, 0, 5+len(f.keywords))
	for i, s := range systemFlags {
		if f.system&(1<<i) != 0 {
			out = append(out, s)
		}
	}
	return append(out, f.keywords...)
}

// Len returns the number of flags in the set.
func (f Flags) Len() int {
	n := len(f.keywords)
	for s := f.system; s != 0; s &= s - 1 {
		n++
	}
	return n
}

// String lists the flags separated by spaces, in stable order.
func (f Flags) String() string { return strings.Join(f.List(), " ") }

// FlagOp says how Mailbox.SetFlags combines the given flags with the present ones.
type FlagOp int

// The three ways to change flags, as in IMAP STORE. They are operations,
// not flags: the flags themselves are FlagSeen, FlagAnswered and so on.
const (
	AddFlags     FlagOp = iota // +FLAGS
	RemoveFlags                // -FLAGS
	ReplaceFlags               // FLAGS
)

func (op FlagOp) apply(cur, f Flags) Flags {
	switch op {
	case AddFlags:
		return cur.Union(f)
	case RemoveFlags:
		return cur.Minus(f)
	default:
		return f
	}
}
