package smtpfront

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mailrig/mailrig/mailtest/internal/conntrack"
)

// relayHideable lists the extensions go-smtp always advertises, which only
// the relay can hide.
var relayHideable = []string{"PIPELINING", "SIZE", "CHUNKING", "8BITMIME"}

// needsRelay reports whether connections must be served through a relay:
// when an extension go-smtp cannot leave out is hidden. Otherwise go-smtp
// talks to the client directly, as it always did.
func (o *Options) needsRelay() bool {
	for _, name := range relayHideable {
		if o.hidden(name) {
			return true
		}
	}
	return false
}

// A relay serves one connection when Options.Disable hides an extension
// that go-smtp always advertises:
//
//	client conn ⇄ relay ⇄ net.Pipe ⇄ a go-smtp server of the connection's own
//
// go-smtp never sees the client's connection, so the relay owns TLS:
// implicit TLS is a *tls.Conn from the listener, and STARTTLS is answered
// and carried out by the relay (the go-smtp server has no TLSConfig). Each
// TLS state gets a fresh go-smtp server and connection (an epoch): after
// STARTTLS the client starts over exactly as go-smtp's own STARTTLS makes
// it (new session, EHLO needed again, AUTH forgotten), and the backend and
// AllowInsecureAuth of each epoch carry the TLS fact that go-smtp cannot
// see (envelope TLS, Received "ESMTPS", AUTH offered only under TLS with
// RequireTLSForAuth).
//
// The relay reads the client's commands line by line, the message after a
// 354 up to CRLF.CRLF and the octets of a BDAT chunk as they are, so it
// knows where commands are; it answers STARTTLS and, with CHUNKING hidden,
// BDAT itself, once every reply owed before has been forwarded. In the
// other direction it forwards go-smtp's replies, leaving the hidden
// extensions out of EHLO replies (and adding STARTTLS).
//
// PIPELINING hidden means it is no longer advertised; a client that
// pipelines all the same is served in order, as a server without
// PIPELINING that reads its input one command at a time would, so nothing
// is refused.
type relay struct {
	s     *Server
	id    string
	trace Trace
	raw   net.Conn // as accepted (*tls.Conn on an implicit-TLS listener)

	// Owned by the reading goroutine (run).
	br       *bufio.Reader
	tls      bool
	ep       *epoch
	startTLS *tls.Config // offered while the connection is plaintext

	wmu    sync.Mutex // serializes writes to client; guards client
	client net.Conn   // raw, or TLS over raw after STARTTLS

	dmu sync.Mutex // serializes writes to trace.Debug

	mu    sync.Mutex
	cond  sync.Cond   // signals changes of owed and dead
	kinds []replyKind // what to do with go-smtp's next replies
	owed  int         // replies due to the client for what was forwarded
	last  int         // code of the last reply forwarded to the client
	dead  bool        // the current epoch's go-smtp side has ended
}

// replyKind says what the relay does with a reply of go-smtp's.
type replyKind uint8

const (
	replyForward replyKind = iota // pass it on
	replyEHLO                     // pass it on, edited
	replySkip                     // drop it (the greeting of an epoch after STARTTLS)
)

// epoch is one go-smtp server and connection behind the relay.
type epoch struct {
	srv     *smtp.Server
	pipe    net.Conn // the relay's end
	tls     bool
	done    chan struct{} // closed when copyReplies returned
	retired bool          // set before the relay closes pipe for STARTTLS
}

// Relay answers (go-smtp's texts where go-smtp has one).
const (
	replyStartTLS    = "220 2.0.0 Ready to start TLS"
	replyAlreadyTLS  = "502 5.5.1 Already running in TLS"
	replyNoBDAT      = "502 5.5.1 Command not implemented"
	replyIdleTimeout = "421 4.4.2 Idle timeout, bye bye"
)

var errRelayEnded = errors.New("smtpfront: relay: server side ended")

// serveRelay starts serving c through a relay (see relay).
func (s *Server) serveRelay(c net.Conn, id string, tr Trace) {
	r := &relay{s: s, id: id, trace: tr, raw: c, client: c}
	r.cond.L = &r.mu
	if !s.opts.hidden("STARTTLS") {
		r.startTLS = s.opts.TLSConfig
	}
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		r.run()
		if tr.End != nil {
			tr.End()
		}
	}()
}

