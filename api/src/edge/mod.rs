//! What faces the network in front of the routes: which browser origins may
//! call the API (CORS), which peers may say who the client is
//! (`X-Forwarded-For` from trusted proxies), and native TLS with certificates
//! reloaded from disk.

pub mod client_ip;
pub mod cors;
pub mod tls;

pub use client_ip::{ClientIp, TrustedProxies};
pub use cors::CorsOrigins;
pub use tls::TlsSettings;

/// The edge's configuration; the default is plain HTTP, no CORS, no proxies.
#[derive(Debug, Clone, Default)]
pub struct EdgeSettings {
    /// Origins allowed to call the API from a browser (empty: CORS off).
    pub cors_origins: CorsOrigins,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Native TLS (`None`: plain HTTP, e.g. behind a TLS-terminating proxy).
    pub tls: Option<TlsSettings>,
}
