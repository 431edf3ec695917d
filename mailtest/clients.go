package mailtest

import (
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAPClient returns a go-imap v2 client connected to IMAPAddr and logged
// in as user with the password the store holds for it. It is logged out
// and closed when the test ends. It fails t if the user has no password
// or the login fails.
func (s *Server) IMAPClient(t testing.TB, user string, opts ...*imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := s.imapClient(user, opts...)
	if err != nil {
		t.Fatalf("mailtest: IMAPClient(%q): %v", user, err)
		return nil
	}
	t.Cleanup(func() {
		c.Logout().Wait()
		c.Close()
	})
	return c
}

func (s *Server) imapClient(user string, opts ...*imapclient.Options) (*imapclient.Client, error) {
	u, ok := s.store.User(user)
	if !ok {
		return nil, fmt.Errorf("no such user")
	}
	password, ok := u.Password()
	if !ok {
		return nil, fmt.Errorf("user has no password (use WithUser or AddUser)")
	}
	var o *imapclient.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	c, err := imapclient.DialInsecure(s.IMAPAddr(), o)
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
