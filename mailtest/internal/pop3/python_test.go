package pop3

import (
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/mailrig/mailrig/mailtest/internal/pyscript"
)

// TestPythonPoplib cross-checks the server against an independent client,
// Python's standard poplib.
func TestPythonPoplib(t *testing.T) {
	t.Parallel()
	msgs := []string{
		"Subject: first\r\nFrom: a@example.com\r\n\r\n.leading dot\r\nbody\r\n",
		".dot on the first line\r\n\r\n..two dots\r\n.\r\nend",
	}
	b := newFakeBackend()
	b.addUser("py@example.com", "pa ss", msgs...)
	_, addr := startServer(t, b, Options{})
	host, port, _ := net.SplitHostPort(addr)

	out := pyscript.Run(t, "testdata/poplib_check.py", host, port, "py@example.com", "pa ss")
	var got struct {
		Welcome       string   `json:"welcome"`
		Capa          []string `json:"capa"`
		User, Pass    string
		Stat          []int64  `json:"stat"`
		List          []string `json:"list"`
		UIDL          []string `json:"uidl"`
		Retr          []struct{ Resp, Body string }
		Top           []string `json:"top"`
		Dele          string   `json:"dele"`
		StatAfterDele []int64  `json:"stat_after_dele"`
		Quit          string   `json:"quit"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	total := int64(len(msgs[0]) + len(msgs[1]))
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("welcome prefix", strings.HasPrefix(got.Welcome, "+OK mailrig POP3 server ready <"), true)
	check("capa", got.Capa, []string{"AUTH-RESP-CODE", "IMPLEMENTATION", "PIPELINING", "RESP-CODES", "SASL", "TOP", "UIDL", "USER"})
	check("pass", got.Pass, "+OK maildrop has 2 messages ("+fmt.Sprint(total)+" octets)")
	check("stat", got.Stat, []int64{2, total})
	check("list", got.List, []string{fmt.Sprintf("1 %d", len(msgs[0])), fmt.Sprintf("2 %d", len(msgs[1]))})
	check("uidl", got.UIDL, []string{"1 uid-101", "2 uid-102"})
	check("retr count", len(got.Retr), 2)
	for i, r := range got.Retr {
		want := msgs[i]
		if !strings.HasSuffix(want, "\r\n") {
			want += "\r\n"
		}
		check(fmt.Sprintf("retr %d resp", i+1), r.Resp, fmt.Sprintf("+OK %d octets", len(msgs[i])))
		check(fmt.Sprintf("retr %d body", i+1), r.Body, want)
	}
	check("top", got.Top, []string{"Subject: first", "From: a@example.com", "", ".leading dot"})
	check("dele", got.Dele, "+OK message 1 deleted")
	check("stat after dele", got.StatAfterDele, []int64{1, int64(len(msgs[1]))})
	check("quit", got.Quit, "+OK bye (1 messages deleted)")
	b.mu.Lock()
	defer b.mu.Unlock()
	if u := b.users["py@example.com"]; len(u.msgs) != 1 {
		t.Errorf("after QUIT %d messages remain, want 1", len(u.msgs))
	}
}
