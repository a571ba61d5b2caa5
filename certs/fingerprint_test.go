package certs

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func randomFingerprint(t testing.TB) Fingerprint {
	var fp Fingerprint
	rand.Read(fp[:])
	return fp
}

func TestFingerprintTextForms(t *testing.T) {
	fp := randomFingerprint(t)
	s := fp.String()
	if !strings.HasPrefix(s, "SHA256:") || len(s) != len("SHA256:")+43 || strings.Contains(s, "=") {
		t.Fatalf("String() = %q, want SHA256: and 43 characters of unpadded base64", s)
	}
	h := fp.Hex()
	if len(h) != 95 || strings.Count(h, ":") != 31 || h != strings.ToLower(h) {
		t.Fatalf("Hex() = %q, want 32 lower-case pairs separated by colons", h)
	}
	for _, in := range []string{
		s,
		"  " + s + "\n",
		"sha256:" + strings.TrimPrefix(s, "SHA256:"),
		h,
		strings.ToUpper(h),
		strings.ReplaceAll(h, ":", ""),
		strings.ToUpper(strings.ReplaceAll(h, ":", "")),
	} {
		got, err := ParseFingerprint(in)
		if err != nil {
			t.Errorf("ParseFingerprint(%q): %v", in, err)
			continue
		}
		if got != fp {
			t.Errorf("ParseFingerprint(%q) = %v, want %v", in, got, fp)
		}
	}
}

func TestFingerprintKnownValue(t *testing.T) {
	// sha256("") in both forms, as `printf '' | sha256sum` and OpenSSH show it.
	want := Fingerprint(sha256.Sum256(nil))
	for _, in := range []string{
		"SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	} {
		got, err := ParseFingerprint(in)
		if err != nil || got != want {
			t.Errorf("ParseFingerprint(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestParseFingerprintRejects(t *testing.T) {
	fp := randomFingerprint(t)
	b64 := strings.TrimPrefix(fp.String(), "SHA256:")
	// The last base64 character carries 4 unused bits; flipping one gives a
	// second spelling of the same digest, which must be refused.
	last := b64[len(b64)-1]
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	idx := strings.IndexByte(alphabet, last)
	nonCanonical := b64[:len(b64)-1] + string(alphabet[idx^1])
	h := fp.Hex()
	for _, in := range []string{
		"",
		"SHA256:",
		"SHA256:" + b64 + "=",    // padded
		"SHA256:" + b64[:42],     // short
		"SHA256:" + nonCanonical, // non-zero trailing bits
		"SHA256:" + strings.ReplaceAll(h, ":", ""), // hex after the prefix
		"MD5:" + b64,
		b64, // base64 without its prefix
		h[:94],
		strings.Replace(h, ":", "-", 1),
		strings.ReplaceAll(h, ":", "")[:63] + "g",
		h[:2] + h[3:] + ":", // colon moved
	} {
		if _, err := ParseFingerprint(in); !errors.Is(err, ErrInvalidFingerprint) {
			t.Errorf("ParseFingerprint(%q): err = %v, want ErrInvalidFingerprint", in, err)
		}
	}
}

func TestFingerprintJSON(t *testing.T) {
	fp := randomFingerprint(t)
	data, err := json.Marshal(map[string]Fingerprint{"fp": fp})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), fp.String()) {
		t.Fatalf("JSON %s does not hold %s", data, fp)
	}
	var back map[string]Fingerprint
	if err := json.Unmarshal(data, &back); err != nil || back["fp"] != fp {
		t.Fatalf("round trip: %v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"fp":"nope"}`), &back); !errors.Is(err, ErrInvalidFingerprint) {
		t.Fatalf("bad JSON fingerprint: err = %v", err)
	}
}

func FuzzParseFingerprint(f *testing.F) {
	fp := Fingerprint(sha256.Sum256([]byte("ferry")))
	f.Add(fp.String())
	f.Add(fp.Hex())
	f.Add(strings.ReplaceAll(fp.Hex(), ":", ""))
	f.Add("sha256:" + strings.TrimPrefix(fp.String(), "SHA256:"))
	f.Add("SHA256:")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidFingerprint) {
				t.Fatalf("error %v does not wrap ErrInvalidFingerprint", err)
			}
			return
		}
		for _, form := range []string{fp.String(), fp.Hex()} {
			back, err := ParseFingerprint(form)
			if err != nil || back != fp {
				t.Fatalf("%q parsed to %v, whose form %q parses to %v, %v", s, fp, form, back, err)
			}
		}
		// One digest, one base64 spelling: a prefixed input must carry
		// exactly the canonical base64.
		trimmed := strings.TrimSpace(s)
		if strings.HasPrefix(strings.ToUpper(trimmed), "SHA256:") && trimmed[7:] != fp.String()[7:] {
			t.Fatalf("%q parsed to %v but is not its canonical form", s, fp)
		}
	})
}
