package mailtest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailrig/mailrig/mailtest"
)

// idleWatcher collects the unsolicited updates an IMAP client receives.
type idleWatcher struct {
	exists  chan uint32
	expunge chan uint32
}

func newIdleWatcher() (*idleWatcher, *imapclient.Options) {
	w := &idleWatcher{exists: make(chan uint32, 16), expunge: make(chan uint32, 16)}
	return w, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(data *imapclient.UnilateralDataMailbox) {
			if data.NumMessages != nil {
				w.exists <- *data.NumMessages
			}
		},
		Expunge: func(seq uint32) { w.expunge <- seq },
	}}
}

func receive(t *testing.T, ch <-chan uint32, what string) uint32 {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5s", what)
		return 0
	}
}

// TestSMTPDeliveryReachesIdleIMAP: a message sent over SMTP shows up at
// once in an IMAP session that is IDLE on the INBOX.
func TestSMTPDeliveryReachesIdleIMAP(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	w, opts := newIdleWatcher()
	c := srv.IMAPClient(t, "bob@example.com", opts)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: "ping", Text: "x"})
	if n := receive(t, w.exists, "EXISTS"); n != 1 {
		t.Errorf("EXISTS %d, want 1", n)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	// An IMAP4rev1 session owns the new message's \Recent; it is unread.
	if len(msgs) != 1 || msgs[0].UID != 1 || msgs[0].Envelope.Subject != "ping" ||
		len(msgs[0].Flags) != 1 || msgs[0].Flags[0] != `\Recent` {
		t.Fatalf("fetched %+v", msgs[0])
	}
}

// TestPOP3DeletionSeenByIMAP: DELE + QUIT over POP3 is an expunge that an
// IDLE IMAP session on the same INBOX is told about.
func TestPOP3DeletionSeenByIMAP(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	for _, s := range []string{"one", "two"} {
		srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: s, Text: s})
	}
	w, opts := newIdleWatcher()
	c := srv.IMAPClient(t, "bob@example.com", opts)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	p := dialPOP3(t, srv.POP3Addr(), nil)
	p.pop3Login("bob@example.com", "pw")
	p.pop3("DELE 2", "+OK")
	p.pop3("QUIT", "+OK")
	if seq := receive(t, w.expunge, "EXPUNGE"); seq != 2 {
		t.Errorf("EXPUNGE %d, want 2", seq)
	}
	idle.Close()
	idle.Wait()
	inbox, _ := srv.IMAPView("bob@example.com").Mailbox("INBOX")
	if len(inbox.Messages) != 1 || inbox.Messages[0].Message.Subject() != "one" {
		t.Errorf("INBOX = %+v", inbox.Messages)
	}
}

// TestIMAPExpungeDuringPOP3Session: POP3's list is frozen at login, but a
// message IMAP expunged meanwhile can no longer be retrieved.
func TestIMAPExpungeDuringPOP3Session(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: "doomed", Text: "x"})
	p := dialPOP3(t, srv.POP3Addr(), nil)
	p.pop3Login("bob@example.com", "pw")
	c := srv.IMAPClient(t, "bob@example.com")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	p.pop3("STAT", "+OK 1 ") // still listed: numbering is fixed for the session
	p.pop3("RETR 1", "-ERR")
	p.pop3("QUIT", "+OK")
}

