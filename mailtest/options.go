package mailtest

import (
	"crypto/tls"
	"log/slog"
	"time"
)

// Option configures a Server. Pass options to NewServer or New.
//
// Every option is With<what it sets>(value): a feature that can be on or
// off takes a bool (WithTLS(false), WithRequireAuth(true)), and the doc
// says which is the default.
type Option func(*config)

type config struct {
	users                  []userSpec
	logger                 *slog.Logger
	waitTimeout            time.Duration
	maxMessageBytes        int64
	maxRecipients          int
	onlyKnownRecipients    bool
	requireAuth            bool
	requireTLSForAuth      bool
	traceHeaders           bool
	smtpStartTLS           bool
	tls                    bool
	cert                   *tls.Certificate
	pop3MarkSeen           bool
	addrs                  map[Listener]string
	nonLoopback            bool
	domain                 string
	readTimeout            time.Duration
	idleTimeout            time.Duration
	addressFaults          bool
	maxConnections         int
	rateN                  int
	rateWindow             time.Duration
	hiddenIMAPCapabilities []string
	imapSetQuota           bool
	imapIdleTimeout        time.Duration
	failedLoginDelay       time.Duration
	hiddenSMTPExtensions   []string
	hiddenPOP3Capabilities []string
	transcripts            bool
	transcriptsSet         bool // by WithTranscripts or WithTranscriptLog
	transcriptLog          *slog.Logger
	webHosts               []string
	webUser                string
	webPassword            string
}

type userSpec struct {
	address, password string
	aliases           []string
}

func defaultConfig() config {
	return config{
		waitTimeout:     5 * time.Second,
		maxMessageBytes: 25 << 20,
		maxRecipients:   100,
		domain:          "localhost",
		readTimeout:     time.Minute,
		idleTimeout:     10 * time.Minute,
		imapIdleTimeout: 30 * time.Minute,
		tls:             true,
		traceHeaders:    true,
		addressFaults:   true,
		transcripts:     true,
	}
}

// WithUser creates an account that can log in over IMAP, POP3 and SMTP AUTH.
// Extra addresses (aliases) deliver into the same mailboxes.
func WithUser(address, password string, aliases ...string) Option {
	return func(c *config) {
		c.users = append(c.users, userSpec{address, password, aliases})
	}
}

// WithLogger sends the server's logs to l. By default NewServer logs
// warnings and errors to the test log and New discards logs.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithWaitTimeout sets how long the Wait helpers wait before failing the
// test. The default is 5 seconds.
func WithWaitTimeout(d time.Duration) Option {
	return func(c *config) { c.waitTimeout = d }
}

// WithMaxMessageBytes sets the size limit for SMTP DATA/BDAT (and the SIZE
// parameter) and for IMAP APPEND. The default is 25 MiB.
func WithMaxMessageBytes(n int64) Option {
	return func(c *config) { c.maxMessageBytes = n }
}

// WithMaxRecipients limits RCPT TO commands per SMTP transaction
// (default 100).
func WithMaxRecipients(n int) Option {
	return func(c *config) { c.maxRecipients = n }
}

// WithOnlyKnownRecipients says whether SMTP refuses recipients that are not
// users or aliases (550 5.1.1). Off by default: mail for any address is
// accepted and its user is created without a password.
func WithOnlyKnownRecipients(on bool) Option {
	return func(c *config) { c.onlyKnownRecipients = on }
}

// WithRequireAuth says whether SMTP refuses MAIL FROM before a successful
// AUTH (530 5.7.0) on every SMTP listener. Off by default.
func WithRequireAuth(on bool) Option {
	return func(c *config) { c.requireAuth = on }
}

// WithRequireTLSForAuth says whether authentication needs TLS first, on
// every protocol: IMAP advertises LOGINDISABLED, SMTP hides AUTH until
// STARTTLS and POP3 refuses USER, PASS, APOP and AUTH before STLS. Only
// authentication needs it: mail without AUTH still flows in plain text.
// Off by default, since every listener is on loopback.
func WithRequireTLSForAuth(on bool) Option {
	return func(c *config) { c.requireTLSForAuth = on }
}

