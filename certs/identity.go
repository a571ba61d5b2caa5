package certs

import (
	"crypto"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Names of the files that hold a server identity inside its directory.
const (
	IdentityKeyFile  = "identity.key"
	IdentityCertFile = "identity.crt"
)

// identityValidity is long because nothing checks it: clients trust a
// self-signed identity by its key's fingerprint, never by its dates, and an
// expiry would only ever surprise an operator.
const identityValidity = 10 * 365 * 24 * time.Hour

// clockSkew backdates NotBefore so that a client whose clock is a little
// behind still accepts a certificate made a moment ago.
const clockSkew = time.Hour

// Identity is what a server proves it is: a certificate and its private key.
type Identity struct {
	// Certificate is ready for tls.Config.Certificates; its Leaf is set.
	Certificate tls.Certificate

	// CertFile and KeyFile are the files the identity was loaded from.
	CertFile, KeyFile string
}

// Fingerprint returns the fingerprint of the identity's public key, which
// clients pin or record in their known hosts file.
func (id *Identity) Fingerprint() Fingerprint {
	return FingerprintOf(id.Certificate.Leaf)
}

// LoadOrCreateIdentity returns the server identity kept in dir, creating it
// on first use: an ECDSA P-256 key in dir/identity.key (PKCS#8 PEM, mode
// 0600) and a self-signed certificate in dir/identity.crt (CN "ferry server",
// server authentication only, valid for ten years). created reports whether
// a new key was made, that is whether the server now has a fingerprint no
// client has seen before.
//
// dir is created with mode 0700 if it does not exist. The key is created
// with O_EXCL and never overwritten; a key that other users can access is
// refused with a *KeyPermissionError. If identity.crt is missing but the key
// exists, a new certificate is made for the same key, so the fingerprint
// does not change.
func LoadOrCreateIdentity(dir string) (id *Identity, created bool, err error) {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, false, fmt.Errorf("create identity directory: %w", err)
	}
	keyPath := filepath.Join(dir, IdentityKeyFile)
	certPath := filepath.Join(dir, IdentityCertFile)

	keyPEM, err := readKeyFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Lstat(certPath); err == nil {
			return nil, false, fmt.Errorf("found %s but not its key %s: restore the key, or remove the certificate to create a new identity (clients will then refuse the new fingerprint until told)", certPath, keyPath)
		}
		key, err := newKey()
		if err != nil {
			return nil, false, err
		}
		keyPEM, err = encodeKey(key)
		if err != nil {
			return nil, false, err
		}
		err = writeNewFile(keyPath, keyPEM, keyMode)
		switch {
		case err == nil:
			created = true
		case errors.Is(err, fs.ErrExist):
			// Another process created the identity a moment ago: use theirs.
			if keyPEM, err = readKeyFile(keyPath); err != nil {
				return nil, false, fmt.Errorf("load server identity: %w", err)
			}
		default:
			return nil, false, fmt.Errorf("create server identity: %w", err)
		}
	} else if err != nil {
		return nil, false, fmt.Errorf("load server identity: %w", err)
	}

	key, err := parseKeyPEM(keyPath, keyPEM)
	if err != nil {
		return nil, false, fmt.Errorf("load server identity: %w", err)
	}
	certPEM, err := readPublicFile(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		der, err := selfSign(key)
		if err != nil {
			return nil, false, err
		}
		certPEM = encodeCert(der)
		if err := writeNewFile(certPath, certPEM, certMode); err != nil {
			return nil, false, fmt.Errorf("create server identity: %w", err)
		}
	} else if err != nil {
		return nil, false, fmt.Errorf("load server identity: %w", err)
	}
	leaf, err := parseCertPEM(certPath, certPEM)
	if err != nil {
		return nil, false, fmt.Errorf("load server identity: %w", err)
	}
	if !samePublicKey(leaf, key) {
		return nil, false, fmt.Errorf("load server identity: %s is not the certificate of %s; remove %s to make a new one for the key", certPath, keyPath, certPath)
	}
	return &Identity{
		Certificate: tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf},
		CertFile:    certPath,
		KeyFile:     keyPath,
	}, created, nil
}

// selfSign makes the self-signed certificate of a server identity.
func selfSign(key crypto.Signer) ([]byte, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "ferry server"},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(identityValidity),
		// ECDSA keys sign; KeyEncipherment is for RSA key transport only.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create identity certificate: %w", err)
	}
	return der, nil
}

// LoadIdentity loads a server identity from a certificate file (PEM, the
// server's certificate first, then any intermediates) and its private key
// file (PEM: PKCS#8, PKCS#1 or SEC 1), for example ones made by
// [CA.IssueServer] or another CA. The key file must not be accessible by
// other users (*KeyPermissionError). A certificate that has expired, is not
// yet valid, or is not for server authentication is refused here rather
// than by every client later.
func LoadIdentity(certFile, keyFile string) (*Identity, error) {
	keyPEM, err := readKeyFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("load server identity: %w", err)
	}
	certPEM, err := readPublicFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("load server identity: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load server identity from %s and %s: %w", certFile, keyFile, err)
	}
	leaf := pair.Leaf
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("load server identity: %s is valid only from %s to %s; issue a new one",
			certFile, leaf.NotBefore.Format(time.DateOnly), leaf.NotAfter.Format(time.DateOnly))
	}
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) &&
		!slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return nil, fmt.Errorf("load server identity: %s is not a server certificate (no serverAuth extended key usage); issue one with ferry certs", certFile)
	}
	return &Identity{Certificate: pair, CertFile: certFile, KeyFile: keyFile}, nil
}

// StatelessResetKey derives, from the identity's private key, the secret
// with which a QUIC server answers packets of sessions it no longer knows
// (after a restart) with a stateless reset, so that their clients fail at
// once instead of after the idle timeout. It must stay secret and survive
// restarts: deriving it from the key gives both without another file, and
// a new identity gets a new one.
func (id *Identity) StatelessResetKey() (*[32]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(id.Certificate.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("derive the QUIC stateless reset key: %w", err)
	}
	k, err := hkdf.Key(sha256.New, der, nil, "ferry/1 QUIC stateless reset key", 32)
	if err != nil {
		return nil, fmt.Errorf("derive the QUIC stateless reset key: %w", err)
	}
	return (*[32]byte)(k), nil
}
