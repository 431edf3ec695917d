// Package pop3 is mailrig's POP3 server (RFC 1939) with the extensions test
// suites usually exercise: CAPA and response codes (RFC 2449, RFC 3206),
// STLS (RFC 2595) and SASL PLAIN through AUTH (RFC 5034), plus APOP.
//
// The server knows nothing about storage: it talks to a [Backend], which
// hands out a locked [Maildrop] per successful login. A maildrop's message
// list is frozen at login, so message numbers are stable for the session.
//
// Everything a client can get wrong becomes a protocol reply; a misbehaving
// client never crashes or stalls the server. [Options.Trace] sees every
// protocol line with secrets masked, and [Options.Intercept] lets tests
// substitute replies or cut connections to inject faults.
package pop3
