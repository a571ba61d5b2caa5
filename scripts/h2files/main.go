// Command h2files serves a folder over HTTPS with HTTP/2, the way the
// peers ferry is compared with serve files (net/http's FileServer, TLS 1.3,
// a throwaway self-signed certificate). scripts/measure-smallfiles.sh runs
// it so that "curl --http2 --parallel" can fetch the same tree as ferry, on
// the same disk, in the same run. It is a measuring aid, not part of ferry.
//
//	h2files -root DIR -addr-file FILE    (listens on 127.0.0.1, a free port)
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferryproject/ferry/scripts/internal/selfsigned"
)

func main() {
	root := flag.String("root", "", "folder to serve (required)")
	addrFile := flag.String("addr-file", "", "write the listening address to this file")
	flag.Parse()
	if *root == "" {
		fmt.Fprintln(os.Stderr, "usage: h2files -root DIR [-addr-file FILE]")
		os.Exit(2)
	}
	cert, err := selfsigned.Localhost("h2files")
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	srv := &http.Server{
		Handler:   http.FileServer(http.Dir(*root)),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
