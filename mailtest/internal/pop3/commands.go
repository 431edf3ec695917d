package pop3

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/emersion/go-sasl"
)

// dispatch runs a parsed command according to the session state.
func (s *session) dispatch(cmd command) {
	if s.srv.hidden(commandCapability(cmd.Name)) {
		s.reject("", "unknown command")
		return
	}
	switch s.state {
	case StateAuthorization:
		switch cmd.Name {
		case "CAPA":
			s.cmdCapa()
		case "USER":
			s.cmdUser(cmd)
		case "PASS":
			s.cmdPass(cmd)
		case "APOP":
			s.cmdAPOP(cmd)
		case "AUTH":
			s.cmdAuth(cmd)
		case "STLS":
			s.cmdSTLS(cmd)
		case "QUIT":
			s.ok("bye")
			s.done = true
		case "STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "NOOP", "RSET":
			s.reject("", "not logged in")
		default:
			s.reject("", "unknown command")
		}
	case StateTransaction:
		switch cmd.Name {
		case "CAPA":
			s.cmdCapa()
		case "STAT":
			s.cmdStat(cmd)
		case "LIST":
			s.cmdList(cmd)
		case "UIDL":
			s.cmdUIDL(cmd)
		case "RETR":
			s.cmdRetr(cmd)
		case "TOP":
			s.cmdTop(cmd)
		case "DELE":
			s.cmdDele(cmd)
		case "NOOP":
			if len(cmd.Args) != 0 {
				s.reject("", "NOOP takes no arguments")
				return
			}
			s.ok("")
		case "RSET":
			s.cmdRset(cmd)
		case "QUIT":
			s.cmdQuitUpdate()
		case "USER", "PASS", "APOP", "AUTH", "STLS":
			s.reject("", "already logged in")
		default:
			s.reject("", "unknown command")
		}
	default:
		s.reject("", "unknown command")
	}
}

// plaintextAllowed reports whether credentials may be sent on this
// connection (Options.RequireTLS).
func (s *session) plaintextAllowed() bool {
	return s.tls || !s.srv.opts.RequireTLS
}

func (s *session) stlsOffered() bool {
	return s.srv.opts.TLSConfig != nil && !s.tls && s.state == StateAuthorization && !s.srv.hidden("STLS")
}

// commandCapability names the CAPA capability a command belongs to, so a
// hidden capability's command is refused too.
func commandCapability(name string) string {
	switch name {
	case "TOP", "UIDL", "STLS", "USER":
		return name
	case "PASS":
		return "USER"
	case "AUTH":
		return "SASL"
	}
	return ""
}

func (s *session) cmdCapa() {
	s.ok("capability list follows")
	if !s.srv.hidden("TOP") {
		s.line("TOP")
	}
	if s.plaintextAllowed() && !s.srv.hidden("USER") {
		s.line("USER")
	}
	if !s.srv.hidden("UIDL") {
		s.line("UIDL")
	}
	s.line("RESP-CODES")
	s.line("AUTH-RESP-CODE")
	s.line("PIPELINING")
	if s.plaintextAllowed() && !s.srv.hidden("SASL") {
		s.line("SASL PLAIN")
	}
	if s.stlsOffered() {
		s.line("STLS")
	}
	s.line("IMPLEMENTATION " + s.srv.opts.Implementation)
	s.line(".")
}

// refuseCleartext rejects an authentication command sent before TLS when
// RequireTLS is set. RFC 3206 §4: [AUTH] covers refusing credentials
// for reasons other than their being wrong.
func (s *session) refuseCleartext() bool {
	if s.plaintextAllowed() {
		return false
	}
	s.reject(CodeAuth, "TLS required; use STLS first")
	return true
}

func (s *session) cmdUser(cmd command) {
	if s.refuseCleartext() {
		return
	}
	if len(cmd.Args) != 1 {
		s.reject("", "usage: USER name")
		return
	}
	s.user = cmd.Args[0]
	// Same reply for every name: don't reveal which users exist.
	s.ok("send PASS")
}

