package imapfront

import (
	"encoding/json"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailrig/mailrig/mailtest/internal/pyscript"
)

// TestPythonImaplib cross-checks the command layer against an independent
// client, Python's standard imaplib, which reads capabilities only from
// the greeting.
func TestPythonImaplib(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	u, _ := e.store.User(alice)
	u.SetQuota(2 << 20)
	u.SetMessageQuota(1000)
	e.appendMsg(t, alice, "INBOX", "Subject: b\r\nMessage-ID: <1@x>\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nx\r\n", time.Time{})
	e.appendMsg(t, alice, "INBOX", "Subject: Re: b\r\nMessage-ID: <2@x>\r\nReferences: <1@x>\r\nDate: Tue, 02 Jan 2024 10:00:00 +0000\r\n\r\nx\r\n", time.Time{})
	e.appendMsg(t, alice, "INBOX", "Subject: a\r\nMessage-ID: <3@x>\r\nDate: Wed, 03 Jan 2024 10:00:00 +0000\r\n\r\nx\r\n", time.Time{})
	host, port, _ := net.SplitHostPort(e.addr)

	out := pyscript.Run(t, "testdata/imaplib_check.py", host, port, alice, pw)
	var got struct {
		Capabilities           []string `json:"capabilities"`
		IdleListed             bool     `json:"idle_listed"`
		ID                     []string `json:"id"`
		CapabilitiesAfterLogin []string `json:"capabilities_after_login"`
		QuotaRoot              []any    `json:"quotaroot"`
		RawSort                []string `json:"sort"`
		RawUIDSort             []string `json:"uid_sort"`
		RawThread              []string `json:"thread"`
		IdleCont               string   `json:"idle_cont"`
		IdleDone               string   `json:"idle_done"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	// imaplib upper-cases the names.
	check("capabilities from the greeting", strings.Join(got.Capabilities, " "), strings.ToUpper(capsPreLogin))
	check("'IDLE' in M.capabilities", got.IdleListed, true)
	// imaplib keeps its greeting list after LOGIN.
	check("capabilities after login", strings.Join(got.CapabilitiesAfterLogin, " "), strings.ToUpper(capsPreLogin))
	check("ID", got.ID, []string{"OK", `("name" "mailrig" "version" "` + serverVersion() + `" "vendor" "mailrig" "support-url" "https://github.com/mailrig/mailrig")`})
	_, used := u.Quota()
	check("GETQUOTAROOT", got.QuotaRoot, []any{"OK", []any{`INBOX ""`}, []any{`"" (STORAGE ` + itoa(int((used+1023)/1024)) + ` 2048 MESSAGE 3 1000)`}})
	check("SORT", got.RawSort, []string{"OK", "3 2 1"})
	check("UID SORT", got.RawUIDSort, []string{"OK", "3 1 2"})
	check("THREAD", got.RawThread, []string{"OK", "(1 2)(3)"})
	check("IDLE continuation", got.IdleCont, "+ idling")
	if !strings.HasSuffix(got.IdleDone, " OK IDLE completed") {
		t.Errorf("IDLE end: %q", got.IdleDone)
	}
}
