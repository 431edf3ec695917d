package smtpfront

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mailrig/mailrig/mailtest/internal/conntrack"
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
	Deferred *Action

	session *session // of RCPT, for Defer
}

// Defer, called on a RCPT, keeps act for the transaction's DATA, where the
// hook gets it back as Command.Deferred. The session holds it and forgets
// it when the transaction ends (DATA, RSET, EHLO) or the connection does.
func (c Command) Defer(act *Action) {
	if c.session != nil {
		c.session.deferred = act
	}
}

// Action replaces or delays the answer to a command. The zero Action lets
// the command run normally.
type Action struct {
	// Delay is waited before anything else.
	Delay time.Duration
	// Code, EnhancedCode and Text make the reply sent instead of running
	// the command, when Code is not 0.
	Code         int
	EnhancedCode [3]int
	Text         string
	// Drop closes the connection without a reply. For DATA the message is
	// stored first: the client cannot know whether it was taken.
	Drop bool
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

func (a *Action) smtpError() *smtp.SMTPError {
	enh := smtp.EnhancedCode(a.EnhancedCode)
	if a.EnhancedCode == [3]int{} {
		enh = smtp.EnhancedCodeNotSet
	}
	return &smtp.SMTPError{Code: a.Code, EnhancedCode: enh, Message: a.Text}
}

// intercept asks the hook about cmd and carries out the delay; it returns
// the action left to take (nil: go on normally).
func (s *Server) intercept(cmd Command) *Action {
	if s.opts.Intercept == nil {
		return nil
	}
	act := s.opts.Intercept(cmd)
	if act == nil {
		return nil
	}
	if !s.sleep(act.Delay) {
		return &Action{Drop: true}
	}
	if act.Code == 0 && !act.Drop {
		return nil
	}
	return act
}

// sleep waits d, or less if the server closes; it reports whether the
// whole delay passed.
func (s *Server) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// admit decides at accept time whether a connection gets the normal
// greeting (true) or a refusal written by refuse.
func (s *Server) admit(open int64) bool {
	if s.opts.MaxConnections > 0 && open > int64(s.opts.MaxConnections) {
		return false
	}
	return true
}

// refuse answers a connection that admit turned away, or that a CONNECT
// fault refuses, with a 421 (RFC 5321 §3.1) and closes it.
func (s *Server) refuse(c net.Conn, tlsConfig *tls.Config, act *Action) {
	if act == nil {
		act = &Action{Code: 421, EnhancedCode: [3]int{4, 7, 0}, Text: "Too many connections, try again later"}
	}
	line := ""
	if !act.Drop {
		line = strconv.Itoa(act.Code)
		if act.EnhancedCode != [3]int{} {
			line += fmt.Sprintf(" %d.%d.%d", act.EnhancedCode[0], act.EnhancedCode[1], act.EnhancedCode[2])
		}
		line += " " + act.Text
	}
	conntrack.Refuse(c, tlsConfig, line)
}