// run serves the connection until it ends, reading the client's side, and
// returns once every goroutine of the connection has ended.
func (r *relay) run() {
	defer r.raw.Close() // the owner's Close, which conntrack waits for
	if tc, ok := r.raw.(*tls.Conn); ok {
		// Like go-smtp: the handshake comes before the greeting.
		_ = tc.SetDeadline(deadline(r.s.opts.ReadTimeout))
		if err := tc.Handshake(); err != nil {
			return
		}
		_ = tc.SetDeadline(time.Time{})
		r.tls = true
	}
	r.br = bufio.NewReader(deadlineReader{r.raw, r.s.opts.ReadTimeout})
	r.startEpoch()
	err := r.readCommands()
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		// The client has said all it will; let it have the replies it is
		// owed (the 221 to a QUIT before a half-close, say).
		_, _ = r.sync()
	case errors.As(err, &ne) && ne.Timeout() && r.idle():
		_ = r.answer(nil, replyIdleTimeout)
	}
	r.closeClient()
	r.endEpoch(r.ep)
}

// startEpoch starts a go-smtp server and connection for the relay's
// current TLS state, with the copying goroutine for its replies.
func (r *relay) startEpoch() {
	ep := &epoch{tls: r.tls, done: make(chan struct{})}
	first, owed := replyForward, 1
	if r.ep != nil {
		// After STARTTLS: the client gets no second greeting, nor does
		// the transcript.
		first, owed = replySkip, 0
	}
	// The transcript is recorded by serverSide, as the client sees it.
	srv := r.s.newConnServer(&backend{s: r.s, id: r.id, tls: r.tls}, nil)
	srv.TLSConfig = nil // the relay does TLS
	srv.AllowInsecureAuth = r.tls || !r.s.opts.RequireTLSForAuth
	// The relay applies the timeouts to the client's connection; go-smtp
	// only waits for the relay.
	srv.ReadTimeout, srv.WriteTimeout = 0, 0
	ep.srv = srv
	var theirs net.Conn
	ep.pipe, theirs = net.Pipe()
	conn := &inputConn{Conn: &serverSide{Conn: theirs, r: r, ep: ep, local: r.raw.LocalAddr(), remote: r.raw.RemoteAddr()}}

	r.mu.Lock()
	r.kinds = append(r.kinds[:0], first)
	r.owed = owed
	r.dead = false
	r.mu.Unlock()
	r.ep = ep
	_ = srv.Serve(conntrack.OneConn(conn)) // returns at once
	r.s.serving.Add(1)
	go func() {
		defer r.s.serving.Done()
		defer close(ep.done)
		r.copyReplies(ep)
	}()
}

// endEpoch closes ep's pipe and waits for its goroutines.
func (r *relay) endEpoch(ep *epoch) {
	ep.pipe.Close()
	<-ep.done
	_ = ep.srv.Shutdown(context.Background()) // waits for go-smtp's goroutine
}

// readCommands relays the client's side until it ends or fails.
func (r *relay) readCommands() error {
	for {
		line, whole, err := r.readLine()
		if err != nil {
			return err
		}
		if !whole {
			if err := r.forwardLong(line); err != nil {
				return err
			}
			continue
		}
		if err := r.command(line); err != nil {
			return err
		}
	}
}

// forwardLong passes on a line too long for the buffer, starting with its
// first piece, without a look: go-smtp refuses it (500, more than its
// 2000 octets) and hangs up.
func (r *relay) forwardLong(piece []byte) error {
	if err := r.forward(piece, replyForward); err != nil {
		return err
	}
	for {
		piece, whole, err := r.readLine()
		if err != nil {
			return err
		}
		if _, err := r.ep.pipe.Write(piece); err != nil || whole {
			return err
		}
	}
}

// readLine reads one line of the client's, with its line end; whole is
// false for the pieces of a line too long for the buffer.
func (r *relay) readLine() (line []byte, whole bool, err error) {
	line, err = r.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return line, false, nil
	case errors.Is(err, io.EOF) && len(line) > 0:
		// An unterminated last line, which go-smtp acts on all the same;
		// behind a pipe it needs the line end. EOF comes next.
		return append(bytes.Clone(line), '\r', '\n'), true, nil
	case err != nil:
		return nil, false, err
	}
	return line, true, nil
}