// WithTraceHeaders says whether SMTP prepends Return-Path and Received to
// each message (on by default, as real servers do). Off, the stored bytes
// are exactly the DATA payload with line endings normalised to CRLF.
func WithTraceHeaders(on bool) Option {
	return func(c *config) { c.traceHeaders = on }
}

// WithSMTPStartTLS says whether the plain SMTP listener offers STARTTLS
// too. Off by default because net/smtp.SendMail and most mailers upgrade
// whenever STARTTLS is offered and then reject our certificate.
func WithSMTPStartTLS(on bool) Option {
	return func(c *config) { c.smtpStartTLS = on }
}

// WithTLS says whether the server speaks TLS. On by default; off, there is
// no SMTPS, IMAPS or POP3S listener and no STARTTLS or STLS on the others.
func WithTLS(on bool) Option {
	return func(c *config) { c.tls = on }
}

// WithCertificate makes every TLS listener use cert instead of the
// generated certificate for localhost. ClientTLSConfig then trusts the
// system roots plus cert's leaf if it is self-signed.
func WithCertificate(cert tls.Certificate) Option {
	return func(c *config) { c.cert = &cert }
}

// WithPOP3MarkSeen says whether POP3 RETR sets \Seen on the message, so
// IMAP clients see it as read. Off by default: POP3 has no read state
// (RFC 1939), and a download by one client should not change what an IMAP
// client of the same user shows unless the test asks for it.
func WithPOP3MarkSeen(on bool) Option {
	return func(c *config) { c.pop3MarkSeen = on }
}

// WithAddr makes listener l listen on addr (e.g. "127.0.0.1:1025") instead
// of an ephemeral loopback port. An empty addr turns the listener off.
// Non-loopback addresses are refused unless WithNonLoopback is given.
func WithAddr(l Listener, addr string) Option {
	return func(c *config) {
		if c.addrs == nil {
			c.addrs = make(map[Listener]string)
		}
		c.addrs[l] = addr
	}
}

// WithNonLoopback says whether WithAddr may name addresses other than
// loopback. Off by default; only the dev server's -public flag should need
// it.
func WithNonLoopback(on bool) Option {
	return func(c *config) { c.nonLoopback = on }
}

// WithDomain sets the host name the server greets with (default "localhost").
func WithDomain(domain string) Option {
	return func(c *config) { c.domain = domain }
}

// WithTimeouts sets the per-command read deadline and the idle timeout of
// every session. The defaults are the RFC minimums for autologout: a
// 1-minute read deadline, and an idle timeout of 10 minutes for SMTP and
// POP3 (RFC 1939 §3) and 30 minutes for IMAP (RFC 3501 §5.4).
func WithTimeouts(read, idle time.Duration) Option {
	return func(c *config) { c.readTimeout, c.idleTimeout, c.imapIdleTimeout = read, idle, idle }
}

// WithAddressFaults says whether the recipient-address convention is on,
// under which RCPT TO:<fail-rcpt-452@any.domain> is refused with 452 4.2.2
// and a recipient fail-data-451@… makes the transaction's DATA fail with
// 451 4.3.0 (fail-…-drop closes the connection instead; a "+tag" may follow
// the code). On by default so the dev server can play failures without
// code.
func WithAddressFaults(on bool) Option {
	return func(c *config) { c.addressFaults = on }
}

// WithMaxConnections limits the open connections of each listener, like a
// busy provider: beyond n, SMTP greets with 421 4.7.0, IMAP with
// "* BYE [UNAVAILABLE]" and POP3 with "-ERR [SYS/TEMP]", and closes.
func WithMaxConnections(n int) Option {
	return func(c *config) { c.maxConnections = n }
}

