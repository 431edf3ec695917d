package memstore

import (
	"slices"
	"testing"
)

func TestCanonical(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`\seen`: `\Seen`, `\SEEN`: `\Seen`, `\answered`: `\Answered`, `\fLaGgEd`: `\Flagged`,
		`\deleted`: `\Deleted`, `\draft`: `\Draft`, `\Recent`: `\Recent`, `$Junk`: `$Junk`, `seen`: `seen`,
	} {
		if got := CanonicalFlag(in); got != want {
			t.Errorf("CanonicalFlag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFlagsList(t *testing.T) {
	t.Parallel()
	f := NewFlags(`\draft`, "zeta", `\seen`, "$Forwarded", `\Recent`, `\Unknown`, "Alpha", `\DELETED`, "", "beta", `\flagged`, `\answered`)
	want := []string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`, "$Forwarded", "Alpha", "beta", "zeta"}
	if got := f.List(); !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
	if got := f.String(); got != `\Seen \Answered \Flagged \Deleted \Draft $Forwarded Alpha beta zeta` {
		t.Fatalf("String = %q", got)
	}
	if got := f.Len(); got != 9 {
		t.Fatalf("Len = %d", got)
	}
	if got := f.Keywords(); !slices.Equal(got, []string{"$Forwarded", "Alpha", "beta", "zeta"}) {
		t.Fatalf("Keywords = %q", got)
	}
	if f.Has(`\Recent`) || f.Has(`\Unknown`) {
		t.Fatal(`\Recent or unknown backslash flag kept`)
	}
	// The order does not depend on the order of the arguments.
	g := NewFlags("zeta", "beta", `\answered`, "Alpha", `\flagged`, "$Forwarded", `\DELETED`, `\draft`, `\seen`)
	if !slices.Equal(g.List(), want) || !f.Equal(g) {
		t.Fatalf("List of reordered input = %q", g.List())
	}
	// Keywords() and List() return copies.
	kw := f.Keywords()
	kw[0] = "changed"
	if f.Keywords()[0] != "$Forwarded" {
		t.Fatal("Keywords shares its slice")
	}
	var zero Flags
	if zero.Len() != 0 || len(zero.List()) != 0 || zero.String() != "" {
		t.Fatalf("zero Flags: %q", zero.List())
	}
}

func TestFlagsCaseInsensitive(t *testing.T) {
	t.Parallel()
	f := NewFlags("$Label1", "$label1", "$LABEL1", `\Seen`, `\SEEN`)
	if got := f.List(); !slices.Equal(got, []string{`\Seen`, "$Label1"}) {
		t.Fatalf("List = %q, want first keyword spelling kept", got)
	}
	for _, name := range []string{"$label1", "$LABEL1", "$Label1", `\seen`, `\SeEn`} {
		if !f.Has(name) {
			t.Errorf("Has(%q) = false", name)
		}
	}
	for _, name := range []string{"$label2", `\Flagged`, `\Recent`, ""} {
		if f.Has(name) {
			t.Errorf("Has(%q) = true", name)
		}
	}
	// Union keeps the receiver's spelling.
	u := f.Union(NewFlags("$LABEL1", "Other"))
	if got := u.Keywords(); !slices.Equal(got, []string{"$Label1", "Other"}) {
		t.Fatalf("Union keywords = %q", got)
	}
}

func TestFlagsSetOps(t *testing.T) {
	t.Parallel()
	a := NewFlags(`\Seen`, `\Flagged`, "k1", "K2")
	b := NewFlags(`\seen`, `\Draft`, "k2", "k3")
	if got := a.Union(b).List(); !slices.Equal(got, []string{`\Seen`, `\Flagged`, `\Draft`, "k1", "K2", "k3"}) {
		t.Fatalf("Union = %q", got)
	}
	if got := a.Minus(b).List(); !slices.Equal(got, []string{`\Flagged`, "k1"}) {
		t.Fatalf("Minus = %q", got)
	}
	if got := b.Minus(a).List(); !slices.Equal(got, []string{`\Draft`, "k3"}) {
		t.Fatalf("Minus = %q", got)
	}
	// Operations do not change their operands.
	if got := a.List(); !slices.Equal(got, []string{`\Seen`, `\Flagged`, "k1", "K2"}) {
		t.Fatalf("a changed: %q", got)
	}
	if got := b.List(); !slices.Equal(got, []string{`\Seen`, `\Draft`, "k2", "k3"}) {
		t.Fatalf("b changed: %q", got)
	}
	if !a.Equal(NewFlags("k2", "K1", `\flagged`, `\SEEN`)) {
		t.Fatal("Equal is not case-insensitive / order-independent")
	}
	if a.Equal(b) || a.Equal(NewFlags(`\Seen`, `\Flagged`, "k1")) || a.Equal(NewFlags(`\Seen`, "k1", "K2")) {
		t.Fatal("Equal reports different sets as equal")
	}
	if !(Flags{}).Equal(NewFlags()) || !NewFlags("x").Minus(NewFlags("X")).Equal(Flags{}) {
		t.Fatal("empty sets differ")
	}
	// Sharing: adding to a derived set never shows in the original.
	base := NewFlags("a", "c")
	d1 := base.Union(NewFlags("b"))
	d2 := base.Union(NewFlags("bb"))
	if !slices.Equal(d1.Keywords(), []string{"a", "b", "c"}) || !slices.Equal(d2.Keywords(), []string{"a", "bb", "c"}) || !slices.Equal(base.Keywords(), []string{"a", "c"}) {
		t.Fatalf("derived sets interfere: %q %q %q", d1.Keywords(), d2.Keywords(), base.Keywords())
	}
}

func TestFlagOpApply(t *testing.T) {
	t.Parallel()
	cur := NewFlags(`\Seen`, "a")
	f := NewFlags(`\Flagged`, "a", "b")
	if got := AddFlags.apply(cur, f).List(); !slices.Equal(got, []string{`\Seen`, `\Flagged`, "a", "b"}) {
		t.Fatalf("add = %q", got)
	}
	if got := RemoveFlags.apply(cur, f).List(); !slices.Equal(got, []string{`\Seen`}) {
		t.Fatalf("remove = %q", got)
	}
	if got := ReplaceFlags.apply(cur, f).List(); !slices.Equal(got, []string{`\Flagged`, "a", "b"}) {
		t.Fatalf("replace = %q", got)
	}
}
