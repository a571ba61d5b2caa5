package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Fingerprint is the SHA-256 digest of a certificate's DER-encoded
// SubjectPublicKeyInfo. Hashing the public key rather than the whole
// certificate lets a server re-issue its certificate (a new expiry, new names)
// with the same key without breaking the pins and known hosts entries of its
// clients.
//
// The zero Fingerprint is never the fingerprint of a real key; IsZero reports
// it. Fingerprints are comparable with ==.
type Fingerprint [sha256.Size]byte

// fingerprintPrefix starts the canonical text form, as in OpenSSH.
const fingerprintPrefix = "SHA256:"

// ErrInvalidFingerprint is wrapped by every error of ParseFingerprint.
var ErrInvalidFingerprint = errors.New("invalid fingerprint")

// FingerprintOf returns the fingerprint of cert's public key.
func FingerprintOf(cert *x509.Certificate) Fingerprint {
	return sha256.Sum256(cert.RawSubjectPublicKeyInfo)
}

// String returns the canonical text form: "SHA256:" followed by the digest in
// unpadded standard base64 (43 characters), the form OpenSSH prints.
func (f Fingerprint) String() string {
	return fingerprintPrefix + base64.RawStdEncoding.EncodeToString(f[:])
}

// Hex returns the digest as 32 lower-case hex pairs separated by colons, the
// form openssl prints (in upper case). ParseFingerprint accepts it.
func (f Fingerprint) Hex() string {
	var b strings.Builder
	b.Grow(3*len(f) - 1)
	for i, c := range f {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(hex.EncodeToString([]byte{c}))
	}
	return b.String()
}

// IsZero reports whether f is the zero Fingerprint, which no key has.
func (f Fingerprint) IsZero() bool { return f == Fingerprint{} }

// MarshalText returns the canonical text form, so that fingerprints appear
// as text in JSON and work with flag.TextVar.
func (f Fingerprint) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText parses any form that ParseFingerprint accepts.
func (f *Fingerprint) UnmarshalText(text []byte) error {
	fp, err := ParseFingerprint(string(text))
	if err != nil {
		return err
	}
	*f = fp
	return nil
}

// ParseFingerprint parses a fingerprint in one of these forms, ignoring
// surrounding white space:
//
//	SHA256:<43 characters of unpadded standard base64>   (canonical; the prefix in any case)
//	<64 hex digits>
//	<32 pairs of hex digits separated by colons>
//
// Hex digits may be upper or lower case. Base64 must be canonical (its unused
// trailing bits zero), so each fingerprint has exactly one base64 spelling.
// Errors wrap ErrInvalidFingerprint.
func ParseFingerprint(s string) (Fingerprint, error) {
	var fp Fingerprint
	t := strings.TrimSpace(s)
	if len(t) > len(fingerprintPrefix) && strings.EqualFold(t[:len(fingerprintPrefix)], fingerprintPrefix) {
		b64 := t[len(fingerprintPrefix):]
		// Strict decoding refuses non-zero padding bits, which would otherwise
		// give one digest several spellings.
		// The length is checked first: Decode writes past a buffer that is
		// too small for its input.
		want := base64.RawStdEncoding.EncodedLen(len(fp))
		if len(b64) == want {
			n, err := base64.RawStdEncoding.Strict().Decode(fp[:], []byte(b64))
			if err == nil && n == len(fp) {
				return fp, nil
			}
		}
		return Fingerprint{}, fmt.Errorf("%w %q: after SHA256: want %d characters of unpadded base64",
			ErrInvalidFingerprint, s, want)
	}
	switch len(t) {
	case 2 * len(fp):
		if _, err := hex.Decode(fp[:], []byte(t)); err == nil {
			return fp, nil
		}
	case 3*len(fp) - 1:
		ok := true
		for i := range fp {
			pair := t[3*i : 3*i+2]
			if i < len(fp)-1 && t[3*i+2] != ':' {
				ok = false
				break
			}
			if _, err := hex.Decode(fp[i:i+1], []byte(pair)); err != nil {
				ok = false
				break
			}
		}
		if ok {
			return fp, nil
		}
	}
	return Fingerprint{}, fmt.Errorf("%w %q: want SHA256:<base64> as ferry prints it, or 64 hex digits with or without colons",
		ErrInvalidFingerprint, s)
}
