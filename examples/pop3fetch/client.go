package pop3fetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Error is a -ERR reply from the server.
type Error struct {
	Command string // the command refused, e.g. "PASS"
	Text    string // the reply after "-ERR ", e.g. "[AUTH] invalid credentials"
}

// Error reports the command and the server's text (never a password).
func (e *Error) Error() string { return "pop3: " + e.Command + ": " + e.Text }

// Client is a minimal POP3 client (RFC 1939): just the commands a mail
// downloader needs. Messages are numbered from 1, and the numbering is
// fixed for the whole session.
type Client struct {
	text *textproto.Conn
	stop func() bool // detaches the context
}

// Dial connects to addr and reads the greeting. With a non-nil tlsConfig
// it speaks implicit TLS (POP3S, port 995). ctx bounds the whole session:
// when it is done, pending reads and writes fail.
func Dial(ctx context.Context, addr string, tlsConfig *tls.Config) (*Client, error) {
	var conn net.Conn
	var err error
	if tlsConfig != nil {
		conn, err = (&tls.Dialer{Config: tlsConfig}).DialContext(ctx, "tcp", addr) // ServerName defaults to addr's host
	} else {
		conn, err = new(net.Dialer).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c := &Client{
		text: textproto.NewConn(conn),
		stop: context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) }),
	}
	if _, err := c.reply("greeting"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close drops the connection without QUIT: the server then deletes
// nothing (RFC 1939 §6), whatever DELE marked.
func (c *Client) Close() error {
	c.stop()
	return c.text.Close()
}

// Login authenticates with USER and PASS.
func (c *Client) Login(user, password string) error {
	if _, err := c.cmd("USER", "USER %s", user); err != nil {
		return err
	}
	_, err := c.cmd("PASS", "PASS %s", password)
	return err
}

// Stat returns the number of messages and their total size in octets.
func (c *Client) Stat() (count int, size int64, err error) {
	line, err := c.cmd("STAT", "STAT")
	if err != nil {
		return 0, 0, err
	}
	if _, err := fmt.Sscan(line, &count, &size); err != nil {
		return 0, 0, fmt.Errorf("pop3: STAT: malformed reply %q", line)
	}
	return count, size, nil
}

// UniqueID is a message number and the message's unique id. Unlike the
// number, the id stays the same across sessions, so a client can remember
// which messages it has downloaded.
type UniqueID struct {
	Number int
	ID     string
}

// UIDL returns the unique id of every message, in message-number order.
func (c *Client) UIDL() ([]UniqueID, error) {
	if _, err := c.cmd("UIDL", "UIDL"); err != nil {
		return nil, err
	}
	lines, err := c.text.ReadDotLines()
	if err != nil {
		return nil, fmt.Errorf("pop3: UIDL: %w", err)
	}
	ids := make([]UniqueID, 0, len(lines))
	for _, line := range lines {
		num, id, _ := strings.Cut(line, " ")
		n, err := strconv.Atoi(num)
		if err != nil || id == "" {
			return nil, fmt.Errorf("pop3: UIDL: malformed line %q", line)
		}
		ids = append(ids, UniqueID{Number: n, ID: id})
	}
	return ids, nil
}

// Retr downloads message n exactly as the server stores it, CRLF line
// endings included. (textproto's DotReader would turn CRLF into LF, so the
// dot-stuffing is undone here.)
func (c *Client) Retr(n int) ([]byte, error) {
	if _, err := c.cmd("RETR", "RETR %d", n); err != nil {
		return nil, err
	}
	var msg bytes.Buffer
	for {
		line, err := c.text.R.ReadBytes('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("pop3: RETR %d: %w", n, err)
		}
		if string(line) == ".\r\n" || string(line) == ".\n" {
			return msg.Bytes(), nil
		}
		msg.Write(bytes.TrimPrefix(line, []byte("."))) // a line starting with "." has one more
	}
}

// Dele marks message n for deletion when the session ends with Quit.
func (c *Client) Dele(n int) error {
	_, err := c.cmd("DELE", "DELE %d", n)
	return err
}

// Quit ends the session; the server then deletes the messages marked
// with Dele. A -ERR reply means some of them may remain.
func (c *Client) Quit() error {
	_, err := c.cmd("QUIT", "QUIT")
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// cmd sends a command and reads its status line; name names the command
// in errors, so arguments (a password) never show up there.
func (c *Client) cmd(name, format string, args ...any) (string, error) {
	if err := c.text.PrintfLine(format, args...); err != nil {
		return "", fmt.Errorf("pop3: %s: %w", name, err)
	}
	return c.reply(name)
}

// reply reads a status line and returns the text after "+OK".
func (c *Client) reply(name string) (string, error) {
	line, err := c.text.ReadLine()
	if err != nil {
		return "", fmt.Errorf("pop3: %s: %w", name, err)
	}
	status, text, _ := strings.Cut(line, " ")
	switch status {
	case "+OK":
		return text, nil
	case "-ERR":
		return "", &Error{Command: name, Text: text}
	}
	return "", fmt.Errorf("pop3: %s: unexpected reply %q", name, line)
}
