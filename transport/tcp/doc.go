// Package tcp implements transport.Transport over TCP, in plain text or
// under TLS 1.3.
//
// A session is one signalling connection plus one TCP connection per
// concurrent stream. A stream therefore never waits behind another (no
// head-of-line blocking between files), a plain TCP stream can send a file
// with sendfile(2), and the kernel's congestion control runs per stream.
// A multiplexer over one connection was measured 25–50% slower on this
// project's machine; docs/design.md has the figures.
//
// Every connection opens with a preamble in each direction (the client's
// names the session it belongs to; the server's greeting confirms the
// protocol and announces how many streams a session may use). Streams are
// framed, so a stream can end cleanly (fin), be aborted with a code (reset),
// and its connection can carry the next stream of the session once both
// directions ended cleanly: a session that fetches a thousand small files
// handshakes once per concurrent stream, not once per file. The signalling
// connection carries only the close frame, with its code and reason.
// docs/tcp-framing.md specifies the bytes.
//
// Under TLS every connection, signalling or stream, runs its own TLS 1.3
// handshake with the ALPN transport.ALPN and full verification (resumed
// handshakes included); a connection may join a session only with the same
// security level and, under mutual TLS, the same client certificate as the
// session's signalling connection. Joins are authorised by the session's
// 128-bit random identifier, which travels only inside TLS.
//
// Plain TCP (NewPlaintext) has no encryption and no authentication.
package tcp
