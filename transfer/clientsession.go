package transfer

import "github.com/ferryproject/ferry/transport"

// Session returns the transport session the Client runs on, for callers
// that want to know how it was set up (transport.HandshakeStater) or
// where it goes. Closing it closes the Client.
func (c *Client) Session() transport.Session { return c.sess }
