// Package testpki makes throwaway certificate authorities and certificates
// for tests, so that every test of TLS and QUIC runs real verification against
// a test CA and none turns certificate checks off.
//
// Keys are ECDSA P-256, certificates are valid for an hour around now, and the
// server certificate names 127.0.0.1, ::1 and localhost.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/ferryproject/ferry/transport"
)

// PKI is a test CA with one server and one client certificate it issued.
type PKI struct {
	CA         *x509.Certificate
	Pool       *x509.CertPool // holds only CA
	Server     tls.Certificate
	Client     tls.Certificate
	ServerName string // "localhost"
}

// New creates a fresh PKI. It fails the test on any error.
func New(t testing.TB) *PKI {
	t.Helper()
	caKey := newKey(t)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "ferry test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("testpki: create CA: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("testpki: parse CA: %v", err)
	}
	p := &PKI{CA: ca, Pool: x509.NewCertPool(), ServerName: "localhost"}
	p.Pool.AddCert(ca)
	p.Server = p.issue(t, caKey, "ferry test server", x509.ExtKeyUsageServerAuth,
		[]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback})
	p.Client = p.issue(t, caKey, "ferry test client", x509.ExtKeyUsageClientAuth, nil, nil)
	return p
}

// Untrusted makes a server certificate signed by a fresh, unrelated CA: a
// certificate that a client trusting p must refuse.
func Untrusted(t testing.TB) tls.Certificate {
	return New(t).Server
}

func (p *PKI) issue(t testing.TB, caKey *ecdsa.PrivateKey, cn string, eku x509.ExtKeyUsage, dns []string, ips []net.IP) tls.Certificate {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{eku},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("testpki: issue %s: %v", cn, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: parse %s: %v", cn, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// ServerTLS is a TLS 1.3 server configuration with ferry's ALPN and the
// server certificate.
func (p *PKI) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{p.Server},
		NextProtos:   []string{transport.ALPN},
	}
}

// ClientTLS is a TLS 1.3 client configuration that trusts only the test CA
// and verifies the server name "localhost".
func (p *PKI) ClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    p.Pool,
		ServerName: p.ServerName,
		NextProtos: []string{transport.ALPN},
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: generate key: %v", err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatalf("testpki: serial: %v", err)
	}
	return n
}