// command relays one command line of the client's (and what follows it
// outside command mode).
func (r *relay) command(line []byte) error {
	cmd, arg := parseCommand(line)
	switch cmd {
	case "STARTTLS":
		return r.doStartTLS(line)
	case "BDAT":
		if r.s.opts.hidden("CHUNKING") {
			// What follows is not taken as a chunk: a client that sends
			// BDAT without CHUNKING gets its octets read as commands.
			if _, err := r.sync(); err != nil {
				return err
			}
			return r.answer(line, replyNoBDAT)
		}
		if err := r.forward(line, replyForward); err != nil {
			return err
		}
		if n, ok := bdatSize(arg); ok {
			// go-smtp reads the chunk whatever it answers.
			if _, err := io.CopyN(r.ep.pipe, r.br, n); err != nil {
				return err
			}
		}
		return nil
	case "DATA":
		if err := r.forward(line, replyForward); err != nil {
			return err
		}
		code, err := r.sync()
		if err != nil || code != 354 {
			return err
		}
		return r.copyMessage()
	case "AUTH":
		// Each 334 challenge is answered by a line that is no command.
		if err := r.forward(line, replyForward); err != nil {
			return err
		}
		for {
			code, err := r.sync()
			if err != nil || code != 334 {
				return err
			}
			line, whole, err := r.readLine()
			if err != nil {
				return err
			}
			if !whole {
				return r.forwardLong(line)
			}
			if err := r.forward(line, replyForward); err != nil {
				return err
			}
		}
	case "EHLO":
		return r.forward(line, replyEHLO)
	}
	return r.forward(line, replyForward)
}

// parseCommand splits a command line the way go-smtp does: any line that
// starts with STARTTLS is STARTTLS; otherwise the verb is four letters,
// alone or followed by a space and the argument. A line go-smtp cannot
// parse gets cmd "", and go-smtp answers it.
func parseCommand(line []byte) (cmd, arg string) {
	s := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
	if len(s) >= 8 && strings.EqualFold(s[:8], "STARTTLS") {
		return "STARTTLS", ""
	}
	switch {
	case len(s) == 4:
		return strings.ToUpper(s), ""
	case len(s) > 5 && s[4] == ' ':
		return strings.ToUpper(s[:4]), strings.TrimSpace(s[5:])
	}
	return "", ""
}

// bdatSize returns the chunk size of a BDAT argument that go-smtp accepts
// far enough to read the chunk (it then reads it whatever it answers).
func bdatSize(arg string) (int64, bool) {
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 || (len(f) == 2 && !strings.EqualFold(f[1], "LAST")) {
		return 0, false
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return 0, false
	}
	return int64(n), true
}

// forward passes a line (or a piece of one) on to go-smtp, which owes a
// reply of kind k for it.
func (r *relay) forward(line []byte, k replyKind) error {
	r.expect(k)
	_, err := r.ep.pipe.Write(line)
	return err
}

// copyMessage relays a DATA message up to and including its CRLF.CRLF,
// which it finds the way go-smtp's reader does; go-smtp owes the reply
// once it has read that.
func (r *relay) copyMessage() error {
	var sc dataScanner
	for {
		if _, err := r.br.Peek(1); err != nil {
			return err
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		n, end := sc.scan(buf)
		if end {
			r.expect(replyForward)
		}
		if _, err := r.ep.pipe.Write(buf[:n]); err != nil {
			return err
		}
		_, _ = r.br.Discard(n)
		if end {
			return nil
		}
	}
}

// dataScanner finds the end of a DATA message: a line holding only a dot,
// after CRLF (or at the start). It follows the states of go-smtp's reader,
// so both agree where the message ends.
type dataScanner struct{ state int }

const (
	dataLineStart = iota
	dataDot
	dataDotCR
	dataCR
	dataMiddle
)

// scan takes the next bytes of the message; it returns how many of them
// belong to the message and whether the message ends there.
func (d *dataScanner) scan(p []byte) (int, bool) {
	for i, c := range p {
		switch d.state {
		case dataLineStart:
			switch c {
			case '.':
				d.state = dataDot
			case '\r':
				d.state = dataCR
			default:
				d.state = dataMiddle
			}
		case dataDot:
			if c == '\r' {
				d.state = dataDotCR
			} else {
				d.state = dataMiddle
			}
		case dataDotCR:
			if c == '\n' {
				d.state = dataLineStart
				return i + 1, true
			}
			d.state = dataMiddle
		case dataCR:
			if c == '\n' {
				d.state = dataLineStart
			} else {
				d.state = dataMiddle
			}
		case dataMiddle:
			if c == '\r' {
				d.state = dataCR
			}
		}
	}
	return len(p), false
}

// doStartTLS answers STARTTLS and switches the client's connection to TLS,
// with a new epoch behind it.
func (r *relay) doStartTLS(line []byte) error {
	if _, err := r.sync(); err != nil {
		return err
	}
	switch {
	case r.tls:
		return r.answer(line, replyAlreadyTLS)
	case r.startTLS == nil:
		// go-smtp answers "502 5.5.1 TLS not supported" itself.
		return r.forward(line, replyForward)
	}
	if err := r.answer(line, replyStartTLS); err != nil {
		return err
	}
	r.wmu.Lock()
	tc := tls.Server(r.client, r.startTLS)
	r.wmu.Unlock()
	_ = tc.SetDeadline(deadline(r.s.opts.ReadTimeout))
	if err := tc.Handshake(); err != nil {
		return err
	}
	_ = tc.SetDeadline(time.Time{})
	// The plaintext epoch ends as go-smtp's own STARTTLS ends the session.
	old := r.ep
	r.mu.Lock()
	old.retired = true
	r.mu.Unlock()
	r.endEpoch(old)
	r.wmu.Lock()
	r.client = tc
	r.wmu.Unlock()
	r.tls = true
	// A new reader drops whatever plaintext came after STARTTLS, so it
	// cannot pass for commands sent under TLS.
	r.br = bufio.NewReader(deadlineReader{tc, r.s.opts.ReadTimeout})
	r.startEpoch()
	return nil
}

// expect records that go-smtp owes a reply of kind k, before what it
// answers is passed on.
func (r *relay) expect(k replyKind) {
	r.mu.Lock()
	r.kinds = append(r.kinds, k)
	r.owed++
	r.mu.Unlock()
}

// sync waits until go-smtp has answered everything forwarded so far and
// the replies went to the client; it returns the last reply's code.
func (r *relay) sync() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.owed > 0 && !r.dead {
		r.cond.Wait()
	}
	if r.dead {
		return 0, errRelayEnded
	}
	return r.last, nil
}