func (s *session) cmdPass(cmd command) {
	if s.refuseCleartext() {
		return
	}
	user := s.user
	s.user = ""
	if user == "" {
		s.reject("", "USER first")
		return
	}
	// RFC 1939 §7: PASS has one argument, so spaces belong to the password.
	if cmd.Rest == "" {
		s.reject("", "usage: PASS password")
		return
	}
	md, err := s.srv.backend.Login(s.ctx, user, cmd.Rest, s.connInfo())
	s.loginResult(user, md, err)
}

func (s *session) cmdAPOP(cmd command) {
	if s.refuseCleartext() {
		return
	}
	if len(cmd.Args) != 2 || !isHexDigest(cmd.Args[1]) {
		s.reject("", "usage: APOP name digest")
		return
	}
	user, digest := cmd.Args[0], strings.ToLower(cmd.Args[1])
	md, err := s.srv.backend.LoginAPOP(s.ctx, user, s.timestamp, digest, s.connInfo())
	s.loginResult(user, md, err)
}

func isHexDigest(d string) bool {
	if len(d) != 32 {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// loginResult turns a Backend login outcome into a reply and, on success,
// enters the TRANSACTION state.
func (s *session) loginResult(user string, md Maildrop, err error) {
	switch {
	case err == nil && md != nil:
		s.enterTransaction(user, md)
	case errors.Is(err, ErrAuthFailed):
		s.log.Debug("pop3: login failed", "user", user)
		s.reject(CodeAuth, "invalid credentials")
	case errors.Is(err, ErrInUse):
		s.fail(CodeInUse, "maildrop already locked by another session")
	default:
		if err == nil {
			err = errors.New("backend returned no maildrop")
		}
		s.log.Warn("pop3: login error", "user", user, "err", err)
		s.fail(CodeSysTemp, "cannot open maildrop, try again later")
	}
}

func (s *session) enterTransaction(user string, md Maildrop) {
	s.drop = md
	s.username = user
	s.state = StateTransaction
	list := md.List()
	s.msgs = make([]message, len(list))
	for i, mi := range list {
		s.msgs[i] = message{MessageInfo: mi}
	}
	s.log.Debug("pop3: logged in", "user", user, "messages", len(list))
	n, size := s.visible()
	s.ok("maildrop has %d messages (%d octets)", n, size)
}

// cmdAuth implements RFC 5034 AUTH with SASL PLAIN.
func (s *session) cmdAuth(cmd command) {
	if s.refuseCleartext() {
		return
	}
	if len(cmd.Args) == 0 {
		// Bare AUTH lists mechanisms (the RFC 1734 convention clients probe).
		s.ok("SASL mechanisms follow")
		s.line(sasl.Plain)
		s.line(".")
		return
	}
	if len(cmd.Args) > 2 {
		s.reject("", "usage: AUTH mechanism [initial-response]")
		return
	}
	if !strings.EqualFold(cmd.Args[0], sasl.Plain) {
		s.reject("", "unsupported SASL mechanism")
		return
	}

	var (
		user     string
		md       Maildrop
		loginErr error
	)
	srv := sasl.NewPlainServer(func(identity, username, password string) error {
		user = username
		if identity != "" && identity != username {
			// Proxy authorization is not supported.
			loginErr = ErrAuthFailed
			return loginErr
		}
		md, loginErr = s.srv.backend.Login(s.ctx, username, password, s.connInfo())
		return loginErr
	})

	var resp []byte
	if len(cmd.Args) == 2 {
		ir := cmd.Args[1]
		if ir == "=" { // RFC 5034 §4: "=" is an empty initial response
			resp = []byte{}
		} else {
			var err error
			if resp, err = base64.StdEncoding.DecodeString(ir); err != nil {
				s.reject("", "invalid base64 in initial response")
				return
			}
		}
	}
	for {
		challenge, done, err := srv.Next(resp)
		if done || err != nil {
			if err != nil && loginErr == nil {
				// Malformed PLAIN message, not a backend verdict.
				s.reject(CodeAuth, "authentication failed")
				return
			}
			s.loginResult(user, md, loginErr)
			return
		}
		s.continuation(challenge)
		line, tooLong, rerr := s.readCommandLine(maxSASLLineLen)
		if rerr != nil {
			s.readFailed(rerr)
			s.done = true
			return
		}
		if tooLong {
			s.trace(true, "<line too long>")
			s.reject("", "SASL response too long")
			return
		}
		if line == "*" {
			s.trace(true, "*")
			s.fail("", "authentication cancelled")
			return
		}
		s.trace(true, "****")
		if resp, err = base64.StdEncoding.DecodeString(line); err != nil {
			s.reject("", "invalid base64 in SASL response")
			return
		}
	}
}

func (s *session) continuation(challenge []byte) {
	text := "+ " + base64.StdEncoding.EncodeToString(challenge)
	s.trace(false, text)
	s.writeString(text)
	s.write(crlf)
}

// cmdSTLS upgrades the connection (RFC 2595 §4).
func (s *session) cmdSTLS(cmd command) {
	if len(cmd.Args) != 0 {
		s.reject("", "STLS takes no arguments")
		return
	}
	if s.tls {
		s.reject("", "already using TLS")
		return
	}
	if s.srv.opts.TLSConfig == nil {
		s.reject("", "STLS not available")
		return
	}
	s.ok("begin TLS negotiation")
	s.flush()
	if s.err != nil {
		return
	}
	// Anything the client sent after STLS arrived in cleartext and could
	// have been injected by an attacker: tls.Server reads from the raw conn
	// directly, and handshake resets the reader, so it is discarded.
	tc := tls.Server(s.raw, s.srv.opts.TLSConfig)
	if err := s.handshake(tc); err != nil {
		s.log.Debug("pop3: STLS handshake failed", "err", err)
		s.err = err
		s.done = true
		return
	}
	s.w.Reset(s.out)
	s.state = StateAuthorization
	s.user = ""
}

// visible counts the messages not marked deleted and their total size.
func (s *session) visible() (n int, size int64) {
	for i := range s.msgs {
		if !s.msgs[i].deleted {
			n++
			size += s.msgs[i].Size
		}
	}
	return n, size
}

func (s *session) cmdStat(cmd command) {
	if len(cmd.Args) != 0 {
		s.reject("", "STAT takes no arguments")
		return
	}
	n, size := s.visible()
	s.ok("%d %d", n, size)
}

// msgArg resolves a message-number argument; on failure it has already
// replied and returns false.
func (s *session) msgArg(arg string) (int, bool) {
	n, ok := parseNumber(arg)
	if !ok {
		s.reject("", "invalid message number")
		return 0, false
	}
	if n < 1 || n > len(s.msgs) {
		s.reject("", "no such message")
		return 0, false
	}
	if s.msgs[n-1].deleted {
		s.reject("", "message "+strconv.Itoa(n)+" already deleted")
		return 0, false
	}
	return n, true
}

func (s *session) cmdList(cmd command) {
	s.listing(cmd, func(i int) string { return strconv.FormatInt(s.msgs[i].Size, 10) })
}

func (s *session) cmdUIDL(cmd command) {
	s.listing(cmd, func(i int) string { return s.msgs[i].UIDL })
}

// listing implements LIST and UIDL, which differ only in the value shown.
func (s *session) listing(cmd command, value func(i int) string) {
	switch len(cmd.Args) {
	case 0:
		n, size := s.visible()
		s.ok("%d messages (%d octets)", n, size)
		for i := range s.msgs {
			if !s.msgs[i].deleted {
				s.line(strconv.Itoa(i+1) + " " + value(i))
			}
		}
		s.line(".")
	case 1:
		if n, ok := s.msgArg(cmd.Args[0]); ok {
			s.ok("%d %s", n, value(n-1))
		}
	default:
		s.reject("", "usage: "+cmd.Name+" [msg]")
	}
}

// open fetches a message's bytes, replying on failure.
func (s *session) open(n int) ([]byte, bool) {
	data, err := s.drop.Open(s.msgs[n-1].Key)
	switch {
	case err == nil:
		return data, true
	case errors.Is(err, ErrGone):
		s.fail("", "message "+strconv.Itoa(n)+" no longer exists")
	default:
		s.log.Warn("pop3: open message failed", "msg", n, "err", err)
		s.fail(CodeSysTemp, "cannot read message, try again later")
	}
	return nil, false
}

func (s *session) cmdRetr(cmd command) {
	if len(cmd.Args) != 1 {
		s.reject("", "usage: RETR msg")
		return
	}
	n, ok := s.msgArg(cmd.Args[0])
	if !ok {
		return
	}
	data, ok := s.open(n)
	if !ok {
		return
	}
	b := append(s.scratch[:0], "+OK "...)
	b = strconv.AppendInt(b, int64(len(data)), 10)
	b = append(b, " octets"...)
	s.scratch = b
	s.traceBytes(b)
	s.write(b)
	s.write(crlf)
	s.sendData(data)
	// Report the retrieval only once the bytes have left the buffer (see
	// flush): a connection cut mid-message must not count as retrieved.
	s.retrieved = append(s.retrieved, s.msgs[n-1].Key)
}

func (s *session) cmdTop(cmd command) {
	if len(cmd.Args) != 2 {
		s.reject("", "usage: TOP msg lines")
		return
	}
	n, ok := s.msgArg(cmd.Args[0])
	if !ok {
		return
	}
	lines, ok := parseNumber(cmd.Args[1])
	if !ok {
		s.reject("", "invalid line count")
		return
	}
	data, ok := s.open(n)
	if !ok {
		return
	}
	s.ok("top of message follows")
	s.sendData(topLines(data, lines))
}

func (s *session) cmdDele(cmd command) {
	if len(cmd.Args) != 1 {
		s.reject("", "usage: DELE msg")
		return
	}
	if n, ok := s.msgArg(cmd.Args[0]); ok {
		s.msgs[n-1].deleted = true
		s.ok("message %d deleted", n)
	}
}

func (s *session) cmdRset(cmd command) {
	if len(cmd.Args) != 0 {
		s.reject("", "RSET takes no arguments")
		return
	}
	for i := range s.msgs {
		s.msgs[i].deleted = false
	}
	n, size := s.visible()
	s.ok("maildrop has %d messages (%d octets)", n, size)
}

// cmdQuitUpdate is QUIT in TRANSACTION: the UPDATE state (RFC 1939 §6).
func (s *session) cmdQuitUpdate() {
	s.state = StateUpdate
	s.done = true
	if len(s.retrieved) > 0 {
		s.flush() // settles pending Retrieved calls before the Commit
		if s.err != nil {
			return
		}
	}
	var deleted []uint32
	for i := range s.msgs {
		if s.msgs[i].deleted {
			deleted = append(deleted, s.msgs[i].Key)
		}
	}
	if err := s.drop.Commit(deleted); err != nil {
		s.log.Warn("pop3: commit failed", "err", err)
		s.fail(CodeSysTemp, "some deleted messages not removed")
		return
	}
	// Release the maildrop before answering, so a client that logs in
	// again right after +OK never meets its own old lock ([IN-USE]).
	s.drop.Close()
	s.drop = nil
	s.ok("bye (%d messages deleted)", len(deleted))
}

// maskCommand renders a client line for the transcript with secrets hidden.
// It works on the raw line so unparseable lines are masked too.
func maskCommand(line string) string {
	name, rest, hasRest := strings.Cut(line, " ")
	switch strings.ToUpper(name) {
	case "PASS":
		if hasRest {
			return name + " ****"
		}
	case "APOP":
		if user, _, ok := strings.Cut(rest, " "); ok {
			return sanitizeForTrace(name + " " + user + " ****")
		}
	case "AUTH":
		if mech, _, ok := strings.Cut(rest, " "); ok {
			return sanitizeForTrace(name + " " + mech + " ****")
		}
	}
	return sanitizeForTrace(line)
}
