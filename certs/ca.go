package certs

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Names of the CA's files inside its directory.
const (
	CAKeyFile  = "ca.key"
	CACertFile = "ca.crt"
)

const (
	caValidity = 10 * 365 * 24 * time.Hour
	// leafValidity is shorter than the CA's but long enough that renewing is
	// a rare chore; a leaf never outlives its CA.
	leafValidity = 5 * 365 * 24 * time.Hour
)

// CA is a small certificate authority that issues server certificates (for
// CA mode) and client certificates (for mutual TLS).
type CA struct {
	// Certificate is the CA's self-signed certificate, which clients and
	// servers put in their pools.
	Certificate *x509.Certificate
	// CertFile is where Certificate is stored.
	CertFile string

	key crypto.Signer
}

// Issued describes a certificate and key that a CA wrote.
type Issued struct {
	Certificate *x509.Certificate
	CertFile    string // NAME.crt, mode 0644
	KeyFile     string // NAME.key, mode 0600
	Fingerprint Fingerprint
}

// Fingerprint returns the fingerprint of the CA's public key.
func (ca *CA) Fingerprint() Fingerprint { return FingerprintOf(ca.Certificate) }

// Pool returns a new pool that holds only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Certificate)
	return p
}

// CreateCA creates a new CA in dir: an ECDSA P-256 key in dir/ca.key
// (PKCS#8 PEM, mode 0600) and a self-signed certificate in dir/ca.crt valid
// for ten years, which may sign leaf certificates only (path length zero).
// dir is created with mode 0700 if needed. Existing files are never
// overwritten: if either exists, CreateCA fails and changes nothing.
func CreateCA(dir string) (*CA, error) {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("create CA directory: %w", err)
	}
	keyPath := filepath.Join(dir, CAKeyFile)
	certPath := filepath.Join(dir, CACertFile)
	if err := refuseExisting(keyPath, certPath); err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"ferry"}, CommonName: "ferry CA"},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		// The CA signs leaves only; an intermediate it signed by mistake
		// would still be refused by verifiers.
		MaxPathLenZero: true,
		KeyUsage:       x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	if err := writePair(keyPath, certPath, key, der); err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	return &CA{Certificate: cert, CertFile: certPath, key: key}, nil
}

// LoadCA loads the CA that CreateCA wrote in dir. The key file must not be
// accessible by other users (*KeyPermissionError).
func LoadCA(dir string) (*CA, error) {
	keyPath := filepath.Join(dir, CAKeyFile)
	certPath := filepath.Join(dir, CACertFile)
	keyPEM, err := readKeyFile(keyPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("load CA: no CA in %s; create one first (ferry certs): %w", dir, err)
		}
		return nil, fmt.Errorf("load CA: %w", err)
	}
	key, err := parseKeyPEM(keyPath, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	certPEM, err := readPublicFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	cert, err := parseCertPEM(certPath, certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("load CA: %s is not a CA certificate", certPath)
	}
	if !samePublicKey(cert, key) {
		return nil, fmt.Errorf("load CA: %s is not the certificate of %s", certPath, keyPath)
	}
	return &CA{Certificate: cert, CertFile: certPath, key: key}, nil
}

// IssueServer issues a server certificate for hosts and writes it with a new
// key to dir/NAME.crt and dir/NAME.key. Each host is an IP address (IPv4 or
// IPv6, brackets allowed) or a DNS name (wildcards like *.example.com
// allowed); at least one is required, since clients in CA mode check the
// name they dialed against these and nothing else. The certificate is for
// server authentication only.
//
// name is a plain file name (letters, digits, '.', '_', '-'). Existing files
// are never overwritten: if either exists, IssueServer fails and writes
// nothing.
func (ca *CA) IssueServer(dir, name string, hosts []string) (*Issued, error) {
	if len(hosts) == 0 {
		return nil, errors.New("issue server certificate: give at least one host name or IP address that clients will dial")
	}
	tmpl := &x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if err := addSAN(tmpl, h); err != nil {
			return nil, fmt.Errorf("issue server certificate: %w", err)
		}
	}
	iss, err := ca.issue(dir, name, tmpl)
	if err != nil {
		return nil, fmt.Errorf("issue server certificate: %w", err)
	}
	return iss, nil
}

// IssueClient issues a client certificate for mutual TLS, with name as its
// common name, and writes it with a new key to dir/NAME.crt and
// dir/NAME.key, under the same rules as IssueServer. The certificate is for
// client authentication only.
func (ca *CA) IssueClient(dir, name string) (*Issued, error) {
	tmpl := &x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	iss, err := ca.issue(dir, name, tmpl)
	if err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	return iss, nil
}

func (ca *CA) issue(dir, name string, tmpl *x509.Certificate) (*Issued, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	now := time.Now()
	if now.After(ca.Certificate.NotAfter) {
		return nil, fmt.Errorf("the CA %s expired on %s; create a new CA", ca.CertFile, ca.Certificate.NotAfter.Format(time.DateOnly))
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("create directory: %w", err)
	}
	keyPath := filepath.Join(dir, name+".key")
	certPath := filepath.Join(dir, name+".crt")
	if err := refuseExisting(keyPath, certPath); err != nil {
		return nil, err
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.Subject = pkix.Name{Organization: []string{"ferry"}, CommonName: name}
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(leafValidity)
	if tmpl.NotAfter.After(ca.Certificate.NotAfter) {
		tmpl.NotAfter = ca.Certificate.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	if err := writePair(keyPath, certPath, key, der); err != nil {
		return nil, err
	}
	return &Issued{Certificate: cert, CertFile: certPath, KeyFile: keyPath, Fingerprint: FingerprintOf(cert)}, nil
}

// addSAN adds host to tmpl as an IP or a DNS subject alternative name.
func addSAN(tmpl *x509.Certificate, host string) error {
	h := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(host), "["), "]")
	if ip, err := netip.ParseAddr(h); err == nil {
		if ip.Zone() != "" {
			return fmt.Errorf("host %q: an address with a zone cannot be in a certificate", host)
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.Unmap().AsSlice())
		return nil
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" || strings.Contains(h, ":") {
		return fmt.Errorf("host %q: want a DNS name or an IP address, without a port", host)
	}
	for i, label := range strings.Split(h, ".") {
		if label == "*" && i == 0 {
			continue
		}
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q is not a valid DNS name", host)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("host %q is not a valid DNS name (internationalized names must be given in their xn-- form)", host)
			}
		}
	}
	tmpl.DNSNames = append(tmpl.DNSNames, h)
	return nil
}

// checkName accepts names that are plain file names on every system.
func checkName(name string) error {
	if name == "" || len(name) > 64 || name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("name %q: want 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("name %q: want 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'", name)
		}
	}
	return nil
}

// refuseExisting fails if any of paths exists, so that a pair is written
// whole or not at all.
func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; ferry never overwrites it: move it away first or choose another name: %w", p, fs.ErrExist)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writePair writes a new key and its certificate, the key first; if the
// certificate cannot be written, the key just created is removed again.
func writePair(keyPath, certPath string, key crypto.Signer, certDER []byte) error {
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	if err := writeNewFile(keyPath, keyPEM, keyMode); err != nil {
		return err
	}
	if err := writeNewFile(certPath, encodeCert(certDER), certMode); err != nil {
		os.Remove(keyPath)
		return err
	}
	return nil
}
