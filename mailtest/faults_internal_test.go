package mailtest

import (
	"strings"
	"testing"
)

// TestInjectForPrograms: inject, which callers without a test (an HTTP
// endpoint) use, returns an error for a malformed Fault and adds nothing.
func TestInjectForPrograms(t *testing.T) {
	t.Parallel()
	srv := NewServer(t)
	clear, err := srv.inject(Fault{Protocol: SMTPS, Command: "RCPT"})
	if err == nil || clear != nil || !strings.Contains(err.Error(), `"smtps" is a listener`) {
		t.Fatalf("inject(SMTPS fault) = %v, %v", clear != nil, err)
	}
	clear, err = srv.inject(Fault{Protocol: SMTP, Command: "rcpt", Reply: "452 4.2.2 Full"})
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := srv.faults.take(SMTP, "RCPT", "x@example.com"); !ok || f.Reply != "452 4.2.2 Full" {
		t.Fatalf("take = %v, %v", f, ok)
	}
	clear()
	if _, ok := srv.faults.take(SMTP, "RCPT", "x@example.com"); ok {
		t.Fatal("fault still there after clear")
	}
	if len(srv.faults.faults) != 0 {
		t.Fatalf("%d faults left", len(srv.faults.faults))
	}
}
