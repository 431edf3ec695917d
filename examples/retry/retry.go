// Package retry is an example application for mailtest: a mail sender
// that retries when the server says "try again later" and gives up when it
// says "never".
//
// SMTP replies say which is which: a 4xx code is a temporary failure (the
// server is busy, a mailbox is over quota, greylisting), a 5xx code is
// permanent (no such user, message refused). Sender retries the whole
// transaction on 4xx replies and on broken connections, waiting Backoff
// between attempts, and stops at once on 5xx. It uses only net/smtp; the
// server's reply reaches it as a *textproto.Error.
//
// The tests (retry_test.go) make mailtest fail on purpose with
// srv.Inject(t, mailtest.Fault{...}) and with the fail-rcpt-452@… address
// convention, and check with srv.Messages how many copies were stored. One
// of them shows the price of retrying: if the connection drops after the
// message was sent but before the server's answer, the sender cannot know
// the message was taken, retries, and the recipient gets it twice.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"time"
)

// DefaultMaxAttempts is used when Sender.MaxAttempts is zero.
const DefaultMaxAttempts = 3

// Sender sends mail through one SMTP server, retrying temporary failures.
// It keeps no state between calls and is safe for concurrent use.
type Sender struct {
	Addr string // SMTP server, "host:port"

	// MaxAttempts is how many times Send tries a message, the first time
	// included. Zero means DefaultMaxAttempts.
	MaxAttempts int

	// Backoff says how long to wait after failed attempt number n (1 for
	// the first). Nil means exponential backoff from one second:
	// 1s, 2s, 4s...
	Backoff func(n int) time.Duration
}

// PermanentError is returned when trying again would fail the same way:
// the server refused the message for good (a 5xx reply), or the attempt
// failed for a reason that is neither a 4xx reply nor a broken connection
// (an address net/smtp rejects, for instance).
type PermanentError struct {
	Attempts int   // attempts made, this one included
	Err      error // the cause, usually a *textproto.Error
}

// Error says how many attempts were made and why the last was refused.
func (e *PermanentError) Error() string {
	return fmt.Sprintf("retry: refused for good after %d attempt(s): %v", e.Attempts, e.Err)
}

// Unwrap returns the server's reply, so errors.As finds its code.
func (e *PermanentError) Unwrap() error { return e.Err }

// ExhaustedError is returned when every attempt failed temporarily.
type ExhaustedError struct {
	Attempts int   // attempts made
	Err      error // the last attempt's error
}

// Error says how many attempts were made and why the last failed.
func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("retry: gave up after %d attempt(s): %v", e.Attempts, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *ExhaustedError) Unwrap() error { return e.Err }

// Send sends msg from from to every address in to, in one SMTP
// transaction per attempt. It returns nil once the server has accepted
// the message, a *PermanentError, an *ExhaustedError, or ctx's error if
// ctx is done first. Both error types unwrap to the server's reply, so
// errors.As(err, new(*textproto.Error)) gives its code.
//
// A refused recipient fails the whole attempt, so with several recipients
// one bad address stops the message for all of them.
//
// Delivery is at least once, not exactly once: when the connection breaks
// after the message was sent but before the server answered, the server
// may well have taken it, and the retry delivers a second copy. Since each
// attempt sends the same bytes, the copies share their Message-ID, which
// receivers can use to drop duplicates.
func (s *Sender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	maxAttempts := s.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	for attempt := 1; ; attempt++ {
		err := s.send(ctx, from, to, msg)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return stopped(ctx, attempt, err)
		case !temporary(err):
			return &PermanentError{Attempts: attempt, Err: err}
		case attempt >= maxAttempts:
			return &ExhaustedError{Attempts: attempt, Err: err}
		}

		timer := time.NewTimer(s.backoff(attempt))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return stopped(ctx, attempt, err)
		}
	}
}

func stopped(ctx context.Context, attempts int, last error) error {
	return fmt.Errorf("retry: stopped after %d attempt(s): %w (last error: %v)", attempts, ctx.Err(), last)
}

func (s *Sender) backoff(attempt int) time.Duration {
	if s.Backoff != nil {
		return s.Backoff(attempt)
	}
	return time.Second << min(attempt-1, 10) // at most about 17 minutes
}

// temporary reports whether an attempt that failed with err may succeed
// later: the server answered 4xx, or the conversation broke off without an
// answer (a refused or reset connection, a timeout, EOF).
func temporary(err error) bool {
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return reply.Code/100 == 4
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// send makes one attempt: connect, MAIL, RCPT for each recipient, DATA.
// The context bounds the whole conversation.
func (s *Sender) send(ctx context.Context, from string, to []string, msg []byte) error {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) }) // unblock on cancel
	defer stop()
	c, err := smtp.NewClient(conn, host) // reads the greeting, which may be 421
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()

	if err := c.Mail(from); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
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
	// The message is accepted: a failed QUIT must not cause a retry.
	_ = c.Quit()
	return nil
}
