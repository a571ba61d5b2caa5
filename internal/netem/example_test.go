package netem_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os/exec"

	"github.com/ferryproject/ferry/internal/netem"
)

// A client and a server on an emulated continental link: the server listens
// in the server namespace, the client dials from the client namespace.
func Example() {
	ctx := context.Background()
	spec, err := netem.ParseSpec("continent,jitter=5ms")
	if err != nil {
		log.Fatal(err)
	}
	link, err := netem.Start(ctx, spec)
	if err != nil {
		log.Fatal(err) // for example netem.ErrPermission when not root
	}
	defer link.Close()

	addr := net.JoinHostPort(link.ServerAddr().String(), "0")
	ln, err := link.Listen(ctx, netem.Server, "tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c) // echo
			c.Close()
		}
	}()
	c, err := link.Dial(ctx, netem.Client, "tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// A whole program can run on one side too.
	cmd := exec.Command("ferry", "serve", "-t", "quic", ".")
	if err := link.StartCommand(netem.Server, cmd); err != nil {
		log.Fatal(err)
	}
	defer cmd.Wait()

	fmt.Println(link.Stats().ClientToServer.Delivered)
}
