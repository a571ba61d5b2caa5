package certs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// maxKnownHostsFile caps how much of a known hosts file is read; a file of
// this size holds some 200,000 entries.
const maxKnownHostsFile = 16 << 20

// knownHostsHeader starts a new known hosts file, so that someone who finds
// it knows what it is and how to edit it.
const knownHostsHeader = "# ferry known hosts: servers trusted on first use.\n" +
	"# One server per line: HOST:PORT SHA256:FINGERPRINT. Remove a line to forget a server.\n"

// KnownHosts is a file of server fingerprints recorded on first contact and
// required to stay the same afterwards, as SSH does with host keys.
//
// The file holds one entry per line, "HOST:PORT SHA256:FINGERPRINT", with
// blank lines and lines starting with '#' ignored. Hosts are stored in the
// canonical form of CanonicalHostPort. When a host appears on several lines,
// the first one counts. One entry serves both TLS and QUIC, since a ferry
// server uses the same identity and port number for both.
//
// A KnownHosts is safe for concurrent use. It re-reads the file whenever the
// file changes, so entries that other processes append or a user removes
// take effect without a restart.
type KnownHosts struct {
	path string

	mu      sync.Mutex
	entries map[string]KnownHost // the first entry of each host
	stamp   fs.FileInfo          // the file as last parsed; nil if it did not exist
}

// KnownHost is one entry of a known hosts file.
type KnownHost struct {
	Host        string // canonical HOST:PORT
	Fingerprint Fingerprint
	Line        int // 1-based line number in the file
}

// OpenKnownHosts reads the known hosts file at path. A file that does not
// exist yet is treated as empty; Add creates it (mode 0600, its directory
// 0700). A line that cannot be parsed is an error naming the file and line:
// skipping it could let a server that the line was meant to pin be trusted
// anew.
func OpenKnownHosts(path string) (*KnownHosts, error) {
	k := &KnownHosts{path: path, entries: map[string]KnownHost{}}
	if err := k.refresh(); err != nil {
		return nil, err
	}
	return k, nil
}

// Path returns the file's path.
func (k *KnownHosts) Path() string { return k.path }

// Lookup returns the entry for hostport, which is canonicalized first.
// ok is false if the host is not known.
func (k *KnownHosts) Lookup(hostport string) (entry KnownHost, ok bool, err error) {
	host, err := CanonicalHostPort(hostport)
	if err != nil {
		return KnownHost{}, false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refresh(); err != nil {
		return KnownHost{}, false, err
	}
	entry, ok = k.entries[host]
	return entry, ok, nil
}

// Add records fp for hostport unless the host is known already. It returns
// added true if it appended the entry, false with a nil error if the same
// fingerprint was known, and a *MismatchError if another fingerprint is
// known for the host. Concurrent calls for a new host append it once.
//
// The entry is appended with a single O_APPEND write, which other processes
// appending at the same time cannot interleave with. If another process
// recorded a different fingerprint for the host first, Add reports the
// mismatch against that entry.
func (k *KnownHosts) Add(hostport string, fp Fingerprint) (added bool, err error) {
	host, err := CanonicalHostPort(hostport)
	if err != nil {
		return false, err
	}
	if fp.IsZero() {
		return false, errors.New("known hosts: refusing to record the zero fingerprint")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refresh(); err != nil {
		return false, err
	}
	if e, ok := k.entries[host]; ok {
		return false, k.compare(e, fp)
	}
	if err := k.append(host, fp); err != nil {
		return false, err
	}
	if err := k.refresh(); err != nil {
		return false, err
	}
	e, ok := k.entries[host]
	if !ok {
		return false, fmt.Errorf("known hosts: the entry for %s written to %s is not there: is another program rewriting the file?", host, k.path)
	}
	if err := k.compare(e, fp); err != nil {
		return false, err
	}
	return true, nil
}

func (k *KnownHosts) compare(e KnownHost, fp Fingerprint) error {
	if e.Fingerprint == fp {
		return nil
	}
	return &MismatchError{Host: e.Host, Known: e.Fingerprint, Got: fp, File: k.path, Line: e.Line}
}

// append writes one entry at the end of the file, creating it and its
// directory if needed. k.mu must be held.
func (k *KnownHosts) append(host string, fp Fingerprint) error {
	if err := os.MkdirAll(filepath.Dir(k.path), dirMode); err != nil {
		return fmt.Errorf("known hosts: create directory: %w", err)
	}
	f, err := os.OpenFile(k.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, keyMode)
	if err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	var buf bytes.Buffer
	if st.Size() == 0 {
		buf.WriteString(knownHostsHeader)
	} else {
		// A file edited by hand may lack its final newline; without this
		// the new entry would be glued to the last line.
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("known hosts: %w", err)
		}
		if last[0] != '\n' {
			buf.WriteByte('\n')
		}
	}
	fmt.Fprintf(&buf, "%s %s\n", host, fp)
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("known hosts: record %s: %w", host, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("known hosts: record %s: %w", host, err)
	}
	return f.Close()
}

// refresh re-reads the file if it changed since it was last parsed. On a
// parse error the old entries are dropped, so that nothing is trusted from
// a file that cannot be read whole. k.mu must be held, except in
// OpenKnownHosts.
func (k *KnownHosts) refresh() error {
	st, err := os.Stat(k.path)
	if errors.Is(err, fs.ErrNotExist) {
		k.entries, k.stamp = map[string]KnownHost{}, nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	if k.stamp != nil && os.SameFile(k.stamp, st) && k.stamp.Size() == st.Size() && k.stamp.ModTime().Equal(st.ModTime()) {
		return nil
	}
	k.entries, k.stamp = map[string]KnownHost{}, nil
	data, err := readKnownHosts(k.path)
	if err != nil {
		return err
	}
	entries, err := parseKnownHosts(k.path, data)
	if err != nil {
		return err
	}
	// The stat taken before reading is kept: if the file changed while it
	// was read, the next refresh sees a newer stamp and reads it again.
	k.entries, k.stamp = entries, st
	return nil
}

func readKnownHosts(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKnownHostsFile+1))
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	if len(data) > maxKnownHostsFile {
		return nil, fmt.Errorf("known hosts: %s is larger than %d bytes: is it the right file?", path, maxKnownHostsFile)
	}
	return data, nil
}

