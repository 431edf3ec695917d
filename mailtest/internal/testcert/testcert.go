// Package testcert provides a throwaway self-signed TLS certificate for
// mailrig's test servers and the clients that talk to them.
//
// The certificate is generated once per process and shared: key generation
// is cheap for P-256 but still worth not repeating in every test.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"
)

// Bundle holds the generated certificate in the forms servers and clients
// need. Callers must treat it as read-only: it is shared process-wide.
type Bundle struct {
	// Certificate is the key pair to put in a server's tls.Config.
	Certificate tls.Certificate
	// Pool contains the certificate as a trusted root, for clients.
	Pool *x509.CertPool
	// CertPEM is the certificate, PEM-encoded.
	CertPEM []byte
	// KeyPEM is the private key, PEM-encoded as PKCS #8.
	KeyPEM []byte
	// Leaf is the parsed certificate.
	Leaf *x509.Certificate
}

var (
	once   sync.Once
	bundle *Bundle
	genErr error
)

// Get returns the process-wide certificate bundle, generating it on the
// first call. Later calls return the same *Bundle (or the same error).
func Get() (*Bundle, error) {
	once.Do(func() { bundle, genErr = generate(time.Now()) })
	return bundle, genErr
}

// generate creates a self-signed ECDSA P-256 certificate for localhost and
// the loopback addresses, valid from an hour before now (to tolerate clock
// skew) for ten years.
func generate(now time.Time) (*Bundle, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testcert: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("testcert: generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"mailrig test"}, CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		// IsCA lets the certificate act as its own root in a CertPool.
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testcert: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testcert: parse certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("testcert: marshal key: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &Bundle{
		Certificate: tls.Certificate{
			Certificate: [][]byte{der},
			PrivateKey:  key,
			Leaf:        leaf,
		},
		Pool:    pool,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		Leaf:    leaf,
	}, nil
}

// ServerConfig returns a TLS server configuration presenting cert and
// requiring at least TLS 1.2.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}
}

// ClientConfig returns a TLS client configuration that trusts only pool.
// ServerName is left empty on purpose: crypto/tls then takes it from the
// dialed address, so dialing 127.0.0.1 verifies the IP SAN and dialing
// localhost verifies the DNS SAN. Callers using tls.Client directly on a
// raw connection must set ServerName themselves.
func ClientConfig(pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		RootCAs:    pool,
		MinVersion: tls.VersionTLS12,
	}
}
