// Package inboxworker is an example application for mailtest: a worker
// that watches an IMAP mailbox for invoices, the way accounting systems
// read a shared "invoices@" address.
//
// For every unread message in INBOX the worker saves each PDF attachment
// to a directory, marks the message \Seen and moves it to the Processed
// mailbox, so INBOX only ever holds work still to do. It then waits for
// new mail with IDLE, or by polling when the server cannot IDLE.
//
// The worker is written with go-imap v2's imapclient and go-message, and
// it copes with servers that lack the extensions it prefers: without MOVE
// it copies, flags \Deleted and expunges; without IDLE it polls. The tests
// (inboxworker_test.go) deliver invoices straight into the store with
// srv.DeliverTo, run the worker, wait on store events until it has moved
// them, and check the result with srv.IMAPView and the saved files. They
// replay the same scenario with mailtest.WithHiddenIMAPCapabilities("MOVE") and
// ("IDLE") to exercise both fallbacks.
package inboxworker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// ProcessedMailbox is where the worker moves the messages it has handled.
// It is created on first use.
const ProcessedMailbox = "Processed"

// DefaultPollInterval is used when Worker.PollInterval is zero.
const DefaultPollInterval = time.Minute

// Worker processes the invoices of one IMAP account. Its fields must not
// change while Run or ProcessOnce runs. Run one worker per mailbox: two
// workers would each process the same new message.
type Worker struct {
	Addr     string      // IMAP server, "host:port"
	TLS      *tls.Config // implicit TLS (IMAPS, port 993) if non-nil
	User     string
	Password string
	Dir      string // where PDF attachments are saved, as "<uid>-<filename>"

	// PollInterval is how often Run checks INBOX when the server cannot
	// IDLE. With IDLE it is also how long one IDLE lasts before Run ends
	// it and checks anyway, which is how it finds out that a server
	// accepted IDLE but cannot do it. Zero means DefaultPollInterval.
	PollInterval time.Duration
}

// ProcessOnce connects, processes every unread message in INBOX and logs
// out. It returns how many messages it moved to ProcessedMailbox. Like
// Run, it checks ctx between messages.
func (w *Worker) ProcessOnce(ctx context.Context) (int, error) {
	c, err := w.connect(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	n, err := w.processInbox(ctx, c)
	if err != nil {
		return n, err
	}
	return n, c.Logout().Wait()
}

// Run processes INBOX, then waits for new mail and processes it, until ctx
// is done; it then logs out and returns ctx.Err(). It returns earlier only
// on an error (a failed login, a lost connection, a file it cannot write);
// the caller decides whether to run it again.
//
// Run checks ctx while it waits and between messages; a command already
// sent is allowed to finish (imapclient bounds each one with a timeout).
//
// A message is marked \Seen only once its attachments are saved, so a
// message Run failed on is tried again by the next run. Saving is
// idempotent: the same message always writes the same files.
func (w *Worker) Run(ctx context.Context) error {
	// The server announces new mail with an untagged EXISTS, which
	// imapclient hands to this callback. It must not block.
	newMail := make(chan struct{}, 1)
	c, err := w.connect(ctx, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case newMail <- struct{}{}:
					default: // a wake-up is already pending
					}
				}
			},
		},
	})
	if err != nil {
		return err
	}
	defer c.Close()

	// IMAP4rev2 includes IDLE, and go-imap's Has knows it. Servers still
	// get IDLE wrong in the field (it can be listed and then refused), so
	// a failed IDLE switches the worker to polling for good.
	useIdle := c.Caps().Has(imap.CapIdle)
	for ctx.Err() == nil {
		if _, err := w.processInbox(ctx, c); err != nil {
			if ctx.Err() != nil {
				break // stopped between two messages
			}
			return err
		}
		if useIdle {
			if useIdle, err = w.idle(ctx, c, newMail); err != nil {
				return fmt.Errorf("inboxworker: idle: %w", err)
			}
		} else {
			w.poll(ctx, newMail)
		}
	}
	c.Logout().Wait() // best effort: we are leaving anyway
	return ctx.Err()
}

func (w *Worker) pollInterval() time.Duration {
	if w.PollInterval > 0 {
		return w.PollInterval
	}
	return DefaultPollInterval
}

// idle waits in IDLE until the server reports new mail, PollInterval
// passes or ctx is done, then ends it. ok is false if the server refused
// IDLE, which some servers do only when the client ends it with DONE.
func (w *Worker) idle(ctx context.Context, c *imapclient.Client, newMail <-chan struct{}) (ok bool, err error) {
	cmd, err := c.Idle()
	if err != nil {
		return false, ignoreRefusal(err)
	}
	timer := time.NewTimer(w.pollInterval())
	defer timer.Stop()
	select {
	case <-newMail:
	case <-timer.C:
	case <-ctx.Done():
	}
	if err := cmd.Close(); err != nil { // sends DONE
		return false, err
	}
	if err := cmd.Wait(); err != nil {
		return false, ignoreRefusal(err)
	}
	return true, nil
}

// poll waits PollInterval, or less if the server mentioned new mail in
// the answer to an earlier command, or until ctx is done.
func (w *Worker) poll(ctx context.Context, newMail <-chan struct{}) {
	timer := time.NewTimer(w.pollInterval())
	defer timer.Stop()
	select {
	case <-newMail:
	case <-timer.C:
	case <-ctx.Done():
	}
}

// isRefusal reports whether err is the server's NO or BAD to a command,
// as opposed to a broken connection.
func isRefusal(err error) bool {
	var imapErr *imap.Error
	return errors.As(err, &imapErr)
}