// WithRateLimit lets each sender (its AUTH identity, or else its IP address)
// start at most n SMTP transactions per window; beyond that MAIL FROM is
// answered 451 4.7.1.
func WithRateLimit(n int, window time.Duration) Option {
	return func(c *config) { c.rateN, c.rateWindow = n, window }
}

// WithHiddenIMAPCapabilities sets IMAP extensions to hide, so an
// application can test its fallbacks; each call adds to the set. Names
// match case-insensitively: "MOVE", "UIDPLUS", "IDLE", "UNSELECT",
// "SPECIAL-USE", "CREATE-SPECIAL-USE", "STARTTLS", "NAMESPACE", "ESEARCH",
// "SEARCHRES", "LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE", "BINARY",
// "CHILDREN", "LITERAL+", "IMAP4rev2", "ID", "QUOTA", "QUOTA=RES-MESSAGE",
// "SORT", "SORT=DISPLAY", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES";
// any other name makes New fail, as a typo would otherwise hide nothing. A
// hidden extension is listed neither before nor after login and its
// command is refused with BAD (ID, the QUOTA commands, SORT and THREAD as
// unknown commands); a hidden QUOTA=RES-MESSAGE leaves the MESSAGE
// resource out of GETQUOTA and SETQUOTA.
func WithHiddenIMAPCapabilities(names ...string) Option {
	return func(c *config) { c.hiddenIMAPCapabilities = append(c.hiddenIMAPCapabilities, names...) }
}

// WithIMAPSetQuota sets whether IMAP clients may change their own STORAGE
// and MESSAGE limits with SETQUOTA (RFC 9208; QUOTASET is then
// advertised). It is off by default: SETQUOTA is refused with NO [NOPERM],
// as on most servers, and a test sets quotas with memstore's
// User.SetQuota and User.SetMessageQuota.
func WithIMAPSetQuota(on bool) Option {
	return func(c *config) { c.imapSetQuota = on }
}

// WithHiddenSMTPExtensions sets SMTP extensions to hide on every SMTP
// listener, so an application can test its fallbacks; each call adds to
// the set: "STARTTLS", "SMTPUTF8", "AUTH", "PIPELINING", "SIZE", "CHUNKING"
// or "8BITMIME", matched case-insensitively. A hidden extension is not
// advertised in EHLO (before or after STARTTLS, and on SMTPS) and its
// command or parameter is refused (AUTH: 502 5.7.0; SMTPUTF8: 504 5.5.4;
// SIZE= and BODY=: 555 5.5.4; BDAT: 502 5.5.1, after go-smtp has read its
// chunk). A client that pipelines without PIPELINING is still answered, in
// order, as by a server that reads one command at a time.
// ENHANCEDSTATUSCODES cannot be hidden; it, or any other name, makes New
// fail.
func WithHiddenSMTPExtensions(names ...string) Option {
	return func(c *config) { c.hiddenSMTPExtensions = append(c.hiddenSMTPExtensions, names...) }
}

// WithHiddenPOP3Capabilities sets POP3 capabilities to hide; each call adds
// to the set: "TOP", "UIDL", "STLS", "SASL" (the AUTH command) or "USER"
// (USER and PASS), matched case-insensitively; any other name makes New
// fail. A hidden capability is left out of CAPA and its commands are
// answered "-ERR unknown command".
func WithHiddenPOP3Capabilities(names ...string) Option {
	return func(c *config) { c.hiddenPOP3Capabilities = append(c.hiddenPOP3Capabilities, names...) }
}

// WithFailedLoginDelay makes every protocol wait d before it answers a
// failed login (SMTP AUTH, IMAP LOGIN/AUTHENTICATE, POP3 PASS/APOP/AUTH),
// as servers do to slow down password guessing, so an application's
// timeouts can be tested against it. There is no delay by default.
func WithFailedLoginDelay(d time.Duration) Option {
	return func(c *config) { c.failedLoginDelay = d }
}
