package mailtest

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"time"

	"github.com/mailrig/mailrig/mailtest/internal/pop3"
	"github.com/mailrig/mailrig/memstore"
)

// pop3Backend lets the POP3 front-end see each user's INBOX as a maildrop.
type pop3Backend struct {
	store            *memstore.Store
	markSeen         bool
	failedLoginDelay time.Duration // before a failed login is answered
}

// failed waits the failed-login delay (cut short when the server closes)
// and returns pop3.ErrAuthFailed joined with the cause.
func (b *pop3Backend) failed(ctx context.Context, cause error) error {
	if b.failedLoginDelay > 0 {
		t := time.NewTimer(b.failedLoginDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	return errors.Join(pop3.ErrAuthFailed, cause)
}

func (b *pop3Backend) Login(ctx context.Context, username, password string, _ pop3.ConnInfo) (pop3.Maildrop, error) {
	u, err := b.store.Authenticate(username, password)
	if err != nil {
		return nil, b.failed(ctx, err)
	}
	return b.open(u)
}

func (b *pop3Backend) LoginAPOP(ctx context.Context, username, timestamp, digest string, _ pop3.ConnInfo) (pop3.Maildrop, error) {
	u, ok := b.store.User(username)
	if !ok {
		return nil, b.failed(ctx, nil)
	}
	password, ok := u.Password()
	if !ok {
		return nil, b.failed(ctx, nil)
	}
	sum := md5.Sum([]byte(timestamp + password))
	want := hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(want), []byte(digest)) != 1 {
		return nil, b.failed(ctx, nil)
	}
	return b.open(u)
}

func (b *pop3Backend) open(u *memstore.User) (pop3.Maildrop, error) {
	release, ok := u.TryLockMaildrop()
	if !ok {
		return nil, pop3.ErrInUse
	}
	inbox := u.Inbox()
	return &maildrop{inbox: inbox, snap: inbox.Snapshot(), release: release, markSeen: b.markSeen}, nil
}

// maildrop is one POP3 session's frozen view of an INBOX (RFC 1939 §8:
// the list and numbering are fixed at login).
type maildrop struct {
	inbox    *memstore.Mailbox
	snap     memstore.Snapshot
	release  func()
	markSeen bool
}

func (d *maildrop) List() []pop3.MessageInfo {
	out := make([]pop3.MessageInfo, len(d.snap.Entries))
	for i, e := range d.snap.Entries {
		out[i] = pop3.MessageInfo{Key: e.UID, Size: e.Message.Size(), UIDL: uidl(d.snap.UIDValidity, e.UID)}
	}
	return out
}

// Open returns the message bytes, unless IMAP expunged it since login.
func (d *maildrop) Open(uid uint32) ([]byte, error) {
	i := d.snap.Index(uid)
	if i < 0 || d.inbox.Snapshot().Index(uid) < 0 {
		return nil, pop3.ErrGone
	}
	return d.snap.Entries[i].Message.Raw(), nil
}

func (d *maildrop) Retrieved(uid uint32) {
	if d.markSeen {
		d.inbox.SetFlags([]uint32{uid}, memstore.AddFlags, memstore.NewFlags(memstore.FlagSeen), d)
	}
}

// Commit expunges the messages marked with DELE, through the same
// expunge-by-UID path IMAP uses, so IMAP sessions see EXPUNGE.
func (d *maildrop) Commit(uids []uint32) error {
	d.inbox.Expunge(uids, d)
	return nil
}

func (d *maildrop) Close() { d.release() }
