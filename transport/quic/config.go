package quic

import (
	"errors"
	"fmt"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// Defaults for the fields of Config left at zero.
const (
	DefaultHandshakeTimeout           = 5 * time.Second
	DefaultMaxIdleTimeout             = 30 * time.Second
	DefaultKeepAlivePeriod            = 10 * time.Second
	DefaultMaxIncomingStreams         = 100
	DefaultMaxStreamReceiveWindow     = 16 << 20 // 16 MiB
	DefaultMaxConnectionReceiveWindow = 24 << 20 // 24 MiB
)

// quic-go's own starting windows. They are kept (windows grow from here as
// the application reads) unless a maximum below them is configured.
const (
	quicgoInitialStreamWindow     = 512 << 10
	quicgoInitialConnectionWindow = 768 << 10
)

// Config tunes a Transport. The zero value is ready to use: every field left
// at zero takes the default documented on it. New copies the Config, so
// changing it afterwards has no effect.
type Config struct {
	// HandshakeTimeout bounds how long a handshake may go without progress
	// (quic-go's HandshakeIdleTimeout); quic-go gives up on a handshake
	// after twice this in any case. The context passed to Dial bounds the
	// whole dial on top of it. Default 5s.
	HandshakeTimeout time.Duration

	// MaxIdleTimeout closes a session that has received nothing for this
	// long. The lower of the two peers' values applies. A session that
	// times out fails with an error whose Timeout method reports true and
	// that unwraps to net.ErrClosed. Default 30s.
	MaxIdleTimeout time.Duration

	// KeepAlivePeriod is how often a dialed session sends a keep-alive when
	// nothing else is sent, so that a client waiting for its user (a prompt,
	// a slow disk) never idles out. quic-go caps the effective period at
	// half the idle timeout. Default 10s; a negative value turns keep-alives
	// off. It applies to dialed sessions only: listeners never send
	// keep-alives, so that a server lets a vanished client go after
	// MaxIdleTimeout.
	KeepAlivePeriod time.Duration

	// MaxIncomingStreams is how many streams a listener lets each client
	// have open at once; OpenStream on the client blocks at the limit until
	// a stream has ended in both directions. Size it to the parallel
	// transfers plus the control stream. Dialed sessions grant the peer no
	// streams at all, because only the dialing side opens streams (see
	// package transport). Default 100.
	MaxIncomingStreams int64

	// MaxStreamReceiveWindow and MaxConnectionReceiveWindow cap how far the
	// receive windows of one stream and of the whole session may grow.
	// Windows start small (512 KiB and 768 KiB) and grow only as the
	// application reads, so a peer cannot make an idle reader buffer more
	// than the starting windows.
	//
	// A sender can go no faster than window / round-trip time, and the
	// receiver's values decide: for ferry that is the client, which
	// downloads. On loopback the windows make no measurable difference, but
	// at 20 ms RTT quic-go's own 6 MiB stream window caps a transfer near
	// 300 MB/s and at 100 ms near 60 MB/s. The defaults, 16 MiB per stream
	// and 24 MiB per session (1.5x, so that the control stream and a second
	// transfer still get credit while one file fills its window), cover a
	// gigabit path up to about 130 ms. Raise them for faster or longer
	// paths; each session may then hold up to MaxConnectionReceiveWindow of
	// unread data in memory. Defaults 16 MiB and 24 MiB.
	MaxStreamReceiveWindow     uint64
	MaxConnectionReceiveWindow uint64

	// StatelessResetKey, when set, lets this endpoint answer packets for a
	// session it no longer knows (after a restart) with a stateless reset,
	// so that the peer fails at once instead of after MaxIdleTimeout. It
	// must be secret, random and the same across restarts (store it 0600).
	// Default nil: no stateless resets are sent.
	StatelessResetKey *[32]byte

	// EarlyData turns on 0-RTT. On a listening Transport it accepts
	// requests that a returning client sends in 0-RTT, and hands such a
	// session to Accept before its handshake completes, so that the first
	// reply leaves one round trip after the client started; sessions
	// without 0-RTT are still handed out only once their handshake has
	// completed. On a dialing Transport, Dial returns before the handshake
	// completes when it holds a resumption ticket from an earlier session
	// with the same server (through this Transport), and what is written
	// first travels in 0-RTT. If the server rejects it (a restarted server
	// no longer knows the ticket), the streams opened before the handshake
	// completed are opened again and their bytes sent again, so the
	// caller never sees the rejection.
	//
	// 0-RTT data can be replayed by whoever recorded it, so both sides
	// must only put there what is safe to repeat: ferry's requests are all
	// read-only. A server that authenticates clients by certificate should
	// leave it off, so that no request is served before the client's
	// certificate of this handshake has been checked. Default off.
	EarlyData bool

	// quic-go's RequireStreamCreditRelease is deliberately not offered: with
	// it, a stream's credit returns only when the application releases it
	// explicitly, and a caller that ends a stream with CloseWrite and a read
	// to EOF, without calling Close, would leak the peer's stream credit
	// until the session blocks. Credit returns as soon as both directions of
	// a stream have ended.
}

func (c Config) validate() error {
	var errs []error
	if c.HandshakeTimeout < 0 {
		errs = append(errs, fmt.Errorf("HandshakeTimeout %v is negative", c.HandshakeTimeout))
	}
	if c.MaxIdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("MaxIdleTimeout %v is negative", c.MaxIdleTimeout))
	}
	if c.MaxIncomingStreams < 0 {
		errs = append(errs, fmt.Errorf("MaxIncomingStreams %d is negative", c.MaxIncomingStreams))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("quic: invalid config: %w", err)
	}
	return nil
}

// quicConfig is the quic-go configuration for dialed sessions (dialer) or
// for accepted ones.
func (c Config) quicConfig(dialer bool) *quicgo.Config {
	qc := &quicgo.Config{
		HandshakeIdleTimeout:       orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout),
		MaxIdleTimeout:             orDefault(c.MaxIdleTimeout, DefaultMaxIdleTimeout),
		MaxStreamReceiveWindow:     orDefault(c.MaxStreamReceiveWindow, DefaultMaxStreamReceiveWindow),
		MaxConnectionReceiveWindow: orDefault(c.MaxConnectionReceiveWindow, DefaultMaxConnectionReceiveWindow),
		MaxIncomingStreams:         orDefault(c.MaxIncomingStreams, DefaultMaxIncomingStreams),
		// ferry uses bidirectional streams only; refusing the others
		// takes one way of spending the peer's resources off the table.
		MaxIncomingUniStreams: -1,
	}
	// A starting window above its maximum would make no sense.
	qc.InitialStreamReceiveWindow = min(quicgoInitialStreamWindow, qc.MaxStreamReceiveWindow)
	qc.InitialConnectionReceiveWindow = min(quicgoInitialConnectionWindow, qc.MaxConnectionReceiveWindow)
	qc.Allow0RTT = c.EarlyData && !dialer
	if dialer {
		// The listening side never opens streams, so a dialed session
		// grants it none: the direction rule holds on the wire too.
		qc.MaxIncomingStreams = -1
		if c.KeepAlivePeriod >= 0 {
			qc.KeepAlivePeriod = orDefault(c.KeepAlivePeriod, DefaultKeepAlivePeriod)
		}
	}
	return qc
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// handshakeTimeout is the longest a handshake may take: quic-go gives up
// after twice HandshakeIdleTimeout.
func (c Config) handshakeTimeout() time.Duration {
	return 2 * orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout)
}
