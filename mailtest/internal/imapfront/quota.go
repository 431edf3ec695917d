package imapfront

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailrig/mailrig/memstore"
)

// The user's quota (memstore's User.SetQuota) is one quota root, "", over
// all the user's mailboxes, with one resource: STORAGE, in units of 1024
// octets (RFC 9208 §5). The store limits no other resource.
const quotaRoot = ""

// quotaLine is the QUOTA response for u: usage rounded up, so a mailbox
// that holds anything never shows 0, and the limit rounded down.
func quotaLine(u *memstore.User) string {
	limit, used := u.Quota()
	if limit <= 0 {
		return `* QUOTA "" ()` + "\r\n"
	}
	return `* QUOTA "" (STORAGE ` + strconv.FormatInt((used+1023)/1024, 10) + " " + strconv.FormatInt(limit/1024, 10) + ")\r\n"
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
		return fc.writeResp([]byte("* QUOTAROOT " + astringOut(spelled) + ` ""` + "\r\n" + quotaLine(u)))
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
		return fc.writeResp([]byte(quotaLine(fc.sess.user)))
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
	var storage int64
	for res, n := range limits {
		if res != "STORAGE" {
			return imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeLimit, "Resource %s cannot be limited", res)
		}
		if n > (1<<63-1)/1024 {
			return imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeLimit, "STORAGE limit too large")
		}
		storage = n * 1024
	}
	u := fc.sess.user
	u.SetQuota(storage)
	return fc.writeResp([]byte(quotaLine(u)))
}

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
