// Package signup is an example application for mailtest: a sign-up
// service that registers an email address and mails a confirmation link,
// the way a web application does in production.
//
// The application uses only the standard library. It builds a
// multipart/alternative message (text and HTML, quoted-printable) with
// mime/multipart and mime/quotedprintable, and sends it through a
// submission server (port 587) with net/smtp: STARTTLS, then AUTH PLAIN.
// Because the TLS configuration is part of its Config, a test can point it
// at mailtest's SubmissionAddr and trust the test certificate with
// ClientTLSConfig, exactly as production code trusts the system roots.
//
// The test (signup_test.go) registers a user over HTTP, waits for the
// confirmation mail, checks its envelope, header and both parts, then
// follows the link to confirm the user. It also shows that a wrong SMTP
// password reaches the caller as the server's 535 reply.
package signup

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Config says how the application sends mail and where its links point.
type Config struct {
	SMTPAddr     string      // submission server, "host:port" (e.g. "smtp.example.com:587")
	SMTPUser     string      // AUTH PLAIN identity
	SMTPPassword string      // AUTH PLAIN password
	TLS          *tls.Config // for STARTTLS; nil trusts the system roots
	From         string      // sender address, e.g. "Example <noreply@example.com>"
	BaseURL      string      // public URL of the application, e.g. "https://app.example.com"
}

// App registers users and confirms them. It keeps its state in memory and
// is safe for concurrent use.
type App struct {
	cfg Config

	mu        sync.Mutex
	pending   map[string]string // confirmation token → email
	confirmed map[string]bool   // email → confirmed
}

// New returns an application that sends mail as cfg says.
func New(cfg Config) *App {
	return &App{cfg: cfg, pending: make(map[string]string), confirmed: make(map[string]bool)}
}

// ErrInvalidEmail is returned by Register for an address that does not parse.
var ErrInvalidEmail = errors.New("signup: invalid email address")

// Register records email as waiting for confirmation and mails it a
// confirmation link. If the mail cannot be sent, the registration is
// forgotten and the SMTP error is returned (a *textproto.Error when the
// server refused a command).
func (a *App) Register(ctx context.Context, email string) error {
	to, err := mail.ParseAddress(email)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEmail, err)
	}
	from, err := mail.ParseAddress(a.cfg.From)
	if err != nil {
		return fmt.Errorf("signup: Config.From: %w", err)
	}
	token := randomHex(16)
	a.mu.Lock()
	a.pending[token] = to.Address
	a.mu.Unlock()

	link := strings.TrimSuffix(a.cfg.BaseURL, "/") + "/confirm?token=" + url.QueryEscape(token)
	msg, err := confirmationMail(from, to, link)
	if err == nil {
		err = a.send(ctx, from.Address, to.Address, msg)
	}
	if err != nil {
		a.mu.Lock()
		delete(a.pending, token)
		a.mu.Unlock()
		return fmt.Errorf("signup: send confirmation to %s: %w", to.Address, err)
	}
	return nil
}

// Confirm marks the user the token was mailed to as confirmed. A token
// works once; ok is false for an unknown or used token.
func (a *App) Confirm(token string) (email string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	email, ok = a.pending[token]
	if ok {
		delete(a.pending, token)
		a.confirmed[email] = true
	}
	return email, ok
}

// Confirmed reports whether email has followed its confirmation link.
func (a *App) Confirmed(email string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.confirmed[email]
}

// Handler serves the application's HTTP API:
//
//	POST /register          form field "email"; 202 once the mail is sent
//	GET  /confirm?token=... confirms the user the token was mailed to
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /register", a.handleRegister)
	mux.HandleFunc("GET /confirm", a.handleConfirm)
	return mux
}

func (a *App) handleRegister(w http.ResponseWriter, r *http.Request) {
	err := a.Register(r.Context(), r.FormValue("email"))
	switch {
	case errors.Is(err, ErrInvalidEmail):
		http.Error(w, "invalid email address", http.StatusBadRequest)
	case err != nil:
		log.Print(err)
		http.Error(w, "cannot send the confirmation mail, try again later", http.StatusBadGateway)
	default:
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintln(w, "Check your inbox for the confirmation link.")
	}
}

func (a *App) handleConfirm(w http.ResponseWriter, r *http.Request) {
	email, ok := a.Confirm(r.URL.Query().Get("token"))
	if !ok {
		http.Error(w, "unknown or expired confirmation link", http.StatusNotFound)
		return
	}
	fmt.Fprintf(w, "Thanks, %s is confirmed.\n", email)
}

var htmlBody = template.Must(template.New("html").Parse(`<!DOCTYPE html>
<html><body>
<p>Welcome!</p>
<p><a href="{{.}}">Confirm your email address</a></p>
<p>If you did not sign up, ignore this mail.</p>
</body></html>
`))

// confirmationMail renders the message: a header and a
// multipart/alternative body with a text and an HTML part, both
// quoted-printable UTF-8, with CRLF line endings throughout.
func confirmationMail(from, to *mail.Address, link string) ([]byte, error) {
	var html bytes.Buffer
	if err := htmlBody.Execute(&html, link); err != nil {
		return nil, err
	}
	text := "Welcome!\n\nConfirm your email address by opening this link:\n\n" + link +
		"\n\nIf you did not sign up, ignore this mail.\n"

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range []struct{ contentType, content string }{
		{"text/plain; charset=utf-8", text}, // the least preferred alternative comes first
		{"text/html; charset=utf-8", html.String()},
	} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.contentType},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw) // also turns "\n" into CRLF
		if _, err := qp.Write([]byte(p.content)); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	var msg bytes.Buffer
	header := func(name, value string) { fmt.Fprintf(&msg, "%s: %s\r\n", name, value) }
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", "Confirm your email address"))
	header("Date", time.Now().Format(time.RFC1123Z))
	header("Message-ID", "<"+randomHex(12)+"@"+domain(from.Address)+">")
	header("MIME-Version", "1.0")
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	msg.WriteString("\r\n")
	msg.Write(body.Bytes())
	return msg.Bytes(), nil
}

// send runs one SMTP submission: STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA.
// smtp.SendMail would do the same but verifies the certificate only
// against the system roots, so the client is driven by hand to honour
// Config.TLS. The context bounds the whole conversation.
func (a *App) send(ctx context.Context, from, to string, msg []byte) error {
	host, _, err := net.SplitHostPort(a.cfg.SMTPAddr)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", a.cfg.SMTPAddr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) }) // unblock on cancel
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()

	if ok, _ := c.Extension("STARTTLS"); !ok {
		return errors.New("server does not offer STARTTLS")
	}
	tlsConfig := &tls.Config{}
	if a.cfg.TLS != nil {
		tlsConfig = a.cfg.TLS.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}
	if err := c.StartTLS(tlsConfig); err != nil {
		return err
	}
	if err := c.Auth(smtp.PlainAuth("", a.cfg.SMTPUser, a.cfg.SMTPPassword, host)); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil { // the server's verdict on the message
		return err
	}
	return c.Quit()
}

func domain(address string) string {
	if i := strings.LastIndexByte(address, '@'); i >= 0 {
		return address[i+1:]
	}
	return "localhost"
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