func parseKnownHosts(path string, data []byte) (map[string]KnownHost, error) {
	entries := map[string]KnownHost{}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("known hosts %s line %d: want \"HOST:PORT SHA256:FINGERPRINT\", found %d fields; fix or remove the line", path, n, len(fields))
		}
		host, err := CanonicalHostPort(fields[0])
		if err != nil {
			return nil, fmt.Errorf("known hosts %s line %d: %w; fix or remove the line", path, n, err)
		}
		fp, err := ParseFingerprint(fields[1])
		if err != nil {
			return nil, fmt.Errorf("known hosts %s line %d: %w; fix or remove the line", path, n, err)
		}
		if _, dup := entries[host]; !dup {
			entries[host] = KnownHost{Host: host, Fingerprint: fp, Line: n}
		}
	}
	return entries, nil
}

// CanonicalHostPort returns the form in which a server address is stored in
// a known hosts file, so that one server has one entry however it is
// written: host names in lower case without a trailing dot, IPv4 addresses
// (also IPv4-mapped IPv6 ones) in dotted form, IPv6 addresses compressed in
// brackets, and the port always present, as a number from 1 to 65535
// without leading zeros. Service names are not resolved.
func CanonicalHostPort(hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", fmt.Errorf("server address %q: want HOST:PORT, with an IPv6 address in brackets as in [::1]:4433", hostport)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("server address %q: the port must be a number from 1 to 65535", hostport)
	}
	var canon string
	if ip, err := netip.ParseAddr(host); err == nil {
		canon = netip.AddrPortFrom(ip.Unmap(), uint16(p)).String()
	} else {
		h := strings.ToLower(strings.TrimSuffix(host, "."))
		if h == "" {
			return "", fmt.Errorf("server address %q: the host is missing", hostport)
		}
		for _, c := range h {
			if !(unicode.IsLetter(c) || unicode.IsDigit(c) || c == '-' || c == '_' || c == '.') {
				return "", fmt.Errorf("server address %q: %q is not a host name or IP address", hostport, host)
			}
		}
		canon = h + ":" + strconv.FormatUint(p, 10)
	}
	// An IPv6 zone may hold any character; the file format cannot.
	if strings.ContainsFunc(canon, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '#' }) {
		return "", fmt.Errorf("server address %q contains spaces or control characters", hostport)
	}
	return canon, nil
}
