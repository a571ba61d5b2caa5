package certs_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ferryproject/ferry/certs"
)

func ExampleParseFingerprint() {
	// The hex form that openssl prints parses to the same fingerprint.
	fp, err := certs.ParseFingerprint("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fp)
	// Output: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU
}

// A server loads its identity and a client trusts it on first use.
func ExampleClientConfig() {
	dir, err := os.MkdirTemp("", "ferry-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	id, created, err := certs.LoadOrCreateIdentity(filepath.Join(dir, "server"))
	if err != nil {
		log.Fatal(err)
	}
	if created {
		fmt.Fprintln(os.Stderr, "new server identity", id.Fingerprint())
	}
	serverTLS, err := certs.ServerConfig(id, certs.ServerOptions{})
	if err != nil {
		log.Fatal(err)
	}

	kh, err := certs.OpenKnownHosts(filepath.Join(dir, "client", "known_hosts"))
	if err != nil {
		log.Fatal(err)
	}
	clientTLS, err := certs.ClientConfig(certs.ClientOptions{
		ServerAddr: "files.example:4433",
		KnownHosts: kh,
		OnFirstUse: func(host string, fp certs.Fingerprint) {
			fmt.Fprintf(os.Stderr, "ferry: recorded %s as %s\n", host, fp)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(serverTLS.NextProtos, clientTLS.NextProtos)
	// Output: [ferry/1] [ferry/1]
}
