// Package pop3fetch is an example application for mailtest: a mail
// downloader that fetches a mailbox over POP3 in the two ways POP3 clients
// work.
//
//   - DownloadAndDelete retrieves every message and deletes it from the
//     server, the classic POP3 mode.
//   - LeaveOnServer retrieves only the messages it has not seen before,
//     recognised by their UIDL, and deletes nothing, the mode desktop
//     clients use when a phone reads the same account over IMAP.
//
// The POP3 client (client.go) is the application's own code, written with
// net/textproto; it can use implicit TLS (POP3S). The tests deliver
// messages with mailtest, run the downloader against srv.POP3Addr or
// srv.POP3SAddr, compare what it got with msg.Raw, and check the result on
// the server with srv.POP3View and srv.IMAPView, without logging in.
package pop3fetch

import (
	"context"
	"crypto/tls"
)

// Fetcher downloads the mail of one POP3 account. It is not safe for
// concurrent use.
type Fetcher struct {
	Addr     string      // POP3 server, "host:port"
	TLS      *tls.Config // implicit TLS (POP3S, port 995) if non-nil
	User     string
	Password string

	// Seen holds the UIDLs of the messages LeaveOnServer has downloaded.
	// It is created on first use; save and restore it to remember them
	// across runs.
	Seen map[string]bool
}

// DownloadAndDelete retrieves every message, marks each for deletion and
// ends the session with QUIT, which deletes them. The messages are
// returned as the server sent them, in message-number order.
//
// If anything fails before QUIT, the connection is dropped, so the server
// deletes nothing and the next run fetches the same messages again. If
// QUIT itself fails, the messages are returned with the error: they were
// downloaded, but some may still be on the server.
func (f *Fetcher) DownloadAndDelete(ctx context.Context) ([][]byte, error) {
	c, err := f.login(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	count, _, err := c.Stat()
	if err != nil {
		return nil, err
	}
	msgs := make([][]byte, 0, count)
	for n := 1; n <= count; n++ {
		msg, err := c.Retr(n)
		if err != nil {
			return nil, err
		}
		if err := c.Dele(n); err != nil {
			return nil, err
		}
		msgs = append(msgs, msg)
	}
	return msgs, c.Quit()
}

// LeaveOnServer retrieves the messages whose UIDL is not in f.Seen, adds
// their UIDLs to f.Seen and ends the session without deleting anything.
// The new messages are returned in message-number order. On error f.Seen
// is unchanged, so the next run tries the same messages again.
func (f *Fetcher) LeaveOnServer(ctx context.Context) ([][]byte, error) {
	c, err := f.login(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	ids, err := c.UIDL()
	if err != nil {
		return nil, err
	}
	var msgs [][]byte
	var fetched []string
	for _, id := range ids {
		if f.Seen[id.ID] {
			continue
		}
		msg, err := c.Retr(id.Number)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, msg)
		fetched = append(fetched, id.ID)
	}
	if err := c.Quit(); err != nil {
		return nil, err
	}
	if f.Seen == nil {
		f.Seen = make(map[string]bool)
	}
	for _, id := range fetched {
		f.Seen[id] = true
	}
	return msgs, nil
}

func (f *Fetcher) login(ctx context.Context) (*Client, error) {
	c, err := Dial(ctx, f.Addr, f.TLS)
	if err != nil {
		return nil, err
	}
	if err := c.Login(f.User, f.Password); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
