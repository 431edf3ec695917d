package smtpfront

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
	"github.com/mailrig/mailrig/mailtest/internal/fault"
)

// Command describes an SMTP command about to be answered, for
// Options.Intercept.
type Command struct {
	// Name is "CONNECT" (before the greeting), "HELO" (HELO or EHLO),
	// "AUTH", "MAIL", "RCPT" or "DATA" (after the final dot, before the
	// message is stored).
	Name string
	// Arg is the address of MAIL and RCPT, the mechanism of AUTH, the
	// HELO name, or "".
	Arg string
	// SessionID names the session ("" for CONNECT).
	SessionID string
	// AuthUser is the authenticated identity, if any.
	AuthUser string
	// RemoteAddr is the client's address.
	RemoteAddr string
	// Deferred, for DATA, is the action the last Defer of the transaction
	// kept, or nil.
	Deferred *fault.Action

	session *session // of RCPT, for Defer
}

// Defer, called on a RCPT, keeps act for the transaction's DATA, where the
// hook gets it back as Command.Deferred. The session holds it and forgets
// it when the transaction ends (DATA, RSET, EHLO) or the connection does.
func (c Command) Defer(act *fault.Action) {
	if c.session != nil {
		c.session.deferred = act
	}
}

// ParseReply turns "452 4.2.2 Mailbox full" into its parts. The enhanced
// code is optional; the text defaults to a generic one.
func ParseReply(s string) (code int, enhanced [3]int, text string, err error) {
	fields := strings.SplitN(strings.TrimSpace(s), " ", 3)
	code, err = strconv.Atoi(fields[0])
	if err != nil || code < 200 || code > 599 {
		return 0, enhanced, "", fmt.Errorf("smtpfront: reply %q must start with a code 200-599", s)
	}
	rest := fields[1:]
	if len(rest) > 0 {
		if parts := strings.Split(rest[0], "."); len(parts) == 3 {
			ok := true
			for i, p := range parts {
				n, err := strconv.Atoi(p)
				if err != nil {
					ok = false
					break
				}
				enhanced[i] = n
			}
			if ok && enhanced[0] == code/100 {
				rest = rest[1:]
			} else {
				enhanced = [3]int{}
			}
		}
	}
	text = strings.Join(rest, " ")
	if text == "" {
		text = "Refused by a test fault"
	}
	return code, enhanced, text, nil
}

// action is a fault.Action in go-smtp's terms, left to take after its
// delay: drop the connection, or answer with err.
type action struct {
	Drop bool
	err  *smtp.SMTPError
}

func (a *action) smtpError() *smtp.SMTPError { return a.err }

// intercept asks the hook about cmd and carries out the delay; it returns
// the action left to take (nil: go on normally).
func (s *Server) intercept(cmd Command) *action {
	if s.opts.Intercept == nil {
		return nil
	}
	act := s.opts.Intercept(cmd)
	if act == nil {
		return nil
	}
	if !s.conns.Sleep(act.Delay) || act.Drop {
		return &action{Drop: true}
	}
	if act.Reply == "" {
		return nil
	}
	return &action{err: s.replyError(act.Reply)}
}

// replyError turns a fault's reply into the error go-smtp answers with.
func (s *Server) replyError(reply string) *smtp.SMTPError {
	code, enhanced, text, err := ParseReply(reply)
	if err != nil {
		s.opts.Logger.Error("smtp: bad fault reply; answering 451", "err", err)
		code, enhanced, text = 451, [3]int{4, 3, 0}, "Refused by a test fault"
	}
	enh := smtp.EnhancedCode(enhanced)
	if enhanced == [3]int{} {
		enh = smtp.EnhancedCodeNotSet
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: text}
}

// tooManyConnections answers a connection beyond MaxConnections (RFC 5321
// §3.1 allows a 421 greeting).
const tooManyConnections = "421 4.7.0 Too many connections, try again later"

// replyLine is e's reply as sent on the wire, without its CRLF.
func replyLine(e *smtp.SMTPError) string {
	line := strconv.Itoa(e.Code)
	if e.EnhancedCode != smtp.EnhancedCodeNotSet && e.EnhancedCode != (smtp.EnhancedCode{}) {
		line += fmt.Sprintf(" %d.%d.%d", e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2])
	}
	return line + " " + e.Message
}