// idle reports whether no reply is due.
func (r *relay) idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owed == 0 && !r.dead
}

// answer writes a reply of the relay's own to the client's line (nil:
// to none), and records both in the transcript.
func (r *relay) answer(line []byte, reply string) error {
	if cmd, _ := parseCommand(line); cmd == "BDAT" {
		// In the debug stream, BDAT would make what follows read as
		// chunk octets.
		if r.trace.Note != nil {
			r.trace.Note(fmt.Sprintf("<%q refused by the relay: %s>", strings.TrimRight(string(line), "\r\n"), reply))
		}
	} else {
		// Where go-smtp would have answered, as go-smtp would record it.
		r.debug(line)
		r.debug([]byte(reply + "\r\n"))
	}
	return r.write([]byte(reply + "\r\n"))
}

// debug writes p to the transcript's debug stream, if any.
func (r *relay) debug(p []byte) {
	if r.trace.Debug == nil || len(p) == 0 {
		return
	}
	r.dmu.Lock()
	defer r.dmu.Unlock()
	_, _ = r.trace.Debug.Write(p)
}

// write writes p to the client within the write timeout.
func (r *relay) write(p []byte) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	_ = r.client.SetWriteDeadline(deadline(r.s.opts.WriteTimeout))
	_, err := r.client.Write(p)
	return err
}

// closeClient closes the client's connection (under TLS, with its alert).
func (r *relay) closeClient() {
	r.wmu.Lock()
	c := r.client
	r.wmu.Unlock()
	c.Close()
}

// copyReplies forwards ep's replies (edited by serverSide) to the client,
// each whole reply in one write, until go-smtp closes its end. Unless the
// relay retired the epoch for STARTTLS, that ends the connection.
func (r *relay) copyReplies(ep *epoch) {
	br := bufio.NewReader(ep.pipe)
	var reply []byte
	for {
		line, err := br.ReadSlice('\n')
		reply = append(reply, line...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			break
		}
		if len(line) >= 4 && line[3] == '-' {
			continue // more lines follow
		}
		if r.write(reply) != nil {
			break
		}
		code, _ := strconv.Atoi(string(reply[:min(3, len(reply))]))
		reply = reply[:0]
		r.mu.Lock()
		if r.owed > 0 {
			r.owed--
		}
		r.last = code
		r.cond.Broadcast()
		r.mu.Unlock()
	}
	r.mu.Lock()
	retired := ep.retired
	r.dead = true
	r.cond.Broadcast()
	r.mu.Unlock()
	if !retired {
		// go-smtp hung up (QUIT, a fault's drop, too many errors), or the
		// client is gone: end the connection, which ends the reader too.
		r.closeClient()
	}
	_ = ep.pipe.Close()
}

