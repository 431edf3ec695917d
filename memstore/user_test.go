package memstore

import (
	"errors"
	"slices"
	"testing"
)

func TestAddUserAndLookup(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, " Ann@Example.com ", "secret", "ann.alias@example.com", "A@Example.org")
	if u.Address() != "Ann@Example.com" {
		t.Fatalf("Address = %q", u.Address())
	}
	for _, addr := range []string{"ann@example.com", "ANN@EXAMPLE.COM", " ann.alias@EXAMPLE.com", "a@example.org"} {
		got, ok := s.User(addr)
		if !ok || got != u {
			t.Errorf("User(%q) = %v, %v", addr, got, ok)
		}
	}
	if _, ok := s.User("nobody@example.com"); ok {
		t.Fatal("unknown user found")
	}
	if got := u.Aliases(); !slices.Equal(got, []string{"ann.alias@example.com", "A@Example.org"}) {
		t.Fatalf("Aliases = %q", got)
	}
	// Adding again sets the password and adds only new aliases.
	u2 := mustUser(t, s, "ANN.ALIAS@example.com", "newpw", "a@example.org", "third@example.com")
	if u2 != u {
		t.Fatal("AddUser via alias made a new user")
	}
	if got := u.Aliases(); !slices.Equal(got, []string{"ann.alias@example.com", "A@Example.org", "third@example.com"}) {
		t.Fatalf("Aliases = %q", got)
	}
	if pw, ok := u.Password(); !ok || pw != "newpw" {
		t.Fatalf("Password = %q, %v", pw, ok)
	}
	// An alias of another user is refused and changes nothing.
	bob := mustUser(t, s, "bob@example.com", "bpw")
	if _, err := s.AddUser("bob@example.com", "x", "third@example.com"); !errors.Is(err, ErrAddressTaken) {
		t.Fatalf("stealing an alias: %v", err)
	}
	if pw, _ := bob.Password(); pw != "bpw" {
		t.Fatalf("failed AddUser changed the password to %q", pw)
	}
	if _, err := s.AddUser("  ", "x"); !errors.Is(err, ErrEmptyAddress) {
		t.Fatalf("empty address: %v", err)
	}
	if got := s.Users(); len(got) != 2 || got[0] != u || got[1] != bob {
		t.Fatalf("Users = %v", got)
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "secret", "alias@example.com")
	for _, name := range []string{"ann@example.com", "ANN@example.com", "alias@example.com"} {
		got, err := s.Authenticate(name, "secret")
		if err != nil || got != u {
			t.Errorf("Authenticate(%q) = %v, %v", name, got, err)
		}
	}
	for _, tc := range []struct{ user, pw string }{
		{"ann@example.com", "wrong"}, {"ann@example.com", ""}, {"ann@example.com", "Secret"},
		{"ann@example.com", "secret "}, {"nobody@example.com", "secret"},
	} {
		if got, err := s.Authenticate(tc.user, tc.pw); !errors.Is(err, ErrAuthFailed) || got != nil {
			t.Errorf("Authenticate(%q, %q) = %v, %v; want ErrAuthFailed", tc.user, tc.pw, got, err)
		}
	}
	// A user created by delivery has no password and never logs in.
	mustDeliver(t, s, rawMsg(1), "auto@example.com")
	auto, ok := s.User("auto@example.com")
	if !ok || auto.HasPassword() {
		t.Fatalf("auto user: %v, has password %v", ok, ok && auto.HasPassword())
	}
	for _, pw := range []string{"", "x"} {
		if _, err := s.Authenticate("auto@example.com", pw); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("auto user with password %q: %v", pw, err)
		}
	}
	if _, ok := auto.Password(); ok {
		t.Fatal("auto user reports a password")
	}
	// An empty password, once set, is a password.
	auto.SetPassword("")
	if _, err := s.Authenticate("auto@example.com", ""); err != nil {
		t.Fatalf("empty password set explicitly: %v", err)
	}
}

