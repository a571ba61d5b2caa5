// Package transfer implements ferry's fetch and echo protocol
// (docs/protocol.md) over any transport.Transport: a Server that serves the
// regular files beneath one folder, and a Client that lists, fetches and
// verifies them.
//
// A session carries one control stream, opened by the client, for every
// request and reply, and one data stream per file, also opened by the
// client, that carries the file's bytes and nothing else. Requests are
// pipelined: a Client's methods may run concurrently and their replies
// arrive in any order.
//
// Every fetched file is verified end to end: the client counts the bytes
// against the announced size and compares its own digest (BLAKE3 by
// default, SHA-256 on request) of the whole file with the server's before
// the file appears under its name.
//
// This package imports only package transport, never a concrete transport.
package transfer
