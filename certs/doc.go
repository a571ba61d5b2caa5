// Package certs holds everything ferry needs to decide whom it is talking to:
// a server's persistent identity, a small certificate authority for those who
// want one, fingerprints and pins, an SSH-style known hosts file, and the
// TLS 1.3 configurations that the TLS-over-TCP and QUIC transports share.
//
// # Trust
//
// A ferry server has an identity: an ECDSA P-256 key and a self-signed
// certificate, created once by [LoadOrCreateIdentity] and then reused. Its
// [Fingerprint] is the SHA-256 of the certificate's SubjectPublicKeyInfo, so
// it names the key, not the certificate, and survives a re-issued
// certificate. A client trusts a server in exactly one of three ways
// ([ClientOptions]):
//
//   - a pin: the fingerprint the user was given out of band;
//   - trust on first use: the fingerprint recorded in a [KnownHosts] file on
//     first contact, and required to stay the same afterwards, like SSH;
//   - a CA: the server presents a certificate for its name issued by a CA the
//     client holds ([CreateCA], [CA.IssueServer]); system roots are never
//     consulted.
//
// A client that names none of these gets an error, never an unverified
// connection. A server may in turn require client certificates from its CA
// (mutual TLS, [ServerOptions.ClientCAs]).
//
// Pins and known hosts are checked in [tls.Config.VerifyConnection], which
// crypto/tls runs on every handshake, resumed ones included; a changed
// identity fails with a [*MismatchError] that callers reach with errors.As
// through what tls.Dial or quic-go return.
//
// # Files
//
// Private keys are PKCS#8 PEM files with mode 0600, created with O_EXCL and
// never overwritten; a key file that other users can read is refused with
// a [*KeyPermissionError]. Certificates are PEM files with mode 0644.
// docs/trust.md describes the formats and the trust model for users.
package certs
