//! What faces the network in front of the routes: which browser origins may
//! call the API (CORS), which peers may say who the client is
//! (`X-Forwarded-For` from trusted proxies), native TLS with certificates
//! reloaded from disk, the connection loop with its timeouts and connection
//! cap, and the per-address limit on failed authentications.

pub mod activity;
pub mod auth_failures;
pub mod body_deadline;
pub mod client_ip;
pub mod cors;
pub mod limits;
pub mod server;
pub mod tls;

pub use auth_failures::{AuthFailureLimit, AuthFailureLimiter};
pub use client_ip::{ClientIp, TrustedProxies};
pub use cors::CorsOrigins;
pub use limits::ConnectionLimits;
pub use tls::TlsSettings;

/// The edge's configuration; the default is plain HTTP, no CORS, no proxies,
/// and the documented default timeouts and limits.
#[derive(Debug, Clone, Default)]
pub struct EdgeSettings {
    /// Origins allowed to call the API from a browser (empty: CORS off).
    pub cors_origins: CorsOrigins,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Native TLS (`None`: plain HTTP, e.g. behind a TLS-terminating proxy).
    pub tls: Option<TlsSettings>,
    /// Timeouts and the connection cap.
    pub connections: ConnectionLimits,
    /// Failed authentications allowed per client address.
    pub auth_failures: AuthFailureLimit,
}
