package mailparse

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics and always returns usable,
// valid UTF-8 results. Seeds come from testdata/fuzz/FuzzParse and from
// the table-test messages.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := Parse(raw)
		if p == nil {
			t.Fatalf("Parse returned nil *Parsed (err %v)", err)
		}
		for name, s := range map[string]string{"Subject": p.Subject, "Text": p.Text, "HTML": p.HTML} {
			if !utf8.ValidString(s) {
				t.Errorf("%s is not valid UTF-8: %q", name, s)
			}
		}
		if strings.Contains(p.Text, "\r") || strings.Contains(p.HTML, "\r") {
			t.Errorf("body keeps a CR: text %q html %q", p.Text, p.HTML)
		}
		seen := map[string]bool{}
		for _, l := range p.Links {
			if l == "" || strings.HasPrefix(l, "#") || seen[l] {
				t.Errorf("bad or duplicate link %q in %q", l, p.Links)
			}
			seen[l] = true
		}
	})
}