func TestTryLockMaildrop(t *testing.T) {
	t.Parallel()
	s := New()
	u := mustUser(t, s, "ann@example.com", "pw")
	release, ok := u.TryLockMaildrop()
	if !ok || release == nil {
		t.Fatal("first lock failed")
	}
	if r2, ok := u.TryLockMaildrop(); ok || r2 != nil {
		t.Fatal("second lock succeeded while held")
	}
	release()
	release2, ok := u.TryLockMaildrop()
	if !ok {
		t.Fatal("lock not free after release")
	}
	// A stale second call of the first release must not free the new holder's lock.
	release()
	if _, ok := u.TryLockMaildrop(); ok {
		t.Fatal("old release freed the new holder's lock")
	}
	release2()
	release3, ok := u.TryLockMaildrop()
	if !ok {
		t.Fatal("lock not free after second release")
	}
	if !u.MaildropLocked() {
		t.Fatal("MaildropLocked false while held")
	}
	release3()
	if u.MaildropLocked() {
		t.Fatal("MaildropLocked true after release")
	}
	// Another user's lock is independent.
	v := mustUser(t, s, "bob@example.com", "pw")
	r, ok := u.TryLockMaildrop()
	rv, okv := v.TryLockMaildrop()
	if !ok || !okv {
		t.Fatal("locks of different users interfere")
	}
	r()
	rv()
}

func TestAccepts(t *testing.T) {
	t.Parallel()
	s := New()
	if !s.Accepts("anyone@example.com") || s.Accepts(" ") {
		t.Fatal("auto-create store: Accepts wrong")
	}
	strict := New(WithAutoCreateUsers(false))
	mustUser(t, strict, "ann@example.com", "pw", "al@example.com")
	if !strict.Accepts("ANN@example.com") || !strict.Accepts("al@example.com") || strict.Accepts("bob@example.com") {
		t.Fatal("strict store: Accepts wrong")
	}
}

func TestAddUserBlankAlias(t *testing.T) {
	t.Parallel()
	s := New(WithAutoCreateUsers(false))
	u := mustUser(t, s, "ann@example.com", "pw", "", "  ", "real@example.com")
	if got := u.Aliases(); !slices.Equal(got, []string{"real@example.com"}) {
		t.Fatalf("Aliases = %q", got)
	}
	if got, ok := s.User(""); ok {
		t.Fatalf("User(\"\") = %v", got.Address())
	}
	if _, err := s.Deliver(rawMsg(1), testDate, env(" ")); !errors.Is(err, ErrEmptyAddress) || errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("Deliver to a blank recipient: %v", err)
	}
	if n := len(u.Inbox().Snapshot().Entries); n != 0 {
		t.Fatalf("blank recipient filed %d messages with ann", n)
	}
}

func TestEnsureUser(t *testing.T) {
	t.Parallel()
	s := New(WithAutoCreateUsers(false))
	ann := mustUser(t, s, "ann@example.com", "pw", "alias@example.com")
	if got, err := s.EnsureUser("ALIAS@example.com"); err != nil || got != ann {
		t.Fatalf("EnsureUser(alias) = %v, %v", got, err)
	}
	bob, err := s.EnsureUser(" bob@example.com ")
	if err != nil || bob.Address() != "bob@example.com" || bob.HasPassword() {
		t.Fatalf("EnsureUser(new) = %v, %v", bob, err)
	}
	if got, _ := s.EnsureUser("BOB@example.com"); got != bob || len(s.Users()) != 2 {
		t.Fatal("EnsureUser created a second bob")
	}
	if mustMailbox(t, bob, "Sent").SpecialUse() != SpecialSent {
		t.Fatal("EnsureUser user lacks default mailboxes")
	}
	if _, err := s.Authenticate("bob@example.com", ""); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("passwordless user authenticated: %v", err)
	}
	if _, err := s.EnsureUser(" "); !errors.Is(err, ErrEmptyAddress) {
		t.Fatalf("EnsureUser(blank): %v", err)
	}
}