// editEHLO rewrites a multi-line 250 EHLO reply: it leaves out hidden
// extensions, adds STARTTLS where go-smtp would put it if the relay offers
// it, and fixes the "250-"/"250 " continuation marks.
func (r *relay) editEHLO(reply [][]byte, isTLS bool) []byte {
	if len(reply) == 0 || !bytes.HasPrefix(reply[0], []byte("250")) {
		return bytes.Join(reply, nil)
	}
	texts := make([]string, 0, len(reply)+1)
	texts = append(texts, replyText(reply[0]))
	offerTLS := r.startTLS != nil && !isTLS
	for _, line := range reply[1:] {
		text := replyText(line)
		keyword, _, _ := strings.Cut(text, " ")
		keyword = strings.ToUpper(keyword)
		if offerTLS {
			switch keyword {
			case "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING":
			default:
				// go-smtp lists STARTTLS after these four.
				texts = append(texts, "STARTTLS")
				offerTLS = false
			}
		}
		if r.hidesKeyword(keyword) {
			continue
		}
		texts = append(texts, text)
	}
	if offerTLS {
		texts = append(texts, "STARTTLS")
	}
	var b bytes.Buffer
	for i, text := range texts {
		sep := "-"
		if i == len(texts)-1 {
			sep = " "
		}
		b.WriteString("250" + sep + text + "\r\n")
	}
	return b.Bytes()
}

// hidesKeyword reports whether the relay leaves an EHLO keyword out.
func (r *relay) hidesKeyword(keyword string) bool {
	for _, name := range relayHideable {
		if keyword == name {
			return r.s.opts.hidden(name)
		}
	}
	return false
}

// replyText returns a reply line without its code, mark and line end.
func replyText(line []byte) string {
	s := strings.TrimRight(string(line), "\r\n")
	if len(s) < 4 {
		return ""
	}
	return s[4:]
}

// deadlineReader reads from c with a fresh read deadline each time.
type deadlineReader struct {
	c net.Conn
	d time.Duration
}

func (r deadlineReader) Read(p []byte) (int, error) {
	if err := r.c.SetReadDeadline(deadline(r.d)); err != nil {
		return 0, err
	}
	return r.c.Read(p)
}

// deadline returns the deadline for a timeout of d from now (none for 0).
func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// serverSide is go-smtp's end of a relay's pipe. It has the client
// connection's addresses, so sessions and logs name the real client. It
// records the transcript as the client sees it: what go-smtp reads, and
// its replies as edited here, on their way out, by the kind the relay
// expects (the order is go-smtp's, as with go-smtp's own Debug).
type serverSide struct {
	net.Conn
	r             *relay
	ep            *epoch
	local, remote net.Addr
	out           []byte // the reply being written, up to its last line
	closed        atomic.Bool
}

func (c *serverSide) LocalAddr() net.Addr  { return c.local }
func (c *serverSide) RemoteAddr() net.Addr { return c.remote }

func (c *serverSide) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

func (c *serverSide) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r.debug(p[:n])
	if errors.Is(err, io.ErrClosedPipe) {
		// Closed on go-smtp's side (QUIT, a dropped connection): what a
		// network connection says, which go-smtp takes for a quiet end.
		err = net.ErrClosed
	}
	return n, err
}

// Write takes go-smtp's reply lines (one per write as go-smtp flushes them)
// and passes each whole reply on once its last line is in.
func (c *serverSide) Write(p []byte) (int, error) {
	if c.closed.Load() {
		// Not recorded: go-smtp's own Debug only gets what was written.
		return 0, net.ErrClosed
	}
	c.out = append(c.out, p...)
	for {
		end := replyEnd(c.out)
		if end < 0 {
			return len(p), nil
		}
		if out := c.r.edit(c.out[:end], c.ep); len(out) > 0 {
			c.r.debug(out)
			if _, err := c.Conn.Write(out); err != nil {
				return 0, err
			}
		}
		c.out = c.out[:copy(c.out, c.out[end:])]
	}
}

// replyEnd returns the length of the first whole reply in b (up to the
// end of a line with a space, or nothing, after the code), or -1.
func replyEnd(b []byte) int {
	start := 0
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return -1
		}
		line := b[start : start+i+1]
		start += i + 1
		if len(line) < 4 || line[3] != '-' {
			return start
		}
	}
}

// edit returns a reply of go-smtp's as the client gets it, by the kind the
// relay expects for it.
func (r *relay) edit(reply []byte, ep *epoch) []byte {
	r.mu.Lock()
	kind := replyForward
	if len(r.kinds) > 0 {
		kind = r.kinds[0]
		r.kinds = r.kinds[1:]
	}
	r.mu.Unlock()
	switch kind {
	case replySkip:
		return nil
	case replyEHLO:
		return r.editEHLO(splitLines(reply), ep.tls)
	}
	return reply
}

// splitLines splits b after each LF.
func splitLines(b []byte) [][]byte {
	var lines [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n') + 1
		if i == 0 {
			i = len(b)
		}
		lines = append(lines, b[:i])
		b = b[i:]
	}
	return lines
}
