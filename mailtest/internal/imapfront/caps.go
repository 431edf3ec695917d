package imapfront

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Capability names that Options.Disable understands besides the imap.Cap
// values.
const capStartTLS = imap.CapStartTLS

// advertisedCaps are handed to go-imap, which adds SASL-IR, LITERAL-,
// AUTH=PLAIN, STARTTLS, LOGINDISABLED, UNSELECT, ENABLE, IDLE, UTF8=ACCEPT
// and APPENDLIMIT=n by itself where they apply.
var advertisedCaps = []imap.Cap{
	imap.CapIMAP4rev1,
	imap.CapIMAP4rev2,
	imap.CapNamespace,
	imap.CapUIDPlus,
	imap.CapESearch,
	imap.CapSearchRes,
	imap.CapListExtended,
	imap.CapListStatus,
	imap.CapMove,
	imap.CapStatusSize,
	imap.CapBinary,
	imap.CapChildren,
	imap.CapSpecialUse,
	imap.CapCreateSpecialUse,
	imap.CapLiteralPlus,
}

// rev2Includes are the extensions IMAP4rev2 makes mandatory: hiding one of
// them means the server is no longer IMAP4rev2.
var rev2Includes = map[imap.Cap]bool{
	imap.CapNamespace:    true,
	imap.CapUIDPlus:      true,
	imap.CapESearch:      true,
	imap.CapSearchRes:    true,
	imap.CapListExtended: true,
	imap.CapListStatus:   true,
	imap.CapMove:         true,
	imap.CapStatusSize:   true,
	imap.CapBinary:       true,
	imap.CapChildren:     true,
	imap.CapSpecialUse:   true,
	imap.CapIdle:         true,
	imap.CapUnselect:     true,
}

// Hideable lists the capabilities Options.Disable accepts (matched
// case-insensitively); a caller refuses other names, so a misspelt one is
// an error instead of hiding nothing.
var Hideable = []string{
	"MOVE", "UIDPLUS", "IDLE", "SPECIAL-USE", "CREATE-SPECIAL-USE", "STARTTLS",
	"NAMESPACE", "ESEARCH", "SEARCHRES", "LIST-STATUS", "STATUS=SIZE",
	"BINARY", "CHILDREN", "LITERAL+", "IMAP4rev2",
}

// capSet records which capabilities Options.Disable hid.
type capSet struct {
	off map[imap.Cap]bool
}

func newCapSet(disable []string) capSet {
	cs := capSet{off: make(map[imap.Cap]bool)}
	for _, name := range disable {
		c := canonicalCap(name)
		cs.off[c] = true
		if rev2Includes[c] {
			cs.off[imap.CapIMAP4rev2] = true
		}
	}
	// CREATE-SPECIAL-USE makes no sense without SPECIAL-USE.
	if cs.off[imap.CapSpecialUse] {
		cs.off[imap.CapCreateSpecialUse] = true
	}
	return cs
}

// canonicalCap matches a name against the known capabilities
// case-insensitively.
func canonicalCap(name string) imap.Cap {
	name = strings.TrimSpace(name)
	for _, c := range append(advertisedCaps, imap.CapIdle, imap.CapUnselect, capStartTLS) {
		if strings.EqualFold(string(c), name) {
			return c
		}
	}
	return imap.Cap(strings.ToUpper(name))
}

func (cs capSet) hidden(c imap.Cap) bool { return cs.off[c] }

// advertised is the CapSet for go-imap's Options.Caps.
func (cs capSet) advertised() imap.CapSet {
	set := make(imap.CapSet)
	for _, c := range advertisedCaps {
		if !cs.off[c] {
			set[c] = struct{}{}
		}
	}
	return set
}

// refuseHidden is the reply to a command whose capability is hidden.
func refuseHidden(c imap.Cap) error {
	return imapErr(imap.StatusResponseTypeBad, imap.ResponseCodeClientBug, "%s is not supported", c)
}
