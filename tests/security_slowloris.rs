//! Slow clients cannot hold the server (issue 16, amplification): on the real
//! binary with short timeouts, a client sending its headers byte by byte is
//! cut off by the header-read timeout, a stalled body by the body-read
//! timeout, a silent connection by the idle timeout, a silent TLS client by
//! the handshake timeout; the live feed outlives them all; and beyond the
//! connection cap new connections wait until one closes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_api::auth::jwt::{TokenIssuer, TokenRequest, DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use alertledger_domain::values::Role;
use alertledger_schema::TestDatabase;
use rcgen::{CertificateParams, KeyPair};
use support::process::ServiceProcess;
use support::JWT_SECRET;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// The timeouts the services here run with (seconds).
const HEADER_READ: u64 = 1;
const BODY_READ: u64 = 1;
const IDLE: u64 = 3;
const HANDSHAKE: u64 = 1;
/// How much later than its timeout a close may come (scheduling, a loaded
/// test machine).
const MARGIN: Duration = Duration::from_millis(1500);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn admin_token() -> String {
    TokenIssuer::hs256(JWT_SECRET, DEFAULT_ISSUER, DEFAULT_AUDIENCE)
        .unwrap()
        .issue(&TokenRequest {
            sub: "user-admin".into(),
            name: "Admin".into(),
            role: Role::MspAdmin,
            tenants: Vec::new(),
            ttl: Duration::from_secs(600),
        })
        .unwrap()
}

fn service(db: &TestDatabase, extra: &[(&str, &str)]) -> ServiceProcess {
    let header = HEADER_READ.to_string();
    let body = BODY_READ.to_string();
    let idle = IDLE.to_string();
    let handshake = HANDSHAKE.to_string();
    let mut env = vec![
        (
            "ALERTLEDGER_JWT_SECRET",
            std::str::from_utf8(JWT_SECRET).unwrap(),
        ),
        ("ALERTLEDGER_HEADER_READ_TIMEOUT_SECS", header.as_str()),
        ("ALERTLEDGER_BODY_READ_TIMEOUT_SECS", body.as_str()),
        ("ALERTLEDGER_IDLE_TIMEOUT_SECS", idle.as_str()),
        ("ALERTLEDGER_TLS_HANDSHAKE_TIMEOUT_SECS", handshake.as_str()),
        ("ALERTLEDGER_FEED_HEARTBEAT_SECS", "1"),
    ];
    env.extend_from_slice(extra);
    ServiceProcess::serve(db.url(), &env)
}

/// Waits until the server closes `stream` (EOF or a reset), for at most
/// `deadline`; returns when it did, or `None`. Anything the server sends
/// before closing is returned too.
async fn closed_within<S: AsyncRead + Unpin>(
    stream: &mut S,
    deadline: Duration,
) -> (Option<Instant>, Vec<u8>) {
    let until = tokio::time::Instant::now() + deadline;
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut buffer)).await {
            Err(_) => return (None, received),
            Ok(Ok(0)) | Ok(Err(_)) => return (Some(Instant::now()), received),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Sends `head` one byte every `pause` until the server closes the
/// connection (or the head is all sent); returns when it closed, measured
/// from the first byte.
async fn drip<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    head: &[u8],
    pause: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() || stream.flush().await.is_err() {
            return Some(started.elapsed());
        }
        // Reading for `pause` both paces the bytes and notices a close.
        let mut buffer = [0_u8; 1024];
        match tokio::time::timeout(pause, stream.read(&mut buffer)).await {
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(n)) => panic!(
                "the server answered a partial head: {}",
                String::from_utf8_lossy(&buffer[..n])
            ),
        }
    }
    None
}

/// A head far longer than the header-read timeout at one byte per 100 ms.
fn slow_head() -> Vec<u8> {
    format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(200)
    )
    .into_bytes()
}

/// Sends a keep-alive `GET /healthz` and reads its whole response.
async fn healthz<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    read_response(stream).await
}

/// One response with a `Content-Length` body.
async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

fn assert_timed(what: &str, elapsed: Duration, timeout: Duration) {
    println!("{what}: closed after {elapsed:?} (timeout {timeout:?})");
    // Never before the timeout (less a little: the clocks start at slightly
    // different moments), never much after it.
    assert!(
        elapsed + Duration::from_millis(200) >= timeout,
        "{what}: closed after {elapsed:?}, before the {timeout:?} timeout"
    );
    assert!(
        elapsed <= timeout + MARGIN,
        "{what}: closed after {elapsed:?}, timeout {timeout:?}"
    );
}

