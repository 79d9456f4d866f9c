//! Native TLS on the real binary: a webhook over https with a certificate
//! the test makes, then the certificate files replaced and the new
//! certificate served without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_api::auth::jwt::{TokenIssuer, TokenRequest, DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use alertledger_domain::values::Role;
use alertledger_schema::TestDatabase;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::{json, Value};
use support::process::ServiceProcess;
use support::{generic_alert, JWT_SECRET};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// A test certificate authority.
struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    /// A new key and certificate for `localhost`, written to `cert`/`key`;
    /// returns the certificate.
    fn issue_into(&self, cert: &Path, key: &Path) -> CertificateDer<'static> {
        let key_pair = KeyPair::generate().unwrap();
        let certificate = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key_pair, &self.issuer)
            .unwrap();
        // The key first: the pair matches once the certificate lands.
        std::fs::write(key, key_pair.serialize_pem()).unwrap();
        std::fs::write(cert, certificate.pem()).unwrap();
        certificate.der().clone()
    }

    fn connector(&self) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        // A resumed session reports the certificate of the session it
        // resumes: every connection here does a full handshake.
        config.resumption = Resumption::disabled();
        TlsConnector::from(Arc::new(config))
    }
}

/// One HTTP/1.1 request over TLS: the status, the body, and the certificate
/// the server presented.
async fn https(
    connector: &TlsConnector,
    address: &str,
    request: (&str, &str),
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Value, CertificateDer<'static>) {
    let (method, path) = request;
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let served = tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(body.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A server closing without close_notify is fine once the body is in.
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8(answer).unwrap();
    let status: u16 = answer[9..12].parse().unwrap();
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, body, served)
}

#[tokio::test]
async fn a_webhook_over_native_tls_and_a_certificate_renewed_in_place() {
    let db = TestDatabase::create().await;
    let dir = std::env::temp_dir().join(format!("alertledger-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let authority = Authority::new();
    let first = authority.issue_into(&cert, &key);

    let mut service = ServiceProcess::serve(
        db.url(),
        &[
            (
                "ALERTLEDGER_JWT_SECRET",
                std::str::from_utf8(JWT_SECRET).unwrap(),
            ),
            ("ALERTLEDGER_TLS_CERT", cert.to_str().unwrap()),
            ("ALERTLEDGER_TLS_KEY", key.to_str().unwrap()),
            ("ALERTLEDGER_TLS_RELOAD_SECS", "1"),
        ],
    );
    let connector = authority.connector();
    let token = TokenIssuer::hs256(JWT_SECRET, DEFAULT_ISSUER, DEFAULT_AUDIENCE)
        .unwrap()
        .issue(&TokenRequest {
            sub: "user-admin".into(),
            name: "Admin".into(),
            role: Role::MspAdmin,
            tenants: Vec::new(),
            ttl: Duration::from_secs(600),
        })
        .unwrap();
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];

    let (status, tenant, served) = https(
        &connector,
        &service.address,
        ("POST", "/api/v1/tenants"),
        &auth,
        Some(&json!({ "name": "Over TLS", "slug": "over-tls" })),
    )
    .await;
    assert_eq!(status, 201, "{tenant}");
    assert_eq!(served, first);
    let tenant_id = tenant["id"].as_str().unwrap();
    let (status, key_body, _) = https(
        &connector,
        &service.address,
        ("POST", &format!("/api/v1/tenants/{tenant_id}/api-keys")),
        &auth,
        None,
    )
    .await;
    assert_eq!(status, 201, "{key_body}");
    let api_key = key_body["api_key"].as_str().unwrap().to_owned();
    let webhook = [("X-API-Key", api_key.as_str())];
    let (status, accepted, _) = https(
        &connector,
        &service.address,
        ("POST", "/api/v1/webhooks/generic"),
        &webhook,
        Some(&generic_alert("web01")),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["accepted"], 1);

    // Renewal: new files in place; the running service picks them up.
    let second = authority.issue_into(&cert, &key);
    assert_ne!(first, second);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, served) =
            https(&connector, &service.address, ("GET", "/readyz"), &[], None).await;
        assert_eq!(status, 200);
        if served == second {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not served within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, accepted, served) = https(
        &connector,
        &service.address,
        ("POST", "/api/v1/webhooks/generic"),
        &webhook,
        Some(&generic_alert("web02")),
    )
    .await;
    assert_eq!((status, &served), (202, &second), "{accepted}");

    // Graceful shutdown works over TLS as over plain TCP.
    let (status, _) = service.terminate();
    assert!(status.success(), "{status:?}");
}
