//! Native TLS (`ALERTLEDGER_TLS_CERT` and `ALERTLEDGER_TLS_KEY`, PEM) with
//! rustls on the aws-lc-rs provider, for senders whose clients speak only
//! https.
//!
//! - [`CertificateStore`] holds the certificate in use and answers rustls'
//!   certificate lookups; a watcher polls both files' modification times and
//!   swaps in the new pair when they change, so a renewed certificate (e.g.
//!   cert-manager or certbot rewriting the files) is served without a
//!   restart. A pair that does not load (half written, key not matching) is
//!   logged and the old one kept.
//! - [`TlsServer::acceptor`] is what the connection loop
//!   ([`super::server`]) runs each handshake with, in the connection's own
//!   task and within the handshake timeout, so a slow client never holds up
//!   the others.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Where the certificate and key are, and how often to look for new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain, the server's certificate first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// How often the files' modification times are checked.
    pub reload_interval: Duration,
}

/// Why a certificate pair could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read the TLS private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the TLS certificate {cert} and key {key} do not go together: {reason}")]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// The certificate in use; rustls asks it for every handshake.
pub struct CertificateStore {
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for CertificateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertificateStore")
    }
}

impl ResolvesServerCert for CertificateStore {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

impl CertificateStore {
    fn replace(&self, key: CertifiedKey) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(key);
    }
}

/// Loads and checks a certificate pair.
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| TlsError::Certificate {
            path: cert.to_owned(),
            reason: error.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.to_owned(),
            reason: "no CERTIFICATE block".to_owned(),
        });
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|error| TlsError::Key {
        path: key.to_owned(),
        reason: error.to_string(),
    })?;
    CertifiedKey::from_der(chain, private_key, &aws_lc_rs::default_provider()).map_err(|error| {
        TlsError::Pair {
            cert: cert.to_owned(),
            key: key.to_owned(),
            reason: error.to_string(),
        }
    })
}

/// The TLS side of a server: its acceptor and the watcher keeping its
/// certificate current (stopped when this is dropped).
pub struct TlsServer {
    acceptor: TlsAcceptor,
    watcher: JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

impl TlsServer {
    /// Loads the pair (an unusable one is an error at start) and starts
    /// watching the files.
    pub fn start(settings: &TlsSettings) -> Result<Self, TlsError> {
        let pair = load_pair(&settings.cert, &settings.key)?;
        let store = Arc::new(CertificateStore {
            current: RwLock::new(Arc::new(pair)),
        });
        let provider = Arc::new(aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Pair {
                cert: settings.cert.clone(),
                key: settings.key.clone(),
                reason: error.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(store.clone());
        // The API speaks HTTP/1.1 (axum's http1 feature).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let watcher = tokio::spawn(watch(settings.clone(), store));
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            watcher,
        })
    }

    /// The acceptor the connection loop ([`super::server`]) hands each TCP
    /// connection to; it serves the certificate in use at that moment.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}

/// Polls the files and swaps in a changed pair.
async fn watch(settings: TlsSettings, store: Arc<CertificateStore>) {
    let mut seen = modified(&settings);
    let mut ticks = tokio::time::interval(settings.reload_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = modified(&settings);
        if now == seen {
            continue;
        }
        // Remembered even when loading fails: the next write retries.
        seen = now;
        match load_pair(&settings.cert, &settings.key) {
            Ok(pair) => {
                store.replace(pair);
                tracing::info!(cert = %settings.cert.display(), "TLS certificate reloaded");
            }
            Err(error) => tracing::warn!(
                %error,
                "the changed TLS certificate files do not load; still serving the previous certificate"
            ),
        }
    }
}

fn modified(settings: &TlsSettings) -> (Option<SystemTime>, Option<SystemTime>) {
    let time = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    (time(&settings.cert), time(&settings.key))
}