#[tokio::test]
async fn slow_headers_stalled_bodies_and_idle_connections_are_closed_but_the_feed_lives() {
    let db = TestDatabase::create().await;
    let service = service(&db, &[]);

    // A head sent byte by byte, slower in total than the header timeout.
    let mut slow = TcpStream::connect(&service.address).await.unwrap();
    let closed = drip(&mut slow, &slow_head(), Duration::from_millis(100))
        .await
        .expect("the slow-loris connection was never closed");
    assert_timed("slow-loris head", closed, secs(HEADER_READ));

    // Byte by byte but within the timeout as a whole: served.
    let mut quick = TcpStream::connect(&service.address).await.unwrap();
    let head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let started = Instant::now();
    for byte in head {
        quick.write_all(&[*byte]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answer = read_response(&mut quick).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(started.elapsed() < secs(HEADER_READ));

    // Kept alive after a response, then silent: closed after the idle
    // timeout (the header timeout does not apply to waiting).
    let answer = healthz(&mut quick).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let responded = Instant::now();
    let (closed, _) = closed_within(&mut quick, secs(IDLE) + MARGIN * 2).await;
    let closed = closed.expect("the idle keep-alive connection was never closed");
    assert_timed("idle keep-alive", closed - responded, secs(IDLE));

    // A new connection that never sends anything: the idle timeout too.
    let mut silent = TcpStream::connect(&service.address).await.unwrap();
    let connected = Instant::now();
    let (closed, _) = closed_within(&mut silent, secs(IDLE) + MARGIN * 2).await;
    assert_timed(
        "silent connection",
        closed.expect("never closed") - connected,
        secs(IDLE),
    );

    // A body that stops arriving: refused and closed after the body timeout.
    let mut stalled = TcpStream::connect(&service.address).await.unwrap();
    let token = admin_token();
    let head = format!(
        "POST /api/v1/tenants HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let sent = Instant::now();
    let (closed, answer) = closed_within(&mut stalled, secs(BODY_READ) + MARGIN * 2).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert_timed(
        "stalled body",
        closed.expect("the stalled body's connection was never closed") - sent,
        secs(BODY_READ),
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("did not arrive within"), "{answer}");

    // The live feed outlives the idle and body timeouts: heartbeats keep
    // coming well past them.
    let mut feed = TcpStream::connect(&service.address).await.unwrap();
    feed.write_all(
        format!(
            "GET /api/v1/stream HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let opened = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    while opened.elapsed() < secs(IDLE) + MARGIN * 2 {
        let n = tokio::time::timeout(secs(5), feed.read(&mut buffer))
            .await
            .expect("the feed went silent")
            .unwrap();
        assert!(
            n > 0,
            "the feed was closed after {:?}: {}",
            opened.elapsed(),
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buffer[..n]);
    }
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    println!("the feed was still open after {:?}", opened.elapsed());
}

#[tokio::test]
async fn beyond_the_connection_cap_a_connection_waits_until_one_closes() {
    let db = TestDatabase::create().await;
    let service = service(
        &db,
        &[
            ("ALERTLEDGER_MAX_CONNECTIONS", "2"),
            // Long enough that the held connections stay for the test.
            ("ALERTLEDGER_IDLE_TIMEOUT_SECS", "60"),
        ],
    );
    // Two connections served and kept alive, idle: the cap is reached.
    let mut first = TcpStream::connect(&service.address).await.unwrap();
    let mut second = TcpStream::connect(&service.address).await.unwrap();
    assert!(healthz(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(healthz(&mut second).await.starts_with("HTTP/1.1 200"));

    // A third connects (the kernel queues it) but is not served.
    let mut third = TcpStream::connect(&service.address).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0_u8; 64];
    let held = tokio::time::timeout(Duration::from_millis(1500), third.read(&mut buffer)).await;
    assert!(held.is_err(), "the third connection was served: {held:?}");

    // One of the two closes: the third is served.
    drop(first);
    let released = Instant::now();
    let answer = tokio::time::timeout(secs(10), read_response(&mut third))
        .await
        .expect("the waiting connection was never served");
    println!(
        "the waiting connection was served {:?} after one closed",
        released.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The one still open is still served.
    assert!(healthz(&mut second).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn over_native_tls_a_silent_handshake_and_a_slow_head_are_cut_off() {
    let db = TestDatabase::create().await;
    let dir = std::env::temp_dir().join(format!("alertledger-slowloris-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::write(&cert_path, cert.pem()).unwrap();
    let service = service(
        &db,
        &[
            ("ALERTLEDGER_TLS_CERT", cert_path.to_str().unwrap()),
            ("ALERTLEDGER_TLS_KEY", key_path.to_str().unwrap()),
        ],
    );

    // Connected, but no ClientHello: closed after the handshake timeout.
    let mut silent = TcpStream::connect(&service.address).await.unwrap();
    let connected = Instant::now();
    let (closed, _) = closed_within(&mut silent, secs(HANDSHAKE) + MARGIN * 2).await;
    assert_timed(
        "silent TLS client",
        closed.expect("never closed") - connected,
        secs(HANDSHAKE),
    );

    // Handshaken, then a head byte by byte: the header timeout.
    let mut roots = RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(&service.address).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let closed = drip(&mut tls, &slow_head(), Duration::from_millis(100))
        .await
        .expect("the slow-loris TLS connection was never closed");
    assert_timed("slow-loris head over TLS", closed, secs(HEADER_READ));

    // A prompt client is served.
    let tcp = TcpStream::connect(&service.address).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert!(healthz(&mut tls).await.starts_with("HTTP/1.1 200"));
    std::fs::remove_dir_all(&dir).unwrap();
}
