package mailtest_test

import (
	"crypto/tls"
	netsmtp "net/smtp"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/mailrig/mailrig/mailtest"
	"github.com/mailrig/mailrig/mailtest/internal/testcert"
)

// TestNetSMTPStartTLSOnSubmission: the standard library client upgrades on
// the submission port and authenticates, trusting ClientTLSConfig.
func TestNetSMTPStartTLSOnSubmission(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("app@example.com", "pw"), mailtest.WithRequireTLSForAuth(true))
	c, err := netsmtp.Dial(srv.SubmissionAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS under WithRequireTLSForAuth")
	}
	if err := c.StartTLS(srv.ClientTLSConfig()); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := c.Auth(netsmtp.PlainAuth("", "app@example.com", "pw", "127.0.0.1")); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	if err := c.Mail("app@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@example.com"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: over TLS\r\n\r\nsecret\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	env := srv.WaitForMessage(t, mailtest.Subject("over TLS")).Envelope()
	if !env.TLS || env.AuthUser != "app@example.com" {
		t.Errorf("envelope TLS=%v AuthUser=%q, want true and app@example.com", env.TLS, env.AuthUser)
	}
}

// TestGoSMTPClientTLSModes sends with go-smtp's client over STARTTLS
// (submission, and SMTP with WithSMTPStartTLS) and over implicit TLS.
func TestGoSMTPClientTLSModes(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("app@example.com", "pw"), mailtest.WithSMTPStartTLS(true))
	dials := map[string]func() (*smtp.Client, error){
		"submission STARTTLS": func() (*smtp.Client, error) {
			return smtp.DialStartTLS(srv.SubmissionAddr(), srv.ClientTLSConfig())
		},
		"smtp STARTTLS": func() (*smtp.Client, error) { return smtp.DialStartTLS(srv.SMTPAddr(), srv.ClientTLSConfig()) },
		"smtps":         func() (*smtp.Client, error) { return smtp.DialTLS(srv.SMTPSAddr(), srv.ClientTLSConfig()) },
	}
	for name, dial := range dials {
		c, err := dial()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.Auth(sasl.NewPlainClient("", "app@example.com", "pw")); err != nil {
			t.Fatalf("%s: auth: %v", name, err)
		}
		if err := c.SendMail("app@example.com", []string{"bob@example.com"}, strings.NewReader("Subject: "+name+"\r\n\r\nx\r\n")); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.Quit()
		if env := srv.WaitForMessage(t, mailtest.Subject(name)).Envelope(); !env.TLS {
			t.Errorf("%s: envelope does not record TLS", name)
		}
	}
	// Plain SMTP delivery is recorded as such.
	sendRaw(t, srv.SMTPAddr(), "a@example.com", []string{"b@example.com"}, "Subject: plain\r\n\r\nx")
	if env := srv.WaitForMessage(t, mailtest.Subject("plain")).Envelope(); env.TLS {
		t.Error("plain delivery recorded as TLS")
	}
}

// TestPOP3STLS upgrades a POP3 session with STLS (RFC 2595).
func TestPOP3STLS(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "pw"), mailtest.WithRequireTLSForAuth(true))
	c := dialPOP3(t, srv.POP3Addr(), nil)
	c.pop3("USER bob@example.com", "-ERR [AUTH]")
	c.pop3("CAPA", "+OK")
	if capa := string(c.pop3Multi()); !strings.Contains(capa, "STLS") {
		t.Fatalf("CAPA before TLS lacks STLS:\n%s", capa)
	}
	c.pop3("STLS", "+OK")
	c.startTLS(srv.ClientTLSConfig())
	c.pop3("CAPA", "+OK")
	if capa := string(c.pop3Multi()); strings.Contains(capa, "STLS") {
		t.Errorf("CAPA after TLS still offers STLS:\n%s", capa)
	}
	c.pop3Login("bob@example.com", "pw")
	c.pop3("STAT", "+OK 0 0")
	c.pop3("QUIT", "+OK")
}

func TestWithTLSFalse(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithTLS(false))
	for _, addr := range []string{srv.SMTPSAddr(), srv.IMAPSAddr(), srv.POP3SAddr()} {
		if addr != "" {
			t.Errorf("TLS listener open at %s", addr)
		}
	}
	if srv.ClientTLSConfig() != nil {
		t.Error("ClientTLSConfig is not nil")
	}
	c, err := smtp.Dial(srv.SubmissionAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Hello("client.example")
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("submission offers STARTTLS without TLS")
	}
}

func TestWithCertificate(t *testing.T) {
	t.Parallel()
	b, err := testcert.Get()
	if err != nil {
		t.Fatal(err)
	}
	srv := mailtest.NewServer(t, mailtest.WithCertificate(b.Certificate))
	conn, err := tls.Dial("tcp", srv.SMTPSAddr(), srv.ClientTLSConfig())
	if err != nil {
		t.Fatalf("dial with the trusted custom certificate: %v", err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(b.Leaf.SerialNumber) != 0 {
		t.Errorf("server presented serial %v, want %v", got, b.Leaf.SerialNumber)
	}
	if srv.CertificatePEM() != nil {
		t.Error("CertificatePEM should be nil for a given certificate")
	}
}

// TestListenersAreLoopback: every listener binds 127.0.0.1, and a public
// address needs WithNonLoopback.
func TestListenersAreLoopback(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	for _, p := range mailtest.Listeners() {
		if addr := srv.Addr(p); !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("%s listens on %q", p, addr)
		}
	}
	if _, err := mailtest.New(mailtest.WithAddr(mailtest.SMTP, "0.0.0.0:0")); err == nil {
		t.Error("listening on 0.0.0.0 without WithNonLoopback was allowed")
	}
}