func TestIMAPFaults(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: "s", Text: "x"})
	c := srv.IMAPClient(t, "bob@example.com")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.IMAP, Command: "FETCH", Times: 1, Reply: "NO [UNAVAILABLE] Backend down"})
	_, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true}).Collect()
	var imapErr *imap.Error
	if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeUnavailable || imapErr.Type != imap.StatusResponseTypeNo {
		t.Fatalf("FETCH err = %v, want NO [UNAVAILABLE]", err)
	}
	if _, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true}).Collect(); err != nil {
		t.Fatalf("second FETCH: %v", err)
	}

	srv.Inject(t, mailtest.Fault{Protocol: mailtest.IMAP, Command: "APPEND", Arg: "Sent", Times: 1, Reply: "NO [OVERQUOTA] Quota exceeded"})
	raw := "Subject: draft\r\n\r\nbody\r\n"
	app := c.Append("Sent", int64(len(raw)), nil)
	app.Write([]byte(raw))
	app.Close()
	if _, err := app.Wait(); !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeOverQuota {
		t.Fatalf("APPEND err = %v, want NO [OVERQUOTA]", err)
	}
	if sent, _ := srv.IMAPView("bob@example.com").Mailbox("Sent"); len(sent.Messages) != 0 {
		t.Fatalf("refused APPEND stored %d messages", len(sent.Messages))
	}

	srv.Inject(t, mailtest.Fault{Protocol: mailtest.IMAP, Command: "CONNECT", Reply: "BYE [UNAVAILABLE] Maintenance"})
	if got := readGreeting(t, srv.IMAPAddr()); got != "* BYE [UNAVAILABLE] Maintenance" {
		t.Fatalf("greeting = %q", got)
	}
}

func TestIMAPOverTLS(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithRequireTLSForAuth(true))
	for name, dial := range map[string]func() (*imapclient.Client, error){
		"IMAPS": func() (*imapclient.Client, error) {
			return imapclient.DialTLS(srv.IMAPSAddr(), &imapclient.Options{TLSConfig: srv.ClientTLSConfig()})
		},
		"STARTTLS": func() (*imapclient.Client, error) {
			return imapclient.DialStartTLS(srv.IMAPAddr(), &imapclient.Options{TLSConfig: srv.ClientTLSConfig()})
		},
	} {
		c, err := dial()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.Login("bob@example.com", "pw").Wait(); err != nil {
			t.Fatalf("%s login: %v", name, err)
		}
		c.Logout().Wait()
		c.Close()
	}
	// Without TLS, LOGINDISABLED and the login is refused.
	c, err := imapclient.DialInsecure(srv.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Caps().Has(imap.CapLoginDisabled) {
		t.Error("LOGINDISABLED not advertised before TLS")
	}
	if err := c.Login("bob@example.com", "pw").Wait(); err == nil {
		t.Error("plain-text login accepted under WithRequireTLSForAuth")
	}
}

func TestHiddenIMAPCapabilities(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithHiddenIMAPCapabilities("MOVE"))
	c := srv.IMAPClient(t, "bob@example.com")
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if caps.Has(imap.CapMove) || caps.Has(imap.CapIMAP4rev2) {
		t.Errorf("MOVE (or IMAP4rev2) still advertised: %v", caps)
	}
	if !caps.Has(imap.CapUIDPlus) {
		t.Errorf("UIDPLUS lost: %v", caps)
	}
}

func TestIMAPWrongPassword(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	c, err := imapclient.DialInsecure(srv.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var imapErr *imap.Error
	if err := c.Login("bob@example.com", "wrong").Wait(); !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("err = %v, want NO [AUTHENTICATIONFAILED]", err)
	}
	// A user created by delivery has no password: nobody logs in as it.
	srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"auto@example.com"}, Subject: "s", Text: "x"})
	if err := c.Login("auto@example.com", "").Wait(); err == nil {
		t.Fatal("logged in as a user without a password")
	}
}

