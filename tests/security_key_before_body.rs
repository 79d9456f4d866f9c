//! The webhook's API key is checked before its body is read (issue 16,
//! amplification): a caller without a valid key gets its 401 as soon as its
//! headers are in, without the server waiting for (or buffering) the body
//! it announced; only a valid key's delivery has its body read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::time::{Duration, Instant};

use support::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a prompt answer may take.
const PROMPT: Duration = Duration::from_secs(5);

/// Sends only the head of a webhook announcing `length` body bytes, then
/// waits up to `wait` for an answer; returns the status line (if any) and
/// how long it took.
async fn head_only(
    app: &TestApp,
    key_header: Option<&str>,
    length: usize,
    wait: Duration,
) -> (Option<String>, Duration) {
    let address = app.url("").trim_start_matches("http://").to_owned();
    let mut tcp = TcpStream::connect(&address).await.unwrap();
    let mut head = format!(
        "POST /api/v1/webhooks/generic HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n"
    );
    if let Some(header) = key_header {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let sent = Instant::now();
    let mut buffer = vec![0_u8; 4096];
    match tokio::time::timeout(wait, tcp.read(&mut buffer)).await {
        Ok(Ok(n)) if n > 0 => {
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let status = text.lines().next().unwrap_or_default().to_owned();
            (Some(status), sent.elapsed())
        }
        _ => (None, sent.elapsed()),
    }
}

#[tokio::test]
async fn a_missing_or_unknown_key_is_refused_before_the_body_is_read() {
    let app = TestApp::spawn_without_background().await;
    let tenant = app.create_tenant("acme").await;

    // 1,000,000 bytes is within the webhook's 1 MiB limit, so only the key
    // check can answer before the body; 10 MB is over it.
    for length in [1_000_000, 10_000_000] {
        for key in [
            None,
            Some("X-API-Key: alk_not-a-key"),
            Some("Authorization: Bearer alk_wrong"),
        ] {
            let (status, took) = head_only(&app, key, length, PROMPT).await;
            println!("{key:?}, Content-Length {length}: {status:?} after {took:?}");
            assert_eq!(
                status.as_deref(),
                Some("HTTP/1.1 401 Unauthorized"),
                "{key:?}, Content-Length {length}"
            );
        }
    }

    // A valid key's delivery is waited for: its body is read.
    let valid = format!("X-API-Key: {}", tenant.api_key);
    let (status, took) =
        head_only(&app, Some(&valid), 1_000_000, Duration::from_millis(1500)).await;
    assert_eq!(status, None, "answered before its body after {took:?}");
}
