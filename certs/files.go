package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"runtime"
)

// File modes. Keys are for their owner only; certificates are public.
const (
	keyMode  fs.FileMode = 0o600
	certMode fs.FileMode = 0o644
	dirMode  fs.FileMode = 0o700
)

// maxPEMFile caps what is read from a key or certificate file: real ones
// are a few KiB, and a mistaken path (a disk image, /dev/zero) must not
// exhaust memory.
const maxPEMFile = 1 << 20

// KeyPermissionError reports a private key file that users other than its
// owner can access. ferry refuses such a key, as ssh does, because it may
// already be known to others.
type KeyPermissionError struct {
	Path string
	Mode fs.FileMode // permission bits of the file
}

func (e *KeyPermissionError) Error() string {
	return fmt.Sprintf("private key %s is accessible by other users (mode %04o); restrict it with: chmod 600 %s",
		e.Path, e.Mode.Perm(), e.Path)
}

// newKey returns a fresh ECDSA P-256 key: small certificates and signatures
// keep handshake flights short, which matters to QUIC's anti-amplification
// limit.
func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// newSerial returns a random 128-bit serial number, as CAs are required to
// use (CA/B Forum BR 7.1) and mkcert and generate_cert.go do.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n, nil
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// writeNewFile creates path with mode and writes data to it. It never
// replaces an existing file (O_EXCL), and removes what it created when the
// write fails, so no half-written key is left behind.
func writeNewFile(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; ferry never overwrites it: move it away first or choose another name: %w", path, err)
		}
		return fmt.Errorf("create %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readKeyFile reads a private key file after checking that only its owner
// can access it. The mode is checked on the open file, not on the path, so
// a file swapped in between cannot slip past.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open private key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open private key: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("private key %s is not a regular file", path)
	}
	// Windows has no Unix permission bits to check; its ACLs are the
	// administrator's business.
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, &KeyPermissionError{Path: path, Mode: st.Mode().Perm()}
	}
	return readCapped(f, path)
}

func readPublicFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readCapped(f, path)
}

func readCapped(f *os.File, path string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxPEMFile {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a key or certificate file", path, maxPEMFile)
	}
	return data, nil
}

// parseKeyPEM parses the single PKCS#8 "PRIVATE KEY" block that ferry writes.
func parseKeyPEM(path string, data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PEM \"PRIVATE KEY\" block (PKCS#8) found", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: parse private key: %w", path, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: unsupported private key type %T", path, k)
	}
	return signer, nil
}

// parseCertPEM parses the first "CERTIFICATE" block of data.
func parseCertPEM(path string, data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM \"CERTIFICATE\" block found", path)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: parse certificate: %w", path, err)
		}
		return c, nil
	}
}

// samePublicKey reports whether cert is for key's public half.
func samePublicKey(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}
