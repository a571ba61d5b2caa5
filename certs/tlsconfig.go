package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/ferryproject/ferry/transport"
)

// ErrNoTrust is returned by ClientConfig when it is given no way to verify
// the server. ferry never connects without verifying whom it talks to.
var ErrNoTrust = errors.New("no way to verify the server: give a pin, a CA, or a known hosts file")

// MismatchError reports a server whose identity is not the one the client
// trusts: not the pinned fingerprint (File is empty), or not the one its
// known hosts file recorded (File and Line name the entry).
//
// crypto/tls and quic-go keep it in the chain of the errors they return, so
// errors.As finds it in what tls.Dial or quic.Dial return.
type MismatchError struct {
	Host  string      // canonical HOST:PORT
	Known Fingerprint // the pinned or recorded fingerprint
	Got   Fingerprint // the fingerprint the server presented
	File  string      // the known hosts file; empty for a pin
	Line  int         // the entry's line in File
}

func (e *MismatchError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("server %s presented identity %s, not the pinned %s: "+
			"someone may be intercepting the connection, or the pin is wrong; "+
			"compare with the fingerprint that ferry serve printed", e.Host, e.Got, e.Known)
	}
	return fmt.Sprintf("the identity of server %s has changed: it presented %s, "+
		"but line %d of known hosts file %s records %s. "+
		"Someone may be intercepting the connection, or the server's identity was replaced. "+
		"If the change is expected, remove line %d of %s, or connect with --pin %s",
		e.Host, e.Got, e.Line, e.File, e.Known, e.Line, e.File, e.Got)
}

// ClientOptions says how a client verifies a server. Exactly one of Pin, CA
// and KnownHosts must be set.
type ClientOptions struct {
	// ServerAddr is the server's "host:port" as dialed. It is the key in the
	// known hosts file, the name checked against the certificate in CA mode,
	// and the name in errors. Required.
	ServerAddr string

	// Pin, when set, is the only server fingerprint accepted.
	Pin *Fingerprint

	// CA, when set, is the only pool of roots the server's certificate may
	// chain to; the certificate must name the host of ServerAddr. The
	// system's roots are never used. See LoadCertPool.
	CA *x509.CertPool

	// KnownHosts, when set, enables trust on first use: a server not in the
	// file is recorded there and accepted, a known one must present the
	// recorded fingerprint or the handshake fails with a *MismatchError.
	KnownHosts *KnownHosts

	// OnFirstUse, if not nil, is called once when a server is recorded in
	// KnownHosts, from the goroutine doing the handshake, so that the user
	// can be told (ferry prints a notice on stderr). Default: nothing.
	OnFirstUse func(host string, fp Fingerprint)

	// Certificate, if not nil, is the client certificate offered to a server
	// that asks for one (mutual TLS). Default: none.
	Certificate *tls.Certificate
}

