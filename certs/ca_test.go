package certs

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCreateCA(t *testing.T) {
	skipOnWindows(t)
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := CreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Certificate
	if !c.IsCA || !c.BasicConstraintsValid || !c.MaxPathLenZero || c.MaxPathLen != 0 {
		t.Errorf("constraints: IsCA %v valid %v MaxPathLenZero %v MaxPathLen %d", c.IsCA, c.BasicConstraintsValid, c.MaxPathLenZero, c.MaxPathLen)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("key usage %v", c.KeyUsage)
	}
	if m := mode(t, filepath.Join(dir, CAKeyFile)); m != 0o600 {
		t.Errorf("ca.key mode %04o", m)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dir mode %04o", m)
	}

	loaded, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Fingerprint() != ca.Fingerprint() || !loaded.Certificate.Equal(ca.Certificate) {
		t.Error("LoadCA returned another CA")
	}

	keyBefore, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if _, err := CreateCA(dir); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second CreateCA: err = %v, want fs.ErrExist", err)
	}
	keyAfter, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if !bytes.Equal(keyBefore, keyAfter) {
		t.Error("ca.key overwritten")
	}

	if err := os.Chmod(filepath.Join(dir, CAKeyFile), 0o640); err != nil {
		t.Fatal(err)
	}
	var perr *KeyPermissionError
	if _, err := LoadCA(dir); !errors.As(err, &perr) {
		t.Errorf("group-readable ca.key: err = %v", err)
	}
	if _, err := LoadCA(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadCA of an empty dir: err = %v", err)
	}
}

func TestCAIssueAndVerify(t *testing.T) {
	skipOnWindows(t)
	dir := t.TempDir()
	ca, err := CreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "issued")
	srv, err := ca.IssueServer(out, "srv", []string{"Example.COM.", "127.0.0.1", "[::1]", "::ffff:10.0.0.1", "*.svc.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	sc := srv.Certificate
	if want := []string{"example.com", "*.svc.example.com"}; !slices.Equal(sc.DNSNames, want) {
		t.Errorf("DNS SANs %q, want %q", sc.DNSNames, want)
	}
	wantIPs := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.0.0.1")}
	if len(sc.IPAddresses) != len(wantIPs) {
		t.Fatalf("IP SANs %v, want %v", sc.IPAddresses, wantIPs)
	}
	for i, ip := range wantIPs {
		if !sc.IPAddresses[i].Equal(ip) {
			t.Errorf("IP SAN %d = %v, want %v", i, sc.IPAddresses[i], ip)
		}
	}
	if sc.NotAfter.After(ca.Certificate.NotAfter) {
		t.Error("leaf outlives its CA")
	}
	if srv.Fingerprint != FingerprintOf(sc) || srv.CertFile != filepath.Join(out, "srv.crt") || srv.KeyFile != filepath.Join(out, "srv.key") {
		t.Errorf("Issued = %+v", srv)
	}
	if m := mode(t, srv.KeyFile); m != 0o600 {
		t.Errorf("srv.key mode %04o", m)
	}

	verify := func(c *x509.Certificate, name string, usage x509.ExtKeyUsage) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: name, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}
	for _, name := range []string{"example.com", "a.svc.example.com", "127.0.0.1", "::1", "10.0.0.1"} {
		if err := verify(sc, name, x509.ExtKeyUsageServerAuth); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if err := verify(sc, "other.example", x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("server certificate verified for a name it does not hold")
	}
	if err := verify(sc, "", x509.ExtKeyUsageClientAuth); err == nil {
		t.Error("server certificate verified for client authentication")
	}

	cli, err := ca.IssueClient(out, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if cli.Certificate.Subject.CommonName != "alice" {
		t.Errorf("client CN %q", cli.Certificate.Subject.CommonName)
	}
	if err := verify(cli.Certificate, "", x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if err := verify(cli.Certificate, "", x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("client certificate verified for server authentication")
	}

	// Another CA, even with the same subject name, does not vouch for them.
	other, err := CreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Certificate.Verify(x509.VerifyOptions{Roots: other.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("client certificate verified by an unrelated CA")
	}

	// Never overwritten.
	before, _ := os.ReadFile(srv.KeyFile)
	if _, err := ca.IssueServer(out, "srv", []string{"example.com"}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("issuing over srv: err = %v, want fs.ErrExist", err)
	}
	if _, err := ca.IssueClient(out, "srv"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("issuing client over srv: err = %v, want fs.ErrExist", err)
	}
	after, _ := os.ReadFile(srv.KeyFile)
	if !bytes.Equal(before, after) {
		t.Error("srv.key overwritten")
	}
	// The CA's own files are not names to issue to either.
	if _, err := ca.IssueClient(dir, "ca"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("issuing as ca in the CA dir: err = %v", err)
	}
}

func TestCAIssueRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	ca, err := CreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "../x", "a/b", ".hidden", "-rf", "a b", "é"} {
		if _, err := ca.IssueClient(dir, name); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	for _, hosts := range [][]string{nil, {""}, {"example.com:443"}, {"[::1]:443"}, {"fe80::1%eth0"}, {"bad host"}, {"-x.example"}, {"a..b"}, {"bücher.de"}} {
		if _, err := ca.IssueServer(dir, "s", hosts); err == nil {
			t.Errorf("hosts %q accepted", hosts)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("refused requests left files behind: %v", entries)
	}
}
