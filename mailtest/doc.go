// Package mailtest runs a real mail server inside a Go test: SMTP,
// submission, IMAP and POP3, each also over TLS, on loopback ports, over an
// in-memory store. Tests point their application at it and check what
// arrived and what a real client would retrieve.
//
// # Starting a server
//
// NewServer starts every listener on an ephemeral 127.0.0.1 port and closes
// them when the test ends; it costs about a millisecond, so give each test
// its own:
//
//	func TestSignup(t *testing.T) {
//		t.Parallel()
//		srv := mailtest.NewServer(t, mailtest.WithUser("bob@example.com", "secret"))
//		app := signup.New(signup.Config{SMTPAddr: srv.SMTPAddr()})
//		...
//	}
//
// SMTPAddr is plain SMTP with no STARTTLS, so net/smtp.SendMail and most
// mailers work against it unchanged. SubmissionAddr offers STARTTLS and
// AUTH like port 587; SMTPSAddr, IMAPSAddr and POP3SAddr use implicit TLS;
// IMAPAddr and POP3Addr offer STARTTLS and STLS. ClientTLSConfig trusts the
// server's certificate, like httptest.Server.Client. Programs (the dev
// server in examples/devserver) use New instead and call Close.
//
// By default the server accepts mail for any address and creates its
// mailbox on delivery; such a user has no password, so nobody can log in as
// it until WithUser or AddUser gives it one.
//
// # Sending and waiting
//
// One SMTP transaction is one Message, however many recipients it had; it
// is filed as one copy in each recipient's INBOX. WaitForMessage and
// WaitForMessages block on store events (never by polling) until matching
// messages arrive, and fail the test after the wait timeout, listing what
// did arrive:
//
//	msg := srv.WaitForMessage(t, mailtest.To("bob@example.com"), mailtest.SubjectContains("Welcome"))
//	link := msg.Links()[0]
//
// Matchers (To, From, Subject, SubjectContains, Header, HeaderContains,
// BodyContains, Match) all have to match. Messages lists what arrived so
// far and Purge forgets it.
//
// A test can also send mail itself: compose a Draft (text, HTML,
// attachments, headers) and Send it through SMTP as an application would,
// or DeliverTo a user's mailbox directly with chosen flags and date, for
// tests of applications that read mail.
//
// # Inspecting
//
// A Message exposes the SMTP envelope apart from the header (MAIL FROM,
// every RCPT TO so Bcc is visible, HELO, TLS, AUTH identity) and the content
// decoded with go-message: From, To, Cc, Subject, Date, Header, Text, HTML,
// Attachments, Links and Raw. Raw is what IMAP BODY[] and POP3 RETR return:
// the DATA payload with line endings normalised to CRLF, after the
// Return-Path and Received fields the server prepends (WithTraceHeaders).
//
// # What IMAP and POP3 clients see
//
// IMAPView shows what an IMAP client of a user would see now: mailboxes
// with their special-use attributes, UIDVALIDITY and UIDNEXT, and messages
// with UIDs and flags, and the user's open IMAP sessions with what each
// client said about itself with ID (RFC 2971). POP3View shows what a POP3 client would download:
// the INBOX only, numbered from 1, with sizes and UIDLs, and whether a POP3
// session holds the maildrop lock. Neither logs in. The two protocols
// differ as real servers do: IMAP keeps mail and flags on the server and
// several sessions see each other's changes at once; POP3 downloads,
// deletes only at QUIT, and locks the maildrop against a second session.
// IMAPClient returns a logged-in go-imap client for a user.
//
// # Faults and limits
//
// Inject makes the server fail deterministically on one protocol (SMTP,
// IMAP or POP3, on all of its listeners): a reply code for a command
// (SMTP "452 4.2.2", IMAP "NO [OVERQUOTA]", POP3 "-ERR [SYS/TEMP]"), a
// delay, or a dropped connection, for the next N commands or until
// cleared. On SMTP a recipient address asks for a failure without
// code: RCPT TO:<fail-rcpt-452@example.com> is refused with 452, and a
// recipient fail-data-451@… makes the DATA fail. Options simulate provider
// limits: WithMaxConnections, WithRateLimit, WithMaxMessageBytes,
// WithMaxRecipients, per-user quotas (memstore's User.SetQuota for bytes,
// User.SetMessageQuota for the number of messages), and hidden
// extensions (WithHiddenIMAPCapabilities, WithHiddenSMTPExtensions,
// WithHiddenPOP3Capabilities) so applications can test their fallbacks.
//
// # Transcripts
//
// Every session's protocol lines are kept, in both directions, with
// timestamps, passwords and AUTH data masked and message bodies summarised
// as one line. When a test fails, NewServer's cleanup writes the
// transcripts to the test log. Transcripts returns them on demand, and
// Transcript(msg.Envelope().SessionID) finds the SMTP session that
// delivered a message. WithTranscriptLog logs each finished session (the
// dev server's -v); WithTranscripts(false) turns recording off.
//
// # TLS
//
// A certificate for localhost, 127.0.0.1 and ::1 is generated once per
// process. WithRequireTLSForAuth refuses authentication before TLS on every
// protocol; WithTLS(false) turns TLS off; WithCertificate supplies your own.
package mailtest
