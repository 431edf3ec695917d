package pop3

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
)

func TestSTLS(t *testing.T) {
	t.Parallel()
	serverCfg, clientCfg := selfSignedTLS(t)
	tr := &transcript{}
	rec := &connInfoRecorder{Backend: newTestBackend()}
	_, addr := startServer(t, rec, Options{TLSConfig: serverCfg, Trace: tr.trace})
	c := dial(t, addr)
	runSteps(t, c, []step{
		{"CAPA", `\+OK.*`, []string{"TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "SASL PLAIN", "STLS", "IMPLEMENTATION mailrig"}},
		{"USER alice", `\+OK.*`, nil},
		{"STLS x", `-ERR.*`, nil},
		{"STLS", `\+OK begin TLS negotiation`, nil},
	})
	tc := tls.Client(c.conn, clientCfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c = &client{t: t, conn: tc, r: newReader(tc)}
	runSteps(t, c, []step{
		{"CAPA", `\+OK.*`, []string{"TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "SASL PLAIN", "IMPLEMENTATION mailrig"}},
		{"STLS", `-ERR already using TLS`, nil},
		// The session restarted: the USER before STLS is forgotten.
		{"PASS secret word", `-ERR USER first`, nil},
	})
	runSteps(t, c, loginAlice)
	runSteps(t, c, []step{{"QUIT", `\+OK.*`, nil}})
	if infos := rec.get(); len(infos) != 1 || !infos[0].TLS {
		t.Errorf("ConnInfo %+v", infos)
	}
}

func TestSTLSDiscardsInjectedCommands(t *testing.T) {
	t.Parallel()
	serverCfg, clientCfg := selfSignedTLS(t)
	_, addr := startServer(t, newTestBackend(), Options{TLSConfig: serverCfg})
	c := dial(t, addr)
	// A man in the middle appends a command after STLS in cleartext.
	c.send("STLS\r\nUSER alice")
	if got := c.readLine(); got != "+OK begin TLS negotiation" {
		t.Fatal(got)
	}
	tc := tls.Client(c.conn, clientCfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c = &client{t: t, conn: tc, r: newReader(tc)}
	runSteps(t, c, []step{{"PASS secret word", `-ERR USER first`, nil}})
}

func TestRequireTLS(t *testing.T) {
	t.Parallel()
	serverCfg, clientCfg := selfSignedTLS(t)
	_, addr := startServer(t, newTestBackend(), Options{TLSConfig: serverCfg, RequireTLS: true, MaxBadCommands: 100})
	c := dial(t, addr)
	runSteps(t, c, []step{
		{"CAPA", `\+OK.*`, []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS", "IMPLEMENTATION mailrig"}},
		{"USER alice", `-ERR \[AUTH\] TLS required.*`, nil},
		{"PASS x", `-ERR \[AUTH\] TLS required.*`, nil},
		{"APOP alice " + strings.Repeat("a", 32), `-ERR \[AUTH\] TLS required.*`, nil},
		{"AUTH PLAIN " + b64("\x00alice\x00secret word"), `-ERR \[AUTH\] TLS required.*`, nil},
		{"AUTH", `-ERR \[AUTH\] TLS required.*`, nil},
		{"STLS", `\+OK.*`, nil},
	})
	tc := tls.Client(c.conn, clientCfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c = &client{t: t, conn: tc, r: newReader(tc)}
	runSteps(t, c, loginAlice)
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	serverCfg, clientCfg := selfSignedTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &connInfoRecorder{Backend: newTestBackend()}
	serveOn(t, rec, Options{TLSConfig: serverCfg}, ln, serverCfg)
	conn, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, conn)
	runSteps(t, c, []step{
		{"CAPA", `\+OK.*`, []string{"TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "SASL PLAIN", "IMPLEMENTATION mailrig"}},
		{"STLS", `-ERR already using TLS`, nil},
	})
	runSteps(t, c, loginAlice)
	runSteps(t, c, []step{{"RETR 1", `\+OK 23 octets`, []string{"Subject: one", "", "hello"}}, {"QUIT", `\+OK.*`, nil}})
	if infos := rec.get(); len(infos) != 1 || !infos[0].TLS {
		t.Errorf("ConnInfo %+v", infos)
	}
}

func TestTLSHandshakeFailure(t *testing.T) {
	t.Parallel()
	serverCfg, _ := selfSignedTLS(t)
	_, addr := startServer(t, newTestBackend(), Options{TLSConfig: serverCfg})
	c := dial(t, addr)
	runSteps(t, c, []step{{"STLS", `\+OK.*`, nil}})
	c.send("this is not a ClientHello")
	c.expectClosed()
}

// connInfoRecorder records the ConnInfo of every Login call.
type connInfoRecorder struct {
	Backend
	mu    sync.Mutex
	infos []ConnInfo
}

func (r *connInfoRecorder) Login(ctx context.Context, username, password string, info ConnInfo) (Maildrop, error) {
	r.mu.Lock()
	r.infos = append(r.infos, info)
	r.mu.Unlock()
	return r.Backend.Login(ctx, username, password, info)
}

func (r *connInfoRecorder) get() []ConnInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ConnInfo(nil), r.infos...)
}