// ClientConfig returns a TLS 1.3 client configuration that offers
// transport.ALPN, requires the server to select it, and verifies the server
// as opts says. It works for TLS over TCP and for QUIC.
//
// With a pin or known hosts, the certificate chain is not checked against
// any CA (InsecureSkipVerify); instead VerifyConnection checks the
// fingerprint of the server's leaf certificate and fails closed. In TLS 1.3
// the server always proves it holds that certificate's key (CertificateVerify),
// so the fingerprint is the trust. VerifyConnection runs on every handshake,
// resumed ones too, so a ClientSessionCache may be added safely.
//
// With known hosts, the fingerprint is recorded when VerifyConnection runs,
// which crypto/tls does just before checking the server's proof of its key:
// a handshake that fails afterwards may leave an entry behind. This gives an
// attacker nothing that trust on first use does not already give one who is
// in the path of the first connection.
//
// Verification failures reach the caller through crypto/tls and quic-go:
// errors.As finds a *MismatchError, and errors.Is finds
// transport.ErrWrongProtocol for a server that does not speak ferry/1.
func ClientConfig(opts ClientOptions) (*tls.Config, error) {
	n := 0
	for _, set := range []bool{opts.Pin != nil, opts.CA != nil, opts.KnownHosts != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, ErrNoTrust
	case n > 1:
		return nil, errors.New("give only one way to verify the server: a pin, a CA, or a known hosts file")
	}
	if opts.Pin != nil && opts.Pin.IsZero() {
		return nil, errors.New("the pinned fingerprint is empty")
	}
	addr, err := CanonicalHostPort(opts.ServerAddr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)

	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{transport.ALPN},
		// The server name is sent in SNI (not for IP addresses) and, in CA
		// mode, checked against the certificate.
		ServerName: host,
	}
	if opts.Certificate != nil {
		cert := opts.Certificate
		// Offer the certificate whatever CAs the server says it accepts:
		// if the server refuses it, its error ("unknown certificate
		// authority") says more than "certificate required".
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return cert, nil
		}
	}

	var verifyIdentity func(fp Fingerprint) error
	switch {
	case opts.CA != nil:
		cfg.RootCAs = opts.CA
	case opts.Pin != nil:
		pin := *opts.Pin
		verifyIdentity = func(fp Fingerprint) error {
			if fp != pin {
				return &MismatchError{Host: addr, Known: pin, Got: fp}
			}
			return nil
		}
	case opts.KnownHosts != nil:
		kh, onFirstUse := opts.KnownHosts, opts.OnFirstUse
		verifyIdentity = func(fp Fingerprint) error {
			added, err := kh.Add(addr, fp)
			if err != nil {
				return err
			}
			if added && onFirstUse != nil {
				onFirstUse(addr, fp)
			}
			return nil
		}
	}
	if verifyIdentity != nil {
		// Safe only because VerifyConnection below checks the key of the
		// leaf on every connection and fails closed.
		cfg.InsecureSkipVerify = true
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		// The protocol first: a server that is not ferry must not be
		// recorded in the known hosts file.
		if cs.NegotiatedProtocol != transport.ALPN {
			return fmt.Errorf("server %s did not agree to %s (it offered %q): %w",
				addr, transport.ALPN, cs.NegotiatedProtocol, transport.ErrWrongProtocol)
		}
		if verifyIdentity == nil {
			return nil // CA mode: crypto/tls verified the chain and name.
		}
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("server %s presented no certificate", addr)
		}
		return verifyIdentity(FingerprintOf(cs.PeerCertificates[0]))
	}
	return cfg, nil
}

// ServerOptions configures the TLS side of a server. The zero value serves
// any client that speaks ferry/1.
type ServerOptions struct {
	// ClientCAs, when set, turns on mutual TLS: a client must present a
	// certificate that chains to one of these CAs and is for client
	// authentication (extended key usage clientAuth). See LoadCertPool and
	// CA.Pool. Default: no client certificate asked for.
	ClientCAs *x509.CertPool
}

// ServerConfig returns a TLS 1.3 server configuration that presents id and
// admits only clients that negotiate transport.ALPN (crypto/tls would
// otherwise accept a client that offers no ALPN at all; such a client sees
// a "bad certificate" alert, and the server's handshake error wraps
// transport.ErrWrongProtocol). It works for TLS over TCP and for QUIC.
// Session tickets stay enabled: VerifyConnection runs on resumed handshakes
// too.
func ServerConfig(id *Identity, opts ServerOptions) (*tls.Config, error) {
	if id == nil || id.Certificate.Leaf == nil || id.Certificate.PrivateKey == nil {
		return nil, errors.New("server TLS: no identity (certificate and key) given")
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{transport.ALPN},
		Certificates: []tls.Certificate{id.Certificate},
	}
	mtls := opts.ClientCAs != nil
	if mtls {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = opts.ClientCAs
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if cs.NegotiatedProtocol != transport.ALPN {
			return fmt.Errorf("client did not negotiate %s (it offered no application protocol): %w",
				transport.ALPN, transport.ErrWrongProtocol)
		}
		if !mtls {
			return nil
		}
		// crypto/tls has verified the chain for clientAuth already; this
		// makes sure a certificate without any extended key usage, which
		// x509 treats as good for anything, is not taken for a client one.
		if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
			return errors.New("client presented no verified certificate")
		}
		if !slices.Contains(cs.PeerCertificates[0].ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
			return fmt.Errorf("client certificate %q is not for client authentication", cs.PeerCertificates[0].Subject.CommonName)
		}
		return nil
	}
	return cfg, nil
}

// LoadCertPool returns a pool of the certificates in the PEM file at path,
// typically a CA's ca.crt. A file with no certificate is an error.
func LoadCertPool(path string) (*x509.CertPool, error) {
	data, err := readPublicFile(path)
	if err != nil {
		return nil, fmt.Errorf("load CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("load CA certificates: %s holds no PEM certificate", path)
	}
	return pool, nil
}
