package imapfront

import (
	"errors"
	"log/slog"
	"net"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"github.com/mailrig/mailrig/memstore"
)

// session is one connection's state. go-imap calls its methods from the
// connection goroutine one at a time, except Idle, which runs on a second
// goroutine while the first waits for DONE; Close may come while Idle still
// runs, hence idleMu.
type session struct {
	srv  *Server
	conn *imapserver.Conn
	tc   *trackedConn // found before STARTTLS can hide it
	fc   *frontConn   // the command layer in front of go-imap
	id   uint64
	log  *slog.Logger

	user     *memstore.User
	username string
	sel      *selected

	// infoMu guards what Server.Sessions reads from other goroutines.
	infoMu              sync.Mutex
	clientID            map[string]string
	pubUser, pubMailbox string

	idleMu  sync.Mutex
	closed  bool
	idleEnd chan struct{} // closed when the running Idle returns
}

var (
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionSASL        = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

func (s *Server) newSession(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	id := s.connID(conn.NetConn())
	sess := &session{
		srv:  s,
		conn: conn,
		tc:   trackedOf(conn.NetConn()),
		fc:   frontOf(conn.NetConn()),
		id:   id,
		log:  s.log.With("conn", id, "remote", conn.NetConn().RemoteAddr().String()),
	}
	if err := s.admit(sess); err != nil {
		// No session will be closed: go-imap's last step is now closing
		// the connection, which is what Close must wait for.
		if sess.tc != nil {
			sess.tc.sessionClosed.Store(true)
		}
		return nil, nil, err
	}
	if sess.fc != nil {
		sess.fc.sess = sess
	}
	s.live.add(sess)
	sess.log.Debug("imap session start")
	return sess, nil, nil
}

// Close releases the session's watcher. It waits for a running Idle, which
// go-imap does not do when the connection breaks during IDLE.
func (s *session) Close() error {
	s.idleMu.Lock()
	s.closed = true
	end := s.idleEnd
	s.idleMu.Unlock()
	if end != nil {
		<-end
	}
	s.unselect()
	s.srv.live.remove(s)
	s.log.Debug("imap session end")
	if s.tc != nil {
		// go-imap closes the connection right after this, as its last step.
		s.tc.sessionClosed.Store(true)
	}
	return nil
}

// Login checks a LOGIN (or AUTHENTICATE PLAIN) against the store.
func (s *session) Login(username, password string) error {
	if err := s.checkPrivacy(); err != nil {
		return err
	}
	if err := s.interceptAs("LOGIN", "", username); err != nil {
		return err
	}
	return s.login(username, password)
}

func (s *session) login(username, password string) error {
	u, err := s.srv.opts.Store.Authenticate(username, password)
	if err != nil {
		s.log.Info("imap login failed", "user", username)
		s.srv.sleep(s.srv.opts.FailedLoginDelay)
		return imapserver.ErrAuthFailed
	}
	s.user, s.username = u, u.Address()
	s.log = s.log.With("user", s.username)
	return nil
}

// checkPrivacy refuses a login without TLS under RequireTLS, in go-imap's
// words: go-imap cannot tell, as the TLS is the command layer's.
func (s *session) checkPrivacy() error {
	if s.srv.opts.RequireTLS && (s.fc == nil || !s.fc.tlsOn) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodePrivacyRequired, Text: "TLS is required to authenticate"}
	}
	return nil
}

// frontOf finds the command layer of a connection go-imap holds.
func frontOf(c net.Conn) *frontConn {
	fc, _ := c.(*frontConn)
	return fc
}

// AuthenticateMechanisms lists the SASL mechanisms offered.
func (s *session) AuthenticateMechanisms() []string { return []string{sasl.Plain} }

// Authenticate starts a SASL exchange. Only PLAIN is offered; the
// authorization identity must be empty or equal the login name.
func (s *session) Authenticate(mech string) (sasl.Server, error) {
	if err := s.checkPrivacy(); err != nil {
		return nil, err
	}
	if err := s.intercept("AUTHENTICATE", ""); err != nil {
		return nil, err
	}
	if mech != sasl.Plain {
		return nil, imapErr(imap.StatusResponseTypeNo, "", "Unsupported SASL mechanism %s", mech)
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return imapErr(imap.StatusResponseTypeNo, imap.ResponseCodeAuthorizationFailed, "Cannot act as another user")
		}
		return s.login(username, password)
	}), nil
}

// AppendLimit is advertised as APPENDLIMIT and enforced by go-imap before
// the literal is read.
func (s *session) AppendLimit() uint32 { return s.srv.appendLimit() }

// Namespace reports the single personal namespace: "" with "/".
func (s *session) Namespace() (*imap.NamespaceData, error) {
	if s.srv.caps.hidden(imap.CapNamespace) {
		return nil, refuseHidden(imap.CapNamespace)
	}
	if err := s.intercept("NAMESPACE", ""); err != nil {
		return nil, err
	}
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: '/'}},
	}, nil
}

// rev2 reports whether the client enabled IMAP4rev2, which changes what
// responses may contain (no \Recent, ESEARCH for SEARCH).
func (s *session) rev2() bool {
	return s.conn.EnabledCaps().Has(imap.CapIMAP4rev2)
}

// storeError maps memstore errors to IMAP replies.
func storeError(err error, what string) error {
	var code imap.ResponseCode
	switch {
	case err == nil:
		return nil
	case errors.Is(err, memstore.ErrNoSuchMailbox):
		code = imap.ResponseCodeNonExistent
	case errors.Is(err, memstore.ErrMailboxExists):
		code = imap.ResponseCodeAlreadyExists
	case errors.Is(err, memstore.ErrOverQuota):
		code = imap.ResponseCodeOverQuota
	case errors.Is(err, memstore.ErrBadName), errors.Is(err, memstore.ErrInbox), errors.Is(err, memstore.ErrSameMailbox):
		code = imap.ResponseCodeCannot
	case errors.Is(err, memstore.ErrBadSpecialUse):
		code = responseCodeUseAttr
	default:
		code = imap.ResponseCodeServerBug
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: what + ": " + trimPrefix(err.Error())}
}

// trimPrefix drops memstore's package prefix from an error text.
func trimPrefix(s string) string {
	const p = "memstore: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// responseCodeUseAttr is RFC 6154's USEATTR, which go-imap does not define.
const responseCodeUseAttr imap.ResponseCode = "USEATTR"
