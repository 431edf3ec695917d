package imapfront

import (
	"fmt"
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

// Capabilities of the command layer (see doc.go), which go-imap does not
// know.
const (
	capSort          = imap.CapSort
	capSortDisplay   = imap.CapSortDisplay
	capThreadOrdered = imap.Cap("THREAD=ORDEREDSUBJECT")
	capThreadRefs    = imap.Cap("THREAD=REFERENCES")
	capQuotaStorage  = imap.Cap("QUOTA=RES-STORAGE")
	capQuotaMessage  = imap.Cap("QUOTA=RES-MESSAGE")
)

// layerCaps are the hideable capabilities the command layer implements.
var layerCaps = []imap.Cap{imap.CapID, imap.CapQuota, capQuotaMessage, capSort, capSortDisplay, capThreadOrdered, capThreadRefs}

// capSet records which capabilities Options.Disable hid.
type capSet struct {
	off map[imap.Cap]bool
}

func newCapSet(disable []string) capSet {
	cs := capSet{off: make(map[imap.Cap]bool)}
	for _, name := range disable {
		c, _ := canonicalCap(name)
		cs.off[c] = true
		if rev2Includes[c] {
			cs.off[imap.CapIMAP4rev2] = true
		}
	}
	// CREATE-SPECIAL-USE makes no sense without SPECIAL-USE, nor
	// SORT=DISPLAY without SORT, nor a QUOTA resource without QUOTA.
	if cs.off[imap.CapSpecialUse] {
		cs.off[imap.CapCreateSpecialUse] = true
	}
	if cs.off[imap.CapQuota] {
		cs.off[capQuotaMessage] = true
	}
	if cs.off[capSort] {
		cs.off[capSortDisplay] = true
	}
	return cs
}

// Hideable lists the capabilities Options.Disable accepts.
var Hideable = hideable()

func hideable() []string {
	var names []string
	for _, c := range advertisedCaps {
		names = append(names, string(c))
	}
	names = append(names, string(imap.CapIdle), string(imap.CapUnselect), string(capStartTLS))
	for _, c := range layerCaps {
		names = append(names, string(c))
	}
	return names
}

// canonicalCap matches a name against the hideable capabilities
// case-insensitively; ok is false for a name it does not know.
func canonicalCap(name string) (c imap.Cap, ok bool) {
	name = strings.TrimSpace(name)
	for _, h := range Hideable {
		if strings.EqualFold(h, name) {
			return imap.Cap(h), true
		}
	}
	return imap.Cap(strings.ToUpper(name)), false
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

// list is the CAPABILITY list for a connection: the one the greeting, a
// CAPABILITY command and the tagged OK of LOGIN and AUTHENTICATE carry.
// Before login it holds every capability that does not depend on the user
// (RFC 9051 §7.2.2), so that clients that read it only once (Python's
// imaplib) see IDLE and the rest; after login the same list without
// STARTTLS, AUTH= and LOGINDISABLED.
func (cs capSet) list(loggedIn, tlsOn, startTLS, canAuth, setQuota bool, appendLimit uint32) []string {
	var caps []string
	add := func(c imap.Cap) {
		if !cs.off[c] {
			caps = append(caps, string(c))
		}
	}
	add(imap.CapIMAP4rev2)
	caps = append(caps, string(imap.CapIMAP4rev1), string(imap.CapSASLIR), string(imap.CapLiteralMinus))
	if !loggedIn {
		if startTLS && !tlsOn {
			add(capStartTLS)
		}
		if canAuth {
			caps = append(caps, "AUTH=PLAIN")
		} else {
			caps = append(caps, string(imap.CapLoginDisabled))
		}
	}
	add(imap.CapUnselect)
	caps = append(caps, string(imap.CapEnable))
	add(imap.CapIdle)
	caps = append(caps, string(imap.CapUTF8Accept))
	for _, c := range advertisedCaps {
		if c != imap.CapIMAP4rev1 && c != imap.CapIMAP4rev2 {
			add(c)
		}
	}
	caps = append(caps, fmt.Sprintf("APPENDLIMIT=%d", appendLimit))
	add(imap.CapID)
	if !cs.off[imap.CapQuota] {
		caps = append(caps, string(imap.CapQuota), string(capQuotaStorage))
		add(capQuotaMessage)
		if setQuota {
			caps = append(caps, string(imap.CapQuotaSet))
		}
	}
	add(capSort)
	add(capSortDisplay)
	add(capThreadOrdered)
	add(capThreadRefs)
	return caps
}
