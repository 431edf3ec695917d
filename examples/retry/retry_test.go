package retry_test

import (
	"context"
	"errors"
	"net/textproto"
	"slices"
	"testing"
	"time"

	"github.com/mailrig/mailrig/examples/retry"
	"github.com/mailrig/mailrig/mailtest"
)

const (
	from = "billing@example.com"
	bob  = "bob@example.com"
)

// invoiceMail composes the message the tests send.
func invoiceMail(t *testing.T, to string) []byte {
	t.Helper()
	raw, err := mailtest.Draft{
		From:      from,
		To:        []string{to},
		Subject:   "Your invoice",
		MessageID: "invoice-42@example.com",
		Text:      "Amount due: 42 EUR",
	}.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// noWait is a Backoff that does not wait, so the tests run fast, and
// records the attempt numbers it was called after: Send calls it once
// between two attempts, so n calls mean n+1 attempts.
func noWait(calls *[]int) func(int) time.Duration {
	return func(n int) time.Duration {
		*calls = append(*calls, n)
		return 0
	}
}

// sendCtx bounds a test's Send, in case the conversation hangs.
func sendCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// replyCode returns the SMTP reply code err carries, or 0.
func replyCode(err error) int {
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return reply.Code
	}
	return 0
}

// Two "451 try again later" answers to RCPT, then the server takes it:
// three attempts, one message.
func TestRetriesTemporaryRefusal(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.SMTP, Command: "RCPT", Times: 2, Reply: "451 4.3.0 Try again later"})

	var retried []int
	s := &retry.Sender{Addr: srv.SMTPAddr(), MaxAttempts: 5, Backoff: noWait(&retried)}
	if err := s.Send(sendCtx(t), from, []string{bob}, invoiceMail(t, bob)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(retried, []int{1, 2}) {
		t.Errorf("backoff after attempts %v, want [1 2] (3 attempts)", retried)
	}
	if msgs := srv.Messages(mailtest.To(bob)); len(msgs) != 1 {
		t.Errorf("server holds %d messages, want 1", len(msgs))
	}
}

// "550 5.1.1" is final: one attempt, no retry, nothing stored.
func TestGivesUpOnPermanentRefusal(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.SMTP, Command: "RCPT", Reply: "550 5.1.1 No such user"})

	var retried []int
	s := &retry.Sender{Addr: srv.SMTPAddr(), MaxAttempts: 5, Backoff: noWait(&retried)}
	err := s.Send(sendCtx(t), from, []string{bob}, invoiceMail(t, bob))

	var perm *retry.PermanentError
	if !errors.As(err, &perm) || perm.Attempts != 1 {
		t.Fatalf("Send = %v, want a PermanentError after 1 attempt", err)
	}
	if code := replyCode(err); code != 550 {
		t.Errorf("reply code %d, want 550", code)
	}
	if len(retried) != 0 {
		t.Errorf("retried after attempts %v", retried)
	}
	if msgs := srv.Messages(); len(msgs) != 0 {
		t.Errorf("server holds %d messages, want none", len(msgs))
	}
}

// The server stores the message and then drops the connection instead of
// answering the final dot. The sender sees a broken connection, which is
// temporary, and sends again: the server now holds TWO copies.
//
// This is not a bug in the sender. It cannot tell "the server never got
// it" from "the server got it and the answer was lost", and losing an
// invoice is worse than sending it twice. SMTP is at-least-once; a
// receiver that cares deduplicates on the Message-ID, which both copies
// share because the sender resends the same bytes.
func TestDropAfterDataDeliversTwice(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.SMTP, Command: "DATA", Times: 1, Drop: true})

	var retried []int
	s := &retry.Sender{Addr: srv.SMTPAddr(), MaxAttempts: 3, Backoff: noWait(&retried)}
	if err := s.Send(sendCtx(t), from, []string{bob}, invoiceMail(t, bob)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(retried, []int{1}) {
		t.Errorf("backoff after attempts %v, want [1] (2 attempts)", retried)
	}
	msgs := srv.Messages(mailtest.To(bob))
	if len(msgs) != 2 {
		t.Fatalf("server holds %d messages, want 2 (the dropped attempt's and the retry's)", len(msgs))
	}
	if msgs[0].MessageID() != "invoice-42@example.com" || msgs[1].MessageID() != msgs[0].MessageID() {
		t.Errorf("Message-IDs %q and %q, want both invoice-42@example.com", msgs[0].MessageID(), msgs[1].MessageID())
	}
}

// A busy server greets with 421 and hangs up; the next connection works.
func TestRetriesBusyGreeting(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	srv.Inject(t, mailtest.Fault{Protocol: mailtest.SMTP, Command: "CONNECT", Times: 1, Reply: "421 4.3.2 Busy"})

	var retried []int
	s := &retry.Sender{Addr: srv.SMTPAddr(), MaxAttempts: 3, Backoff: noWait(&retried)}
	if err := s.Send(sendCtx(t), from, []string{bob}, invoiceMail(t, bob)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(retried, []int{1}) {
		t.Errorf("backoff after attempts %v, want [1] (2 attempts)", retried)
	}
	if msgs := srv.Messages(mailtest.To(bob)); len(msgs) != 1 {
		t.Errorf("server holds %d messages, want 1", len(msgs))
	}
}

// With no fault injected, the address itself asks the server to refuse
// RCPT with 452 every time, so every attempt fails temporarily.
func TestAddressConventionExhaustsAttempts(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	const full = "fail-rcpt-452@example.com"

	var retried []int
	s := &retry.Sender{Addr: srv.SMTPAddr(), MaxAttempts: 4, Backoff: noWait(&retried)}
	err := s.Send(sendCtx(t), from, []string{full}, invoiceMail(t, full))

	var exhausted *retry.ExhaustedError
	if !errors.As(err, &exhausted) || exhausted.Attempts != 4 {
		t.Fatalf("Send = %v, want an ExhaustedError after 4 attempts", err)
	}
	if code := replyCode(err); code != 452 {
		t.Errorf("reply code %d, want 452", code)
	}
	if !slices.Equal(retried, []int{1, 2, 3}) {
		t.Errorf("backoff after attempts %v, want [1 2 3]", retried)
	}
	if msgs := srv.Messages(); len(msgs) != 0 {
		t.Errorf("server holds %d messages, want none", len(msgs))
	}
}

// Send stops waiting between attempts as soon as the context is done.
func TestStopsWhenContextDone(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	const busy = "fail-rcpt-451@example.com"
	ctx, cancel := context.WithCancel(sendCtx(t))

	s := &retry.Sender{
		Addr:        srv.SMTPAddr(),
		MaxAttempts: 5,
		Backoff: func(int) time.Duration {
			cancel() // the caller gives up during the first wait
			return time.Hour
		},
	}
	err := s.Send(ctx, from, []string{busy}, invoiceMail(t, busy))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
	var exhausted *retry.ExhaustedError
	if errors.As(err, &exhausted) {
		t.Errorf("Send = %v, want no ExhaustedError", err)
	}
}