// TestIMAPViewSessionsShowClientID: the ID a client sent (RFC 2971) shows
// in the user's IMAP view, with the session's transcript and mailbox.
func TestIMAPViewSessionsShowClientID(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	c, err := imapclient.DialInsecure(srv.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("bob@example.com", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ID(&imap.IDData{Name: "Thunderbird", Version: "128.0"}).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sessions := srv.IMAPView("bob@example.com").Sessions
	if len(sessions) != 1 {
		t.Fatalf("sessions: %+v", sessions)
	}
	s := sessions[0]
	if s.ClientID["name"] != "Thunderbird" || s.ClientID["version"] != "128.0" || s.Mailbox != "INBOX" {
		t.Errorf("session: %+v", s)
	}
	tr, ok := srv.Transcript(s.TranscriptID)
	if !ok {
		t.Fatalf("no transcript %q", s.TranscriptID)
	}
	var sawID bool
	for _, l := range tr.Lines {
		sawID = sawID || (l.FromClient && strings.Contains(l.Text, `ID ("name" "Thunderbird" "version" "128.0")`))
	}
	if !sawID {
		t.Errorf("transcript lacks the client's ID: %+v", tr.Lines)
	}
	if others := srv.IMAPView("alice@example.com").Sessions; len(others) != 0 {
		t.Errorf("another user's view shows %+v", others)
	}
}

func TestHiddenIMAPCapabilitiesRefuseUnknownNames(t *testing.T) {
	t.Parallel()
	_, err := mailtest.New(mailtest.WithHiddenIMAPCapabilities("MOOVE"))
	if err == nil || !strings.Contains(err.Error(), `cannot hide IMAP capability "MOOVE"`) {
		t.Fatalf("err = %v", err)
	}
	srv, err := mailtest.New(mailtest.WithHiddenIMAPCapabilities("move", "SORT", "thread=references", "quota=res-message"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}

// TestIMAPFaultOnSort: Inject reaches the command layer's commands by name.
func TestIMAPFaultOnSort(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"))
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.IMAP, Command: "SORT", Times: 1, Reply: "NO [UNAVAILABLE] Sorting is down"})
	c, err := imapclient.DialInsecure(srv.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("bob@example.com", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	opts := &imapclient.SortOptions{SearchCriteria: &imap.SearchCriteria{}, SortCriteria: []imapclient.SortCriterion{{Key: imapclient.SortKeyDate}}}
	_, err = c.Sort(opts).Wait()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeUnavailable || ie.Text != "Sorting is down" {
		t.Fatalf("first SORT: %v", err)
	}
	if nums, err := c.Sort(opts).Wait(); err != nil || len(nums) != 0 {
		t.Errorf("second SORT: %v %v", nums, err)
	}
}

// TestIMAPMessageQuota: through mailtest's options, a client with
// WithIMAPSetQuota sets a MESSAGE limit, reads it back with GETQUOTA and
// runs into it with APPEND; WithHiddenIMAPCapabilities("QUOTA=RES-MESSAGE")
// hides the resource.
func TestIMAPMessageQuota(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithIMAPSetQuota(true))
	srv.Send(t, mailtest.Draft{From: "a@example.com", To: []string{"bob@example.com"}, Subject: "one", Text: "x"})
	c := srv.IMAPClient(t, "bob@example.com")
	if !c.Caps().Has("QUOTA=RES-MESSAGE") || !c.Caps().Has(imap.CapQuotaSet) {
		t.Fatalf("caps: %v", c.Caps())
	}
	if err := c.SetQuota("", map[imap.QuotaResourceType]int64{imap.QuotaResourceMessage: 1}).Wait(); err != nil {
		t.Fatalf("SETQUOTA: %v", err)
	}
	q, err := c.GetQuota("").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := q.Resources[imap.QuotaResourceMessage]; !ok || m.Usage != 1 || m.Limit != 1 || len(q.Resources) != 1 {
		t.Fatalf("GETQUOTA: %+v", q.Resources)
	}
	raw := "Subject: two\r\n\r\nx\r\n"
	app := c.Append("Sent", int64(len(raw)), nil)
	if _, err := app.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	var imapErr *imap.Error
	if _, err := app.Wait(); !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeOverQuota {
		t.Fatalf("APPEND over the message quota: %v, want NO [OVERQUOTA]", err)
	}
	if sent, ok := srv.IMAPView("bob@example.com").Mailbox("Sent"); !ok || len(sent.Messages) != 0 {
		t.Fatalf("Sent: %+v", sent)
	}

	hidden := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithHiddenIMAPCapabilities("QUOTA=RES-MESSAGE"))
	u, _ := hidden.Store().User("bob@example.com")
	u.SetMessageQuota(5)
	hc := hidden.IMAPClient(t, "bob@example.com")
	if hc.Caps().Has("QUOTA=RES-MESSAGE") || !hc.Caps().Has(imap.CapQuota) {
		t.Fatalf("caps with QUOTA=RES-MESSAGE hidden: %v", hc.Caps())
	}
	q, err = hc.GetQuota("").Wait()
	if err != nil || len(q.Resources) != 0 {
		t.Fatalf("GETQUOTA with MESSAGE hidden: %+v, %v", q, err)
	}
}
