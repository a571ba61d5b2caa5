// Package quic implements ferry's transport.Transport over QUIC with
// quic-go: a Session is a QUIC connection and every Stream is a QUIC
// bidirectional stream, so the control stream and each file's data never
// wait behind one another.
//
// # Use
//
// New takes a TLS configuration (a server's with its Certificates, a
// client's that verifies the server) and a Config. It forces TLS 1.3 and
// the ALPN "ferry/1" (transport.ALPN). A Transport dials through a single UDP
// socket, opened on the first Dial and shared by all later ones; Close
// closes the sessions dialed through it, sending each peer a
// CONNECTION_CLOSE, then the socket. Each Listen opens a socket of its own.
//
// As package transport requires, streams are opened by the dialing side and
// accepted by the listening side; the other side gets transport.ErrWrongSide.
// The rule also holds on the wire: a dialed session grants its peer no
// streams, and neither side accepts unidirectional streams.
//
// # Defaults
//
// The zero Config gives: a 5 s handshake idle timeout (quic-go aborts any
// handshake after 10 s), a 30 s idle timeout, keep-alives every 10 s on
// dialed sessions (none from listeners), 100 concurrent streams per client,
// and receive windows that grow to 16 MiB per stream and 24 MiB per session
// so that a download over a long path is not capped at window / RTT. Windows
// matter only at high round-trip times; on loopback they change nothing.
// Stateless resets are off unless Config.StatelessResetKey is set.
//
// # Closing
//
// Stream.Close sends a FIN and stops reading (the peer, if still writing,
// sees a *transport.StreamError with transport.CodeClosed); CloseWrite sends
// only the FIN; Abort resets both directions with a code. If Close or
// CloseWrite finds a Write in flight, it resets the send side with CodeClosed
// instead of sending a FIN, because a FIN after a cut-off write would look
// like a complete transfer. Session.CloseWithError loses data not yet
// acknowledged: wait for the peer's acknowledgement on the protocol level
// first.
//
// Listener.Close stops accepting at once, but sessions already accepted keep
// working: the listener's socket stays open until the last of them has
// ended and closes then. (Closing it earlier would kill those sessions
// without telling their peers.) Meanwhile new clients are not refused; their
// handshakes time out.
//
// # Errors
//
// quic-go's errors never reach the caller bare; they are translated and kept
// in the chain, for errors.As and for logs:
//
//   - a stream reset or STOP_SENDING → *transport.StreamError{Code, Remote};
//   - a session closed with an application code → *transport.SessionError
//     {Code, Reason, Remote};
//   - no common ALPN (the TLS alert no_application_protocol, sent by a server
//     that refuses ferry/1 or by a client whose server selected no protocol),
//     or no common QUIC version → an error that unwraps to
//     transport.ErrWrongProtocol;
//   - deadlines, handshake and idle timeouts, and context deadlines → a
//     net.Error whose Timeout reports true; handshake and idle timeouts also
//     unwrap to net.ErrClosed;
//   - anything used after Close, locally or by the peer → an error that
//     unwraps to net.ErrClosed.
//
// A clean io.EOF from Read always means the peer sent a FIN after all its
// data.
//
// # Performance
//
// quic-go sends with UDP generic segmentation offload (GSO), which is worth
// about 2.4x the throughput and much less CPU per byte. It only works on a
// plain *net.UDPConn, which is why this package always creates its own
// sockets and never wraps them; a test checks that GSO is on. Setting the
// environment variable QUIC_GO_DISABLE_GSO=true turns it off.
//
// quic-go asks the kernel for 7 MiB UDP socket buffers. On Linux, raise the
// limits so that it gets them, or bursts are dropped and count as loss:
//
//	sysctl -w net.core.rmem_max=7500000
//	sysctl -w net.core.wmem_max=7500000
//
// (quic-go logs a warning once when the receive buffer falls short.) Even
// so, QUIC costs several times the CPU of TLS over TCP per byte: packets are
// at most 1452 bytes and are encrypted and processed in user space.
package quic
