// Command h3files serves a folder over HTTP/3 and fetches files from it,
// both ends on quic-go (the QUIC library ferry uses), so that
// scripts/measure-smallfiles.sh can compare ferry's QUIC transport with
// the best an HTTP/3 client here can do: many requests in flight on one
// connection, each response written to its own file (no verification, no
// sync, as curl does). curl on this machine has no HTTP/3. It is a
// measuring aid, not part of ferry.
//
//	h3files serve -root DIR -addr-file FILE
//	h3files get -addr HOST:PORT -list FILE -o DEST [-parallel N]
//
// serve listens on 127.0.0.1 (a free UDP port) with a throwaway
// self-signed certificate; get trusts any certificate (like curl -k) and
// fetches every path listed in FILE, one per line, into DEST/PATH.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/ferryproject/ferry/scripts/internal/selfsigned"
	"github.com/quic-go/quic-go/http3"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("h3files: ")
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "get":
		get(os.Args[2:])
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: h3files serve -root DIR [-addr-file FILE]\n       h3files get -addr HOST:PORT -list FILE -o DEST [-parallel N]")
	os.Exit(2)
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	root := fs.String("root", "", "folder to serve (required)")
	addrFile := fs.String("addr-file", "", "write the listening address to this file")
	fs.Parse(args)
	if *root == "" {
		usage()
	}
	cert, err := selfsigned.Localhost("h3files")
	if err != nil {
		log.Fatal(err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http3.Server{
		Handler:   http.FileServer(http.Dir(*root)),
		TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}),
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(conn.LocalAddr().String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(conn); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
		log.Fatal(err)
	}
}

func get(args []string) {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	addr := fs.String("addr", "", "server address (required)")
	list := fs.String("list", "", "file with one path per line (required)")
	dest := fs.String("o", "", "folder to write into (required)")
	parallel := fs.Int("parallel", 8, "requests in flight at once")
	fs.Parse(args)
	if *addr == "" || *list == "" || *dest == "" || *parallel < 1 {
		usage()
	}
	paths, err := readLines(*list)
	if err != nil {
		log.Fatal(err)
	}
	tr := &http3.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // a throwaway local server, like curl -k
	defer tr.Close()
	client := &http.Client{Transport: tr}

	next := make(chan string)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []error
	)
	for range *parallel {
		wg.Go(func() {
			for p := range next {
				if err := fetch(client, *addr, p, filepath.Join(*dest, filepath.FromSlash(p))); err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, p := range paths {
		next <- p
	}
	close(next)
	wg.Wait()
	if len(failed) > 0 {
		log.Fatalf("%d of %d failed, first: %v", len(failed), len(paths), failed[0])
	}
}

// fetch GETs one path into the file local.
func fetch(client *http.Client, addr, path, local string) error {
	resp, err := client.Get("https://" + addr + "/" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return err
	}
	f, err := os.Create(local)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

func readLines(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() != "" {
			lines = append(lines, sc.Text())
		}
	}
	return lines, sc.Err()
}
