package signup_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mailrig/mailrig/examples/signup"
	"github.com/mailrig/mailrig/mailtest"
)

// newApp configures the application against the test server, as
// production configures it against the real submission server.
func newApp(srv *mailtest.Server, smtpPassword string) *signup.App {
	return signup.New(signup.Config{
		SMTPAddr:     srv.SubmissionAddr(),
		SMTPUser:     "app@example.com",
		SMTPPassword: smtpPassword,
		TLS:          srv.ClientTLSConfig(), // trust the test certificate
		From:         "Example App <app@example.com>",
		BaseURL:      "https://app.example.com",
	})
}

func TestRegisterMailsConfirmationLink(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("app@example.com", "app-password"))
	app := newApp(srv, "app-password")
	h := app.Handler()

	form := url.Values{"email": {"bob@example.com"}}
	req := httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST /register: %d %s", rec.Code, rec.Body)
	}

	msg := srv.WaitForMessage(t, mailtest.To("bob@example.com"))

	env := msg.Envelope()
	if env.MailFrom != "app@example.com" || !slices.Equal(env.Rcpts, []string{"bob@example.com"}) {
		t.Errorf("envelope: MAIL FROM %q, RCPT TO %q", env.MailFrom, env.Rcpts)
	}
	if !env.TLS {
		t.Error("mail was submitted without STARTTLS")
	}
	if env.AuthUser != "app@example.com" {
		t.Errorf("AUTH identity = %q, want app@example.com", env.AuthUser)
	}

	if msg.From() != "app@example.com" || msg.FromName() != "Example App" {
		t.Errorf("From: %q <%s>", msg.FromName(), msg.From())
	}
	if !slices.Equal(msg.To(), []string{"bob@example.com"}) {
		t.Errorf("To: %q", msg.To())
	}
	if msg.Subject() != "Confirm your email address" {
		t.Errorf("Subject: %q", msg.Subject())
	}
	if msg.Date().IsZero() {
		t.Error("Date header missing or invalid")
	}
	if msg.MessageID() == "" {
		t.Error("Message-ID header missing")
	}

	links := msg.Links()
	if len(links) == 0 {
		t.Fatalf("no link in the HTML part:\n%s", msg.HTML())
	}
	link := links[0]
	if !strings.HasPrefix(link, "https://app.example.com/confirm?token=") {
		t.Fatalf("link = %q", link)
	}
	if !strings.Contains(msg.Text(), link) {
		t.Errorf("text part lacks %s:\n%s", link, msg.Text())
	}
	if !strings.Contains(msg.HTML(), `href="`+link+`"`) {
		t.Errorf("HTML part lacks %s:\n%s", link, msg.HTML())
	}

	// Click the link.
	if app.Confirmed("bob@example.com") {
		t.Fatal("confirmed before the link was followed")
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, link, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", link, rec.Code, rec.Body)
	}
	if !app.Confirmed("bob@example.com") {
		t.Error("not confirmed after following the link")
	}

	// A token works once.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, link, nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("second GET %s: %d, want 404", link, rec.Code)
	}
}

func TestRegisterReportsSMTPAuthFailure(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t, mailtest.WithUser("app@example.com", "app-password"))
	app := newApp(srv, "wrong-password")

	err := app.Register(context.Background(), "bob@example.com")
	var reply *textproto.Error
	if !errors.As(err, &reply) || reply.Code != 535 {
		t.Fatalf("Register with a wrong SMTP password: %v, want a 535 reply", err)
	}
	if msgs := srv.Messages(); len(msgs) != 0 {
		t.Errorf("messages sent anyway: %v", msgs)
	}
}
