package imapfront

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailrig/mailrig/memstore"
)

// The user's quota is one quota root, "", over all the user's mailboxes,
// with two resources (RFC 9208 §5): STORAGE, in units of 1024 octets, from
// memstore's User.SetQuota, and MESSAGE, the number of messages, from
// User.SetMessageQuota. QUOTA=RES-MESSAGE can be hidden; the server then
// neither reports nor sets MESSAGE, like a server without it (the store
// still enforces a limit a test set).
//
// A QUOTA response lists only the resources that have a limit: RFC 9208
// §4.2.2 says resources not named in the list are not limited, and an
// empty list means the root has no limits. Listing an unlimited resource
// would need a limit number the store does not have, and a made-up one
// (0, or the int64 maximum) would show clients a full or a huge quota.
const quotaRoot = ""

// quotaLine is the QUOTA response for u: STORAGE usage rounded up, so a
// mailbox that holds anything never shows 0, and its limit rounded down;
// MESSAGE as counted, unless withMessage is false.
func quotaLine(u *memstore.User, withMessage bool) string {
	var res []string
	if limit, used := u.Quota(); limit > 0 {
		res = append(res, "STORAGE "+strconv.FormatInt((used+1023)/1024, 10)+" "+strconv.FormatInt(limit/1024, 10))
	}
	if limit, used := u.MessageQuota(); withMessage && limit > 0 {
		res = append(res, "MESSAGE "+strconv.FormatInt(used, 10)+" "+strconv.FormatInt(limit, 10))
	}
	return `* QUOTA "" (` + strings.Join(res, " ") + ")\r\n"
}

// handleQuota answers GETQUOTAROOT, GETQUOTA and SETQUOTA.
func (fc *frontConn) handleQuota(tag, name string, a *argReader) error {
	if err := a.sp(); err != nil {
		return err
	}
	switch name {
	case "GETQUOTAROOT":
		mailbox, spelled, err := a.mailbox()
		if err != nil {
			return err
		}
		if err := a.end(); err != nil {
			return err
		}
		if err := fc.needAuth(); err != nil {
			return err
		}
		if err := fc.intercept(name, mailbox); err != nil {
			return err
		}
		u := fc.sess.user
		if _, err := u.Mailbox(mailbox); err != nil {
			return storeError(err, "GETQUOTAROOT")
		}
		return fc.writeResp([]byte("* QUOTAROOT " + astringOut(spelled) + ` ""` + "\r\n" + quotaLine(u, fc.withMessageQuota())))
	case "GETQUOTA":
		root, err := a.astring()
		if err != nil {
			return err
		}
		if err := a.end(); err != nil {
			return err
		}
		if err := fc.needAuth(); err != nil {
			return err
		}
		if err := fc.intercept(name, ""); err != nil {
			return err
		}
		if root != quotaRoot {
			return imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent, "No such quota root")
		}
		return fc.writeResp([]byte(quotaLine(fc.sess.user, fc.withMessageQuota())))
	}
	// SETQUOTA quota-root SP "(" [res-name SP number64 *(SP ...)] ")"
	root, err := a.astring()
	if err != nil {
		return err
	}
	limits, err := parseSetQuota(a)
	if err != nil {
		return err
	}
	if err := fc.needAuth(); err != nil {
		return err
	}
	if err := fc.intercept(name, ""); err != nil {
		return err
	}
	if !fc.srv.opts.AllowSetQuota {
		// RFC 9208 §4.1.3: a server without QUOTASET refuses, as a user
		// may not change their own limits.
		return imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeNoPerm, "Quota limits cannot be changed")
	}
	if root != quotaRoot {
		return imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent, "No such quota root")
	}
	// RFC 9208 §4.1.3: the list replaces every previous limit of the
	// root, so a resource left out is no longer limited.
	var storage, messages int64
	for res, n := range limits {
		switch {
		case res == "STORAGE":
			if n > (1<<63-1)/1024 {
				return imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeLimit, "STORAGE limit too large")
			}
			storage = n * 1024
		case res == "MESSAGE" && fc.withMessageQuota():
			messages = n
		default:
			return imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeLimit, "Resource %s cannot be limited", res)
		}
	}
	u := fc.sess.user
	u.SetQuota(storage)
	if fc.withMessageQuota() {
		// Hidden, MESSAGE is not this server's to change: a limit the
		// test set stays.
		u.SetMessageQuota(messages)
	}
	return fc.writeResp([]byte(quotaLine(u, fc.withMessageQuota())))
}

// withMessageQuota reports whether the MESSAGE resource is served.
func (fc *frontConn) withMessageQuota() bool { return !fc.srv.caps.hidden(capQuotaMessage) }

// parseSetQuota parses SETQUOTA's resource list and the CRLF: resource
// names upper-cased to their limits.
func parseSetQuota(a *argReader) (map[string]int64, error) {
	if err := a.sp(); err != nil {
		return nil, err
	}
	if err := a.special('('); err != nil {
		return nil, err
	}
	limits := map[string]int64{}
	for a.peek() != ')' {
		if len(limits) > 0 {
			if err := a.sp(); err != nil {
				return nil, err
			}
		}
		res, err := a.atom()
		if err != nil {
			return nil, syntaxErr("expected resource name")
		}
		if err := a.sp(); err != nil {
			return nil, err
		}
		n, err := a.number64()
		if err != nil {
			return nil, err
		}
		res = strings.ToUpper(res)
		if _, dup := limits[res]; dup {
			return nil, syntaxErr("resource " + res + " given twice")
		}
		limits[res] = n
	}
	a.pos++
	if err := a.end(); err != nil {
		return nil, err
	}
	return limits, nil
}

// astringOut writes a mailbox name as the client spelled it: an atom when
// it is one, else a quoted string.
func astringOut(s string) string {
	if s != "" && !strings.EqualFold(s, "NIL") {
		atom := true
		for i := 0; i < len(s); i++ {
			if !isAtomChar(s[i]) && s[i] != ']' {
				atom = false
				break
			}
		}
		if atom {
			return s
		}
	}
	if strings.ContainsAny(s, "\r\n") || !isPrintable(s) {
		var b bytes.Buffer
		b.WriteString("{" + strconv.Itoa(len(s)) + "}\r\n" + s)
		return b.String()
	}
	return quoteString(s)
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}