func ignoreRefusal(err error) error {
	if isRefusal(err) {
		return nil
	}
	return err
}

// connect dials, logs in, makes sure ProcessedMailbox exists and selects
// INBOX.
func (w *Worker) connect(ctx context.Context, opts *imapclient.Options) (*imapclient.Client, error) {
	var conn net.Conn
	var err error
	if w.TLS != nil {
		conn, err = (&tls.Dialer{Config: w.TLS}).DialContext(ctx, "tcp", w.Addr)
	} else {
		conn, err = new(net.Dialer).DialContext(ctx, "tcp", w.Addr)
	}
	if err != nil {
		return nil, err
	}
	c := imapclient.New(conn, opts)
	if err := w.setUp(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (w *Worker) setUp(c *imapclient.Client) error {
	if err := c.Login(w.User, w.Password).Wait(); err != nil {
		return fmt.Errorf("inboxworker: login as %s: %w", w.User, err)
	}
	// LIST before CREATE: not every server says [ALREADYEXISTS] when the
	// mailbox is there.
	found, err := c.List("", ProcessedMailbox, nil).Collect()
	if err != nil {
		return fmt.Errorf("inboxworker: list %s: %w", ProcessedMailbox, err)
	}
	if len(found) == 0 {
		if err := c.Create(ProcessedMailbox, nil).Wait(); err != nil {
			return fmt.Errorf("inboxworker: create %s: %w", ProcessedMailbox, err)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return fmt.Errorf("inboxworker: select INBOX: %w", err)
	}
	return nil
}

// processInbox handles every unread message of the selected INBOX, one at
// a time, so an error leaves the remaining ones for the next pass.
func (w *Worker) processInbox(ctx context.Context, c *imapclient.Client) (int, error) {
	found, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("inboxworker: search: %w", err)
	}
	n := 0
	for _, uid := range found.AllUIDs() {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if err := w.processMessage(c, uid); err != nil {
			return n, fmt.Errorf("inboxworker: message UID %d: %w", uid, err)
		}
		n++
	}
	return n, nil
}

// processMessage saves the PDFs of one message, marks it \Seen and moves
// it to ProcessedMailbox.
func (w *Worker) processMessage(c *imapclient.Client, uid imap.UID) error {
	uids := imap.UIDSetNum(uid)
	section := &imap.FetchItemBodySection{Peek: true} // BODY.PEEK[]: fetching does not set \Seen
	msgs, err := c.Fetch(uids, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	if len(msgs) == 0 {
		return nil // another client expunged it meanwhile
	}
	if err := w.savePDFs(uid, msgs[0].FindBodySection(section)); err != nil {
		return err
	}

	seen := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}
	if err := c.Store(uids, seen, nil).Close(); err != nil {
		return fmt.Errorf("store \\Seen: %w", err)
	}
	return move(c, uids)
}

// move moves messages to ProcessedMailbox. (imapclient's Move has the same
// fallback built in; it is spelled out here to show what it does.)
func move(c *imapclient.Client, uids imap.UIDSet) error {
	caps := c.Caps()
	if caps.Has(imap.CapMove) {
		if _, err := c.Move(uids, ProcessedMailbox).Wait(); err != nil {
			return fmt.Errorf("move: %w", err)
		}
		return nil
	}
	// Without MOVE (RFC 6851): copy, flag the original \Deleted, expunge.
	if _, err := c.Copy(uids, ProcessedMailbox).Wait(); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	deleted := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := c.Store(uids, deleted, nil).Close(); err != nil {
		return fmt.Errorf("store \\Deleted: %w", err)
	}
	// UID EXPUNGE (UIDPLUS) removes only these messages. A plain EXPUNGE
	// would also remove any other message flagged \Deleted in INBOX, but
	// it is all a server without UIDPLUS offers.
	var expunge *imapclient.ExpungeCommand
	if caps.Has(imap.CapUIDPlus) {
		expunge = c.UIDExpunge(uids)
	} else {
		expunge = c.Expunge()
	}
	if err := expunge.Close(); err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	return nil
}

// savePDFs writes every PDF attachment of the raw message into w.Dir.
func (w *Worker) savePDFs(uid imap.UID, raw []byte) error {
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) {
		return fmt.Errorf("parse: %w", err)
	}
	defer r.Close()
	for i := 1; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil && !message.IsUnknownCharset(err) { // a text part we cannot decode does not matter
			return fmt.Errorf("parse: %w", err)
		}
		h, ok := p.Header.(*mail.AttachmentHeader)
		if !ok {
			continue // the message text, or an image shown inline
		}
		mediaType, _, _ := h.ContentType()
		filename, _ := h.Filename()
		if mediaType != "application/pdf" && !strings.EqualFold(path.Ext(filename), ".pdf") {
			continue
		}
		name := fmt.Sprintf("%d-%s", uid, safeName(filename, i))
		if err := writeFile(filepath.Join(w.Dir, name), p.Body); err != nil {
			return err
		}
	}
}

// safeName reduces a file name chosen by the sender to its last element,
// so "../../.ssh/authorized_keys" cannot leave Dir. A missing or unusable
// name becomes "attachment-<n>.pdf".
func safeName(name string, n int) string {
	name = strings.ReplaceAll(name, `\`, "/") // Windows paths
	name = path.Base(path.Clean("/" + name))
	if name == "/" || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Sprintf("attachment-%d.pdf", n)
	}
	return name
}

func writeFile(name string, r io.Reader) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return f.Close()
}
