package testcert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"testing"
	"time"
)

func mustGet(t testing.TB) *Bundle {
	t.Helper()
	b, err := Get()
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return b
}

func TestGetSameBundle(t *testing.T) {
	a, b := mustGet(t), mustGet(t)
	if a != b {
		t.Fatal("Get returned different bundles")
	}
	if &a.Certificate.Certificate[0][0] != &b.Certificate.Certificate[0][0] {
		t.Fatal("Get returned different certificates")
	}
}

func TestCertificateProperties(t *testing.T) {
	b := mustGet(t)
	leaf := b.Leaf
	if !leaf.IsCA {
		t.Error("IsCA = false")
	}
	if leaf.KeyUsage&x509.KeyUsageCertSign == 0 || leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		t.Errorf("KeyUsage = %v", leaf.KeyUsage)
	}
	now := time.Now()
	if !leaf.NotBefore.Before(now.Add(-50*time.Minute)) || leaf.NotAfter.Before(now.AddDate(9, 11, 0)) {
		t.Errorf("validity %v..%v", leaf.NotBefore, leaf.NotAfter)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("VerifyHostname(%q): %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.Pool}); err != nil {
		t.Errorf("Verify against own pool: %v", err)
	}
	// The PEM forms must round-trip into a usable key pair.
	if _, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM); err != nil {
		t.Errorf("X509KeyPair: %v", err)
	}
	if blk, _ := pem.Decode(b.KeyPEM); blk == nil || blk.Type != "PRIVATE KEY" {
		t.Errorf("KeyPEM block = %v", blk)
	}
}

// handshake runs a TLS handshake over an in-memory pipe and returns the
// client's error.
func handshake(t *testing.T, serverName string) error {
	t.Helper()
	b := mustGet(t)
	cc, sc := net.Pipe()
	defer cc.Close()
	defer sc.Close()

	srv := tls.Server(sc, ServerConfig(b.Certificate))
	done := make(chan error, 1)
	go func() {
		err := srv.Handshake()
		if err == nil {
			// Echo one byte so the client sees an application-level round trip.
			buf := make([]byte, 1)
			if _, err = io.ReadFull(srv, buf); err == nil {
				_, err = srv.Write(buf)
			}
		}
		sc.Close()
		done <- err
	}()

	cfg := ClientConfig(b.Pool)
	cfg.ServerName = serverName // tls.Client cannot infer it from a pipe
	cli := tls.Client(cc, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := cli.HandshakeContext(ctx)
	if err == nil {
		buf := []byte{'x'}
		if _, err = cli.Write(buf); err == nil {
			_, err = io.ReadFull(cli, buf)
		}
	}
	cc.Close()
	srvErr := <-done
	if err == nil && srvErr != nil {
		t.Errorf("server side: %v", srvErr)
	}
	return err
}

func TestHandshakePipe(t *testing.T) {
	for _, name := range []string{"127.0.0.1", "localhost", "::1"} {
		t.Run(name, func(t *testing.T) {
			if err := handshake(t, name); err != nil {
				t.Fatalf("handshake: %v", err)
			}
		})
	}
}

func TestHandshakeRejectsOtherName(t *testing.T) {
	if err := handshake(t, "example.com"); err == nil {
		t.Fatal("handshake for example.com succeeded, want hostname error")
	}
}

// TestHandshakeLoopback dials real loopback sockets with an unmodified
// ClientConfig, checking that tls.Dial derives ServerName from the address.
func TestHandshakeLoopback(t *testing.T) {
	b := mustGet(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(b.Certificate))
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: ClientConfig(b.Pool)}
			addr := net.JoinHostPort(host, port)
			c, err := d.DialContext(context.Background(), "tcp4", addr)
			if err != nil {
				t.Fatalf("dial %s: %v", addr, err)
			}
			c.Close()
		})
	}
}

func TestConfigs(t *testing.T) {
	b := mustGet(t)
	sc := ServerConfig(b.Certificate)
	if sc.MinVersion != tls.VersionTLS12 || len(sc.Certificates) != 1 {
		t.Errorf("ServerConfig = %+v", sc)
	}
	cc := ClientConfig(b.Pool)
	if cc.RootCAs != b.Pool || cc.ServerName != "" || cc.InsecureSkipVerify {
		t.Errorf("ClientConfig = %+v", cc)
	}
}

func BenchmarkGet(b *testing.B) {
	mustGet(b) // pay for generation outside the timed loop
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Get(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGenerate is the one-off cost Get saves on every later call.
func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := generate(time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
