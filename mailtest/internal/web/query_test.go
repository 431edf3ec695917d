package web

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var sample = Item{
	Read: false,
	Mail: &Mail{
		ID: 7, MessageID: "abc-123@example.com",
		From:    &Address{Name: "Alice Adams", Address: "alice@example.com"},
		To:      []Address{{Name: "Bob", Address: "bob@example.com"}},
		Cc:      []Address{{Address: "carol@example.com"}},
		Bcc:     []Address{{Address: "audit@example.com"}},
		ReplyTo: []Address{{Address: "replies@example.com"}},
		Subject: "Your Invoice for März", Created: time.Date(2026, 3, 10, 12, 0, 0, 0, time.Local),
		Size: 2048, Text: "Total: 10 EUR\nThanks",
		Attachments: []Part{{PartID: "1", FileName: "invoice.pdf"}},
	},
}

func TestQueryMatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"", true},
		{"invoice", true},
		{"INVOICE", true},
		{"märz", true},
		{"MÄRZ", true},
		{"subject:invoice", true},
		{"subject:thanks", false},
		{"thanks", true},
		{`"10 eur"`, true},
		{`"eur 10"`, false},
		{`subject:"invoice for"`, true},
		{"from:alice", true},
		{`from:"alice adams"`, true},
		{"from:bob", false},
		{"to:bob", true},
		{"to:carol", false},
		{"cc:carol", true},
		{"bcc:audit", true},
		{"reply-to:replies", true},
		{"addressed:audit", true},
		{"message-id:abc-123", true},
		{"message-id:<abc-123@example.com>", true},
		{"filename:invoice", true},
		{"has:attachment", true},
		{"-has:attachment", false},
		{"is:unread", true},
		{"is:read", false},
		{"is:nonsense", false},
		{"after:2026-03-10", true},
		{"after:2026-03-11", false},
		{"before:2026-03-11", true},
		{"before:2026-03-10", false},
		{"larger:1k", true},
		{"larger:2k", false},
		{"smaller:3k", true},
		{"invoice -bob", false},
		{"invoice -zzz", true},
		{"invoice zzz", false},
		{"tag:x", false},
		{"foo:bar", false},
		{"-", true}, // a lone dash is a plain word, found in "abc-123"
	} {
		q, err := ParseQuery(tc.q)
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", tc.q, err)
			continue
		}
		if got := q.Match(sample); got != tc.want {
			t.Errorf("%q matches = %v, want %v", tc.q, got, tc.want)
		}
	}
	for _, bad := range []string{"after:soon", "before:2026-13-01", "larger:big", "smaller:-1", strings.Repeat("a ", 65)} {
		if _, err := ParseQuery(bad); err == nil {
			t.Errorf("ParseQuery(%q) accepted", bad)
		}
	}
}

func TestContainsFold(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s, sub string
		want   bool
	}{
		{"Hello World", "world", true},
		{"Hello", "hello!", false},
		{"", "", true},
		{"abc", "", true},
		{"ÄBC", "äb", true},
		{"xÄBC", "bc", true},
		{"Straße", "strasse", false},
	} {
		if got := containsFold(tc.s, tc.sub); got != tc.want {
			t.Errorf("containsFold(%q, %q) = %v", tc.s, tc.sub, got)
		}
	}
}

// FuzzParseQuery: any input parses or fails cleanly, matching never
// panics, and containsFold agrees with the obvious definition.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "subject:hello", `from:"a b" -is:read`, `"unterminated`, "after:2026-01-01 before:2026-02-01",
		"larger:10k smaller:1m", "-", "--x", `:`, `a:"b:c"`, "message-id:<x@y>", "märz ÄÖÜ", "\x00\xff"} {
		f.Add(s, "Subject Hello")
	}
	f.Fuzz(func(t *testing.T, query, text string) {
		q, err := ParseQuery(query)
		if err != nil {
			return
		}
		if len(q.terms) > maxQueryTerms {
			t.Fatalf("%d terms", len(q.terms))
		}
		it := sample
		m := *sample.Mail
		m.Subject, m.Text = text, text
		it.Mail = &m
		q.Match(it)
		q.Match(Item{Mail: &Mail{}})
		if utf8.ValidString(text) && utf8.ValidString(query) {
			sub := strings.ToLower(query)
			if isASCII(text) && isASCII(sub) {
				if got, want := containsFold(text, sub), strings.Contains(strings.ToLower(text), sub); got != want {
					t.Fatalf("containsFold(%q, %q) = %v, want %v", text, sub, got, want)
				}
			}
		}
	})
}
