package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func skipOnWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits")
	}
}

func TestIdentityCreatedOnceAndReused(t *testing.T) {
	skipOnWindows(t)
	dir := filepath.Join(t.TempDir(), "server")
	id, created, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("first call: created = false")
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dir mode %04o, want 0700", m)
	}
	if m := mode(t, filepath.Join(dir, IdentityKeyFile)); m != 0o600 {
		t.Errorf("key mode %04o, want 0600", m)
	}
	if m := mode(t, filepath.Join(dir, IdentityCertFile)); m != 0o644 {
		t.Errorf("cert mode %04o, want 0644", m)
	}

	leaf := id.Certificate.Leaf
	if leaf.Subject.CommonName != "ferry server" {
		t.Errorf("CN %q", leaf.Subject.CommonName)
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature || len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("key usage %v, ext key usage %v", leaf.KeyUsage, leaf.ExtKeyUsage)
	}
	if leaf.IsCA {
		t.Error("identity certificate is a CA")
	}
	if bits := leaf.SerialNumber.BitLen(); bits < 64 || bits > 128 {
		t.Errorf("serial has %d bits, want a random 128-bit number", bits)
	}
	if time.Until(leaf.NotAfter) < 9*365*24*time.Hour || time.Since(leaf.NotBefore) < 0 {
		t.Errorf("validity %v to %v", leaf.NotBefore, leaf.NotAfter)
	}
	if id.Fingerprint() != FingerprintOf(leaf) || id.Fingerprint().IsZero() {
		t.Error("Fingerprint() is not the leaf's")
	}

	keyBefore, _ := os.ReadFile(filepath.Join(dir, IdentityKeyFile))
	id2, created, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("second call: created = true")
	}
	if id2.Fingerprint() != id.Fingerprint() || !bytes.Equal(id2.Certificate.Leaf.Raw, leaf.Raw) {
		t.Error("second call returned another identity")
	}
	keyAfter, _ := os.ReadFile(filepath.Join(dir, IdentityKeyFile))
	if !bytes.Equal(keyBefore, keyAfter) {
		t.Error("key file rewritten")
	}
}

// The fingerprint names the key: a re-issued certificate keeps it.
func TestIdentityCertificateRecreatedFromKey(t *testing.T) {
	dir := t.TempDir()
	id, _, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, IdentityCertFile)); err != nil {
		t.Fatal(err)
	}
	id2, created, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("created = true for an existing key")
	}
	if bytes.Equal(id2.Certificate.Leaf.Raw, id.Certificate.Leaf.Raw) {
		t.Fatal("certificate was not re-issued")
	}
	if id2.Fingerprint() != id.Fingerprint() {
		t.Error("re-issued certificate changed the fingerprint")
	}
}

func TestIdentityKeyNeverOverwritten(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, IdentityKeyFile)
	junk := []byte("not a key\n")
	if err := os.WriteFile(keyPath, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateIdentity(dir); err == nil {
		t.Fatal("a broken key file was accepted")
	}
	got, _ := os.ReadFile(keyPath)
	if !bytes.Equal(got, junk) {
		t.Fatal("the key file was overwritten")
	}
	if _, err := os.Stat(filepath.Join(dir, IdentityCertFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a certificate was written for a broken key")
	}
}

func TestIdentityCertificateWithoutKeyRefused(t *testing.T) {
	dir := t.TempDir()
	certPath := filepath.Join(dir, IdentityCertFile)
	if err := os.WriteFile(certPath, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadOrCreateIdentity(dir)
	if err == nil || !strings.Contains(err.Error(), "restore the key") {
		t.Fatalf("err = %v, want a refusal that says to restore the key", err)
	}
	if _, err := os.Stat(filepath.Join(dir, IdentityKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a new key was created next to an orphan certificate")
	}
}

func TestIdentityGroupReadableKeyRefused(t *testing.T) {
	skipOnWindows(t)
	dir := t.TempDir()
	if _, _, err := LoadOrCreateIdentity(dir); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, IdentityKeyFile)
	for _, m := range []fs.FileMode{0o640, 0o604, 0o660} {
		if err := os.Chmod(keyPath, m); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateIdentity(dir)
		var perr *KeyPermissionError
		if !errors.As(err, &perr) {
			t.Fatalf("mode %04o: err = %v, want *KeyPermissionError", m, err)
		}
		if perr.Path != keyPath || perr.Mode != m || !strings.Contains(err.Error(), "chmod 600 "+keyPath) {
			t.Errorf("mode %04o: %+v: %v", m, perr, err)
		}
	}
	if err := os.Chmod(keyPath, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateIdentity(dir); err != nil {
		t.Errorf("owner-only read-only key refused: %v", err)
	}
}

func TestLoadIdentityFromCA(t *testing.T) {
	skipOnWindows(t)
	dir := t.TempDir()
	ca, err := CreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.IssueServer(dir, "srv", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := LoadIdentity(srv.CertFile, srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if id.Fingerprint() != srv.Fingerprint {
		t.Error("fingerprint differs from the issued one")
	}

	cli, err := ca.IssueClient(dir, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(cli.CertFile, cli.KeyFile); err == nil || !strings.Contains(err.Error(), "not a server certificate") {
		t.Errorf("client certificate as server identity: err = %v", err)
	}
	if _, err := LoadIdentity(srv.CertFile, cli.KeyFile); err == nil {
		t.Error("certificate with another key accepted")
	}
	if err := os.Chmod(srv.KeyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	var perr *KeyPermissionError
	if _, err := LoadIdentity(srv.CertFile, srv.KeyFile); !errors.As(err, &perr) {
		t.Errorf("world-readable key: err = %v, want *KeyPermissionError", err)
	}
}

// TestStatelessResetKey checks that the QUIC stateless reset key survives a
// restart (the same identity gives the same key) and that another identity
// gets another one.
func TestStatelessResetKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "server")
	id, _, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := LoadOrCreateIdentity(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	k1, err := id.StatelessResetKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := again.StatelessResetKey()
	if err != nil {
		t.Fatal(err)
	}
	k3, err := other.StatelessResetKey()
	if err != nil {
		t.Fatal(err)
	}
	if *k1 != *k2 {
		t.Error("the same identity gave two different keys: a restarted server could not reset its old sessions")
	}
	if *k1 == *k3 {
		t.Error("two identities gave the same key")
	}
	if *k1 == [32]byte{} {
		t.Error("the key is all zeros")
	}
}
