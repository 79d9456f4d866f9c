//! How long a connection may take over each phase of a request, and how many
//! connections are served at once (`ALERTLEDGER_HEADER_READ_TIMEOUT_SECS`,
//! `_BODY_READ_TIMEOUT_SECS`, `_IDLE_TIMEOUT_SECS`,
//! `_TLS_HANDSHAKE_TIMEOUT_SECS`, `_MAX_CONNECTIONS`; docs/configuration.md).

use std::time::Duration;

/// Timeouts and the connection cap of the API's listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From a request's first byte to its last header byte (slow-loris).
    pub header_read: Duration,
    /// From the end of the headers to the last byte of the request body.
    pub body_read: Duration,
    /// A keep-alive connection with no request in progress (and a new one
    /// that has sent nothing yet) is closed after this.
    pub idle: Duration,
    /// A TLS client must finish its handshake within this.
    pub tls_handshake: Duration,
    /// Connections served at once; further ones wait in the kernel's accept
    /// queue until one closes.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            tls_handshake: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}
