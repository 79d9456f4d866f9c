//! Issue 16, amplification: one token (one user) or one tenant cannot hold
//! an unbounded number of live streams open, and a stream resuming over a
//! large backlog holds history bounded by bytes, not only by event count.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use alertledger_api::feed::{FeedSettings, StreamLimits};
use alertledger_domain::values::Role;
use alertledger_eventstore::log::{LogCursor, LogFilter, LogReader};
use futures_util::StreamExt;
use support::feed::{name_of, SseClient, SseItem};
use support::{generic_alert, TestApp};

const DEADLINE: Duration = Duration::from_secs(20);

fn stream_url(app: &TestApp, token: &str) -> String {
    app.url(&format!("/api/v1/stream?token={token}"))
}

/// The value of the `/metrics` sample `alertledger_<name>` (counters end in
/// `_total`).
async fn metric(app: &TestApp, name: &str) -> f64 {
    let body = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|line| {
            let (sample, value) = line.split_once(' ')?;
            let sample = sample.strip_prefix("alertledger_")?;
            (sample == name || sample == format!("{name}_total")).then(|| value.parse().unwrap())
        })
        .unwrap_or_else(|| panic!("/metrics has no {name}:\n{body}"))
}

/// Asserts a 429 with API.md's error body, `Retry-After`, and the cap named.
async fn assert_refused(response: reqwest::Response, per: &str) {
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams", "{body}");
    assert_eq!(body["error"]["details"]["per"], per, "{body}");
    assert_eq!(body["error"]["details"]["retry_after_seconds"], retry_after);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("live streams"));
}

#[tokio::test]
async fn the_stream_beyond_a_cap_is_429_and_closing_one_frees_its_slot() {
    let app = TestApp::spawn_with_feed(FeedSettings {
        streams: StreamLimits {
            per_user: 2,
            per_tenant: 3,
        },
        // A client that went away is noticed at the next write.
        heartbeat: Duration::from_millis(50),
        ..FeedSettings::default()
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    let alice = app.token_for("alice", Role::Viewer, &[tenant.id]);
    let bob = app.token_for("bob", Role::Viewer, &[tenant.id]);
    let carol = app.token_for("carol", Role::Viewer, &[tenant.id]);

    // Alice's two streams, one SSE and one WebSocket.
    let first = SseClient::connect(&stream_url(&app, &alice), &[]).await;
    let ws_url = format!(
        "{}/ws?token={alice}",
        app.address.replace("http://", "ws://")
    );
    let (socket, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();

    // A third is refused, over SSE and over WebSocket alike.
    assert_refused(
        SseClient::open(&stream_url(&app, &alice), &[]).await,
        "user",
    )
    .await;
    match tokio_tungstenite::connect_async(&ws_url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("a third stream of alice upgraded: {:?}", other.map(|_| ())),
    }

    // The tenant's third stream is Bob's; Carol's would be its fourth.
    let _bobs = SseClient::connect(&stream_url(&app, &bob), &[]).await;
    assert_refused(
        SseClient::open(&stream_url(&app, &carol), &[]).await,
        "tenant",
    )
    .await;

    assert_eq!(metric(&app, "feed_streams_open").await, 3.0);
    assert_eq!(metric(&app, "feed_streams_refused").await, 3.0);

    // Alice closes her SSE stream: the server frees its slot (and the
    // tenant's) once it notices, and her next stream is served.
    drop(first);
    let deadline = Instant::now() + DEADLINE;
    while metric(&app, "feed_streams_open").await > 2.0 {
        assert!(
            Instant::now() < deadline,
            "the closed stream's slot was never freed"
        );
        tokio::task::yield_now().await;
    }
    let mut again = SseClient::connect(&stream_url(&app, &alice), &[]).await;
    assert!(matches!(
        again.next_within(DEADLINE).await,
        Some(SseItem::Retry(_))
    ));

    // Closing the WebSocket frees its slot too: Carol now gets the tenant's.
    drop(socket);
    let deadline = Instant::now() + DEADLINE;
    while metric(&app, "feed_streams_open").await > 2.0 {
        assert!(
            Instant::now() < deadline,
            "the closed socket's slot was never freed"
        );
        tokio::task::yield_now().await;
    }
    let _carols = SseClient::connect(&stream_url(&app, &carol), &[]).await;
}

#[tokio::test]
async fn a_resume_over_a_large_backlog_reads_history_within_the_byte_bound() {
    const BUDGET: usize = 16 * 1024;
    const ALERTS: usize = 120;
    let app = TestApp::spawn_with_feed(FeedSettings {
        history_bytes: BUDGET,
        // The count bound alone would read the whole backlog at once.
        history_batch: 5_000,
        ..FeedSettings::default()
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    app.lift_rate_limit(&tenant).await;
    // Events of about 2.5 KiB each: ~300 KiB of backlog, ~20 times the bound.
    let padding = "x".repeat(2_000);
    for n in 0..ALERTS {
        let mut alert = generic_alert(&format!("srv-{n}"));
        alert["message"] = serde_json::json!(format!("{n} {padding}"));
        let response = app.post_alert(&tenant, &alert).await;
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    }

    // The reader the resuming stream uses: every batch within the budget
    // (or a single event), and together exactly what an unbounded read gives.
    let reader = LogReader::new(app.db.pool().clone());
    let filter = LogFilter {
        tenants: Some(vec![*tenant.id.as_uuid()]),
        event_types: Some(vec!["AlertReceived".to_owned()]),
    };
    let deadline = Instant::now() + DEADLINE;
    let everything = loop {
        let all: Vec<i64> = reader
            .scan(LogCursor::START, 5_000, filter.clone())
            .map(|batch| batch.unwrap())
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .map(|event| event.position)
            .collect();
        if all.len() == ALERTS {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "the alerts never became readable"
        );
        tokio::task::yield_now().await;
    };
    let batches: Vec<_> = reader
        .scan_bounded(LogCursor::START, 5_000, BUDGET, filter)
        .map(|batch| batch.unwrap())
        .collect()
        .await;
    assert!(batches.len() >= 10, "{} batches", batches.len());
    for batch in &batches {
        let bytes: usize = batch
            .iter()
            .map(|event| event.payload.get().len() + event.metadata.get().len())
            .sum();
        assert!(
            bytes <= BUDGET || batch.len() == 1,
            "a batch of {} events holds {bytes} bytes",
            batch.len()
        );
    }
    let bounded: Vec<i64> = batches.into_iter().flatten().map(|e| e.position).collect();
    assert_eq!(bounded, everything, "nothing lost or repeated at the cuts");

    // End to end: a stream resuming from the start gets every alert once, in
    // order, although the server reads them ~16 KiB at a time.
    let token = app.token(Role::Viewer, &[tenant.id]);
    let mut stream = SseClient::connect(
        &app.url(&format!(
            "/api/v1/stream?token={token}&after=0&types=AlertReceived"
        )),
        &[],
    )
    .await;
    let mut seen = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while seen.len() < ALERTS {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("the resumed stream stalled");
        let event = stream.next_event(left).await.expect("the stream ended");
        assert_eq!(name_of(&event), "AlertReceived");
        seen.push(support::feed::id_of(&event));
    }
    assert_eq!(seen, everything);
}
