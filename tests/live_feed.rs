//! The live feed end to end over real sockets: `GET /api/v1/stream` (SSE)
//! and `GET /ws` (WebSocket) against the real router, projectors and workers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use alertledger_api::feed::FeedSettings;
use alertledger_domain::execution::{Execution, ExecutionCommand, ExecutionEvent};
use alertledger_domain::values::{
    Actor, ExecutionId, IncidentId, InstanceId, Role, RunbookId, UserId,
};
use alertledger_domain::DomainServices;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use serde_json::{json, Value};
use support::feed::{id_of, name_of, ws_connect, ws_next, ws_send, ws_until, SseClient, SseItem};
use support::{generic_alert, TestApp, TestTenant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEADLINE: Duration = Duration::from_secs(20);

fn stream_url(app: &TestApp, query: &str) -> String {
    app.url(&format!("/api/v1/stream{query}"))
}

fn ws_url(app: &TestApp, query: &str) -> String {
    format!("{}/ws{query}", app.address.replace("http://", "ws://"))
}

fn is_alert_of(item: &SseItem, asset: &str) -> bool {
    name_of(item) == "AlertReceived" && item.json()["payload"]["AlertReceived"]["asset"] == asset
}

async fn post(app: &TestApp, tenant: &TestTenant, body: Value) -> Value {
    let response = app.post_alert(tenant, &body).await;
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

/// The positions of `tenant`'s `AlertReceived` events after `after`, in log
/// order, once `count` of them are readable.
async fn logged_receipts(app: &TestApp, token: &str, after: i64, count: usize) -> Vec<i64> {
    let body = app
        .get_until(
            &format!("/api/v1/events?after={after}&types=AlertReceived&limit=500"),
            token,
            |body| body["items"].as_array().unwrap().len() >= count,
        )
        .await;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn an_sse_client_receives_a_new_alert_within_the_deadline() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let token = app.token(Role::Viewer, &[tenant.id]);
    let mut stream = SseClient::connect(
        &stream_url(&app, ""),
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(
        stream.next_within(DEADLINE).await,
        Some(SseItem::Retry(2_000)),
        "the stream opens with its retry hint"
    );

    post(&app, &tenant, generic_alert("web01")).await;
    let seen = stream
        .events_until(DEADLINE, |e| is_alert_of(e, "web01"))
        .await;
    let alert = seen.last().unwrap();
    let data = alert.json();
    assert_eq!(data["tenant_id"], tenant.id.to_string());
    assert_eq!(data["event_type"], "AlertReceived");
    assert_eq!(data["position"].as_i64().unwrap(), id_of(alert));
}

#[tokio::test]
async fn the_stream_accepts_a_token_in_the_query_and_refuses_a_missing_or_bad_one() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let token = app.token(Role::Viewer, &[tenant.id]);

    let missing = SseClient::open(&stream_url(&app, ""), &[]).await;
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let bad = SseClient::open(&stream_url(&app, "?token=not-a-jwt"), &[]).await;
    assert_eq!(bad.status(), 401);

    let mut stream = SseClient::connect(&stream_url(&app, &format!("?token={token}")), &[]).await;
    post(&app, &tenant, generic_alert("web02")).await;
    stream
        .events_until(DEADLINE, |e| is_alert_of(e, "web02"))
        .await;
}

#[tokio::test]
async fn resuming_after_a_disconnect_delivers_exactly_the_missed_events_in_order_once() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let token = app.token(Role::Viewer, &[tenant.id]);
    let auth = format!("Bearer {token}");
    let url = stream_url(&app, "?types=AlertReceived");

    let mut first = SseClient::connect(&url, &[("Authorization", &auth)]).await;
    post(&app, &tenant, generic_alert("before")).await;
    let seen = first
        .events_until(DEADLINE, |e| is_alert_of(e, "before"))
        .await;
    let last_seen = id_of(seen.last().unwrap());
    drop(first);

    // Missed while disconnected.
    for n in 0..5 {
        post(&app, &tenant, generic_alert(&format!("missed-{n}"))).await;
    }
    let missed = logged_receipts(&app, &token, last_seen, 5).await;
    assert_eq!(missed.len(), 5);

    let last_event_id = last_seen.to_string();
    let mut resumed = SseClient::connect(
        &url,
        &[("Authorization", &auth), ("Last-Event-ID", &last_event_id)],
    )
    .await;
    post(&app, &tenant, generic_alert("after")).await;
    let replayed = resumed
        .events_until(DEADLINE, |e| is_alert_of(e, "after"))
        .await;
    let ids: Vec<i64> = replayed.iter().map(id_of).collect();
    assert_eq!(&ids[..5], &missed[..], "the missed events, in log order");
    assert_eq!(ids.len(), 6, "then the live one, nothing else: {ids:?}");
    assert!(
        !ids.contains(&last_seen),
        "nothing already seen is repeated"
    );

    // `?after=` works the same for clients that cannot set headers.
    let mut by_query = SseClient::connect(
        &stream_url(&app, &format!("?types=new_alert&after={last_seen}")),
        &[("Authorization", &auth)],
    )
    .await;
    let again = by_query
        .events_until(DEADLINE, |e| is_alert_of(e, "after"))
        .await;
    assert_eq!(again.iter().map(id_of).collect::<Vec<_>>(), ids);
}

#[tokio::test]
async fn an_unknown_foreign_or_malformed_resume_position_is_a_clear_error() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant("tenant-a").await;
    let b = app.create_tenant("tenant-b").await;
    let receipt = post(&app, &a, generic_alert("a-only")).await;
    let a_position = receipt["alerts"][0]["position"].as_i64().unwrap();
    let b_token = app.token(Role::Viewer, &[b.id]);
    let auth = format!("Bearer {b_token}");

    let foreign = SseClient::open(
        &stream_url(&app, ""),
        &[
            ("Authorization", &auth),
            ("Last-Event-ID", &a_position.to_string()),
        ],
    )
    .await;
    assert_eq!(
        foreign.status(),
        404,
        "another tenant's position is not revealed"
    );
    let body: Value = foreign.json().await.unwrap();
    assert_eq!(body["error"]["code"], "position_not_found");

    let unknown = SseClient::open(
        &stream_url(&app, ""),
        &[("Authorization", &auth), ("Last-Event-ID", "999999999")],
    )
    .await;
    assert_eq!(unknown.status(), 404);

    let malformed = SseClient::open(
        &stream_url(&app, ""),
        &[("Authorization", &auth), ("Last-Event-ID", "yesterday")],
    )
    .await;
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_last_event_id");
}

#[tokio::test]
async fn tenant_b_never_receives_tenant_a_events_on_either_feed() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant("tenant-a").await;
    let b = app.create_tenant("tenant-b").await;
    let b_token = app.token(Role::TenantAdmin, &[b.id]);
    let mut sse = SseClient::connect(
        &stream_url(&app, ""),
        &[("Authorization", &format!("Bearer {b_token}"))],
    )
    .await;
    let mut ws = ws_connect(&ws_url(&app, &format!("?token={b_token}"))).await;
    let initial = ws_next(&mut ws, DEADLINE).await.unwrap();
    assert_eq!(initial["type"], "initial_data");

    for n in 0..5 {
        post(&app, &a, generic_alert(&format!("a-{n}"))).await;
    }
    post(&app, &b, generic_alert("b-marker")).await;

    let sse_seen = sse
        .events_until(DEADLINE, |e| is_alert_of(e, "b-marker"))
        .await;
    for event in &sse_seen {
        assert_eq!(event.json()["tenant_id"], b.id.to_string(), "{event:?}");
    }
    let ws_seen = ws_until(&mut ws, DEADLINE, |m| {
        m["type"] == "new_alert" && m["data"]["payload"]["AlertReceived"]["asset"] == "b-marker"
    })
    .await;
    for message in &ws_seen {
        assert_eq!(message["data"]["tenant_id"], b.id.to_string(), "{message}");
    }
}

#[tokio::test]
async fn idle_streams_carry_heartbeats() {
    let app = TestApp::spawn_with_feed(FeedSettings {
        heartbeat: Duration::from_millis(200),
        ..FeedSettings::default()
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    let token = app.token(Role::Viewer, &[tenant.id]);
    let mut sse = SseClient::connect(&stream_url(&app, &format!("?token={token}")), &[]).await;
    let mut heartbeat = false;
    while let Some(item) = sse.next_within(Duration::from_secs(5)).await {
        if item == SseItem::Comment("heartbeat".to_owned()) {
            heartbeat = true;
            break;
        }
    }
    assert!(heartbeat, "an SSE heartbeat comment arrived");

    let mut ws = ws_connect(&ws_url(&app, &format!("?token={token}"))).await;
    assert_eq!(
        ws_next(&mut ws, DEADLINE).await.unwrap()["type"],
        "initial_data"
    );
    let mut pinged = false;
    while let Ok(message) = ws_next(&mut ws, Duration::from_secs(5)).await {
        if message["type"] == "ping" {
            pinged = true;
            break;
        }
    }
    assert!(pinged, "the server pings an idle socket");
}

/// A deliberately slow client: it sends its request on a socket with a small
/// receive buffer, then reads nothing until `go`, and then reads to the end.
async fn stalled_reader(
    address: &str,
    path: &str,
    go: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<String> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4_096).unwrap();
    let mut stream = socket
        .connect(address.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = go.await;
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received).await;
        String::from_utf8_lossy(&received).into_owned()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_told_to_resync_while_a_fast_one_keeps_up() {
    let app = TestApp::spawn_with_feed(FeedSettings {
        buffer_batches: 16,
        // Batches of at most 100 events: the 18,000 events below make at
        // least 180 of them, far more than the 16 buffered, however the
        // tailer's reads fall (under load they fill up to this bound).
        tail_batch: 100,
        ..FeedSettings::default()
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    app.lift_rate_limit(&tenant).await;
    let token = app.token(Role::Viewer, &[tenant.id]);
    let path = format!("/api/v1/stream?token={token}");
    let mut fast = SseClient::connect(&app.url(&path), &[]).await;
    let (go, stalled) = tokio::sync::oneshot::channel();
    let slow = stalled_reader(&app.address, &path, stalled).await;

    // More than the socket buffers of the stalled client hold (a few MB on
    // loopback), so that it falls behind the feed's buffer.
    const BATCHES: usize = 60;
    const PER_BATCH: usize = 100;
    // The fast client reports how far it has read, and each request waits
    // for it to have read the previous one: "fast" then means keeping up with
    // the feed, not winning a race for two cores against the posting loop.
    let (progress, mut read_so_far) = tokio::sync::watch::channel(0);
    let fast_reader = tokio::spawn(async move {
        let mut received = HashSet::new();
        while received.len() < BATCHES * PER_BATCH {
            let event = fast
                .next_event(DEADLINE)
                .await
                .unwrap_or_else(|| panic!("the fast client stalled at {}", received.len()));
            assert_ne!(name_of(&event), "resync", "the fast client keeps up");
            if name_of(&event) == "AlertReceived" {
                let asset = event.json()["payload"]["AlertReceived"]["asset"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                assert!(
                    received.insert(asset),
                    "no duplicate reaches the fast client"
                );
                progress.send_replace(received.len());
            }
        }
        received
    });
    let mut expected = HashSet::new();
    for batch in 0..BATCHES {
        wait_until_read(&mut read_so_far, batch * PER_BATCH).await;
        let alerts: Vec<Value> = (0..PER_BATCH)
            .map(|n| {
                let asset = format!("host-{batch}-{n}");
                expected.insert(asset.clone());
                generic_alert(&asset)
            })
            .collect();
        post(&app, &tenant, Value::Array(alerts)).await;
    }
    assert_eq!(fast_reader.await.unwrap(), expected);
    go.send(()).unwrap();

    let slow_output = tokio::time::timeout(Duration::from_secs(120), slow)
        .await
        .expect("the slow client was never dropped")
        .unwrap();
    // The raw bytes include HTTP chunk framing; the event itself is one line.
    let marker = "event: resync\ndata: ";
    let resync = slow_output
        .find(marker)
        .map(|at| &slow_output[at + marker.len()..])
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| {
            panic!(
                "the slow client was not told to resync; it got {} bytes",
                slow_output.len()
            )
        });
    let data: Value = serde_json::from_str(resync).unwrap();
    let last_event_id: i64 = data["last_event_id"].as_str().unwrap().parse().unwrap();
    assert!(
        slow_output.contains(&format!("id: {last_event_id}\n")),
        "the resync names the last id the slow client was sent"
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resyncs: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("alertledger_feed_resyncs_total "))
        .expect("the resync counter is exported")
        .parse()
        .unwrap();
    assert!(resyncs >= 1, "{metrics}");
}

#[tokio::test]
async fn events_committed_while_subscribers_switch_from_history_to_live_are_neither_lost_nor_doubled(
) {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let token = app.token(Role::Viewer, &[tenant.id]);
    let start = post(&app, &tenant, generic_alert("start")).await["alerts"][0]["position"]
        .as_i64()
        .unwrap();
    let app = std::sync::Arc::new(app);

    const WRITERS: usize = 4;
    const PER_WRITER: usize = 40;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let app = app.clone();
            let api_key = tenant.api_key.clone();
            tokio::spawn(async move {
                for n in 0..PER_WRITER {
                    let response = app
                        .client
                        .post(app.url("/api/v1/webhooks/generic"))
                        .header("X-API-Key", &api_key)
                        .json(&generic_alert(&format!("w{w}-{n}")))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 202);
                }
            })
        })
        .collect();

    // Subscribers resume from the same early position at staggered moments,
    // so their switch from history to live falls amid the writes.
    let mut subscribers = Vec::new();
    for _ in 0..6 {
        let url = stream_url(
            &app,
            &format!("?types=AlertReceived&after={start}&token={token}"),
        );
        subscribers.push(tokio::spawn(async move {
            let mut stream = SseClient::connect(&url, &[]).await;
            let mut ids = Vec::new();
            while ids.len() < WRITERS * PER_WRITER {
                let event = stream
                    .next_event(DEADLINE)
                    .await
                    .unwrap_or_else(|| panic!("stalled after {} events", ids.len()));
                ids.push(id_of(&event));
            }
            // Nothing more may follow: a duplicate would arrive here.
            assert!(
                stream
                    .next_event(Duration::from_millis(500))
                    .await
                    .is_none(),
                "an extra event followed the expected ones"
            );
            ids
        }));
        tokio::task::yield_now().await;
        let _ = app.client.get(app.url("/healthz")).send().await.unwrap();
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let logged = logged_receipts(&app, &token, start, WRITERS * PER_WRITER).await;
    for subscriber in subscribers {
        let ids = subscriber.await.unwrap();
        assert_eq!(
            ids, logged,
            "every subscriber saw the log exactly, in log order"
        );
    }
}

#[tokio::test]
async fn a_websocket_client_gets_initial_data_then_typed_messages() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    post(&app, &tenant, generic_alert("already-open")).await;
    let token = app.token(Role::Technician, &[tenant.id]);
    app.get_until("/api/v1/incidents", &token, |body| {
        body["items"].as_array().unwrap().len() == 1
    })
    .await;

    let mut ws = ws_connect(&ws_url(&app, &format!("?token={token}"))).await;
    let initial = ws_next(&mut ws, DEADLINE).await.unwrap();
    assert_eq!(initial["type"], "initial_data");
    assert_eq!(initial["data"]["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(initial["data"]["incidents"][0]["asset"], "already-open");
    assert!(initial["data"]["kpis"]["alerts"].is_i64());
    assert!(initial["at"].is_string());

    ws_send(&mut ws, json!({"type": "ping"})).await;
    let pong = ws_until(&mut ws, DEADLINE, |m| m["type"] == "pong").await;
    assert_eq!(pong.last().unwrap()["type"], "pong");

    post(&app, &tenant, generic_alert("db01")).await;
    let seen = ws_until(&mut ws, DEADLINE, |m| {
        m["type"] == "incident_created" && m["data"]["payload"]["IncidentOpened"]["asset"] == "db01"
    })
    .await;
    let alert = seen
        .iter()
        .find(|m| m["type"] == "new_alert")
        .expect("the alert came before its incident");
    assert_eq!(alert["data"]["event_type"], "AlertReceived");
    assert_eq!(alert["position"], alert["data"]["position"]);
    assert!(alert["at"].is_string());
}

#[tokio::test]
async fn a_websocket_subscribe_after_replays_exactly_what_followed() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let token = app.token(Role::Viewer, &[tenant.id]);
    let first = post(&app, &tenant, generic_alert("first")).await["alerts"][0]["position"]
        .as_i64()
        .unwrap();
    for n in 0..3 {
        post(&app, &tenant, generic_alert(&format!("later-{n}"))).await;
    }
    let missed = logged_receipts(&app, &token, first, 3).await;

    let mut ws = ws_connect(&ws_url(&app, &format!("?types=new_alert&token={token}"))).await;
    assert_eq!(
        ws_next(&mut ws, DEADLINE).await.unwrap()["type"],
        "initial_data"
    );
    ws_send(&mut ws, json!({"type": "subscribe", "after": first})).await;
    let mut replayed = Vec::new();
    let seen = ws_until(&mut ws, DEADLINE, |m| {
        if m["type"] == "new_alert" {
            replayed.push(m["position"].as_i64().unwrap());
        }
        replayed.len() == 3
    })
    .await;
    assert_eq!(seen[0]["type"], "subscribed");
    assert_eq!(replayed, missed);

    ws_send(&mut ws, json!({"type": "subscribe", "after": 987_654_321})).await;
    let error = ws_until(&mut ws, DEADLINE, |m| m["type"] == "error").await;
    assert_eq!(error.last().unwrap()["data"]["code"], "position_not_found");
}

#[tokio::test]
async fn a_websocket_with_a_missing_or_bad_token_is_closed_with_4001() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    for query in ["", "?token=garbage"] {
        let mut ws = ws_connect(&ws_url(&app, query)).await;
        let (code, reason) = ws_next(&mut ws, DEADLINE).await.unwrap_err().unwrap();
        assert_eq!(code, 4001, "{query}");
        assert!(reason.contains("token"), "{reason}");
    }
    let foreign_issuer = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "x", "name": "x", "role": "msp_admin", "tenants": [],
                "exp": 4_000_000_000_i64, "iat": 0, "iss": "alertledger", "aud": "alertledger"}),
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!"),
    )
    .unwrap();
    let mut ws = ws_connect(&ws_url(&app, &format!("?token={foreign_issuer}"))).await;
    assert_eq!(
        ws_next(&mut ws, DEADLINE).await.unwrap_err().unwrap().0,
        4001
    );

    // The token may also come as a subprotocol: `bearer, <token>`.
    let token = app.token(Role::Viewer, &[tenant.id]);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws_url(
            &app, "",
        ))
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("bearer, {token}").parse().unwrap(),
    );
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "bearer");
    assert_eq!(
        ws_next(&mut ws, DEADLINE).await.unwrap()["type"],
        "initial_data"
    );
}

#[tokio::test]
async fn a_websocket_is_closed_when_its_token_expires() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let token = app.token_with_ttl(Role::Viewer, &[tenant.id], Duration::from_secs(2));
    let mut ws = ws_connect(&ws_url(&app, &format!("?token={token}"))).await;
    assert_eq!(
        ws_next(&mut ws, DEADLINE).await.unwrap()["type"],
        "initial_data"
    );
    let closed = loop {
        match ws_next(&mut ws, DEADLINE).await {
            // Pings, and events committed before the socket opened that the
            // log showed only after it (the horizon trails commits).
            Ok(_) => continue,
            Err(close) => break close,
        }
    };
    let (code, reason) = closed.expect("a close frame");
    assert_eq!(code, 4001);
    assert!(reason.contains("expired"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_websocket_client_is_told_to_resync_while_a_fast_one_keeps_up() {
    let app = TestApp::spawn_with_feed(FeedSettings {
        buffer_batches: 16,
        // Batches of at most 100 events: the 18,000 events below make at
        // least 180 of them, far more than the 16 buffered, however the
        // tailer's reads fall (under load they fill up to this bound).
        tail_batch: 100,
        ..FeedSettings::default()
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    app.lift_rate_limit(&tenant).await;
    let token = app.token(Role::Viewer, &[tenant.id]);
    let url = ws_url(&app, &format!("?types=new_alert&token={token}"));
    let mut fast = ws_connect(&url).await;
    assert_eq!(
        ws_next(&mut fast, DEADLINE).await.unwrap()["type"],
        "initial_data"
    );
    // The slow one: a small receive buffer, and it reads nothing for now.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4_096).unwrap();
    let tcp = socket
        .connect(app.address.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (mut slow, _) = tokio_tungstenite::client_async(url.as_str(), tcp)
        .await
        .unwrap();

    const BATCHES: usize = 60;
    const PER_BATCH: usize = 100;
    // As in the SSE test: each request waits for the fast client to have
    // read the previous one.
    let (progress, mut read_so_far) = tokio::sync::watch::channel(0);
    let fast_reader = tokio::spawn(async move {
        let mut received = HashSet::new();
        while received.len() < BATCHES * PER_BATCH {
            let message = ws_next(&mut fast, DEADLINE)
                .await
                .unwrap_or_else(|close| panic!("the fast client was closed: {close:?}"));
            assert_ne!(message["type"], "resync", "the fast client keeps up");
            if message["type"] == "new_alert" {
                let asset = message["data"]["payload"]["AlertReceived"]["asset"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                assert!(
                    received.insert(asset),
                    "no duplicate reaches the fast client"
                );
                progress.send_replace(received.len());
            }
        }
        received.len()
    });
    for batch in 0..BATCHES {
        wait_until_read(&mut read_so_far, batch * PER_BATCH).await;
        let alerts: Vec<Value> = (0..PER_BATCH)
            .map(|n| generic_alert(&format!("ws-{batch}-{n}")))
            .collect();
        post(&app, &tenant, Value::Array(alerts)).await;
    }
    assert_eq!(fast_reader.await.unwrap(), BATCHES * PER_BATCH);

    // Now the slow client reads: what was buffered, then `resync` and 4002.
    let mut last_position = None;
    // A client that was never dropped would read heartbeats for ever.
    let reading_ends = tokio::time::Instant::now() + Duration::from_secs(120);
    let close = loop {
        assert!(
            tokio::time::Instant::now() < reading_ends,
            "the slow client was never told to resync and closed"
        );
        match ws_next(&mut slow, DEADLINE).await {
            Ok(message) if message["type"] == "new_alert" => {
                last_position = message["position"].as_i64();
            }
            Ok(message) if message["type"] == "resync" => {
                assert_eq!(
                    message["data"]["last_position"].as_i64(),
                    last_position,
                    "the resync names the last position the slow client was sent"
                );
            }
            Ok(_) => {}
            Err(close) => break close,
        }
    };
    assert_eq!(close.map(|(code, _)| code), Some(4002));
}

/// Waits until the fast client of a slow-client test has read `count`
/// alerts (or its reader has ended, which its own assertions then report).
async fn wait_until_read(read_so_far: &mut tokio::sync::watch::Receiver<usize>, count: usize) {
    let reached = tokio::time::timeout(DEADLINE, read_so_far.wait_for(|read| *read >= count)).await;
    assert!(
        reached.is_ok(),
        "the fast client had not read {count} alerts within {DEADLINE:?}"
    );
}

#[tokio::test]
async fn the_dashboard_page_and_its_assets_are_served_by_the_binary() {
    let app = TestApp::spawn().await;
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<label for="token">"#));
    assert!(html.contains(r#"aria-live="polite""#));
    for (asset, kind) in [("app.js", "text/javascript"), ("app.css", "text/css")] {
        let response = app
            .client
            .get(app.url(&format!("/dashboard/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        assert!(!response.text().await.unwrap().is_empty());
    }
    // Every module a served script imports is served too (the page is ES
    // modules without a build step: a missing one breaks it in the browser).
    let mut pending = vec!["app.js".to_owned()];
    let mut seen = std::collections::HashSet::new();
    while let Some(asset) = pending.pop() {
        if !seen.insert(asset.clone()) {
            continue;
        }
        let response = app
            .client
            .get(app.url(&format!("/dashboard/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset} is imported but not served");
        let script = response.text().await.unwrap();
        for import in script.split("from \"./").skip(1) {
            pending.push(import.split('"').next().unwrap().to_owned());
        }
    }
    assert!(seen.len() > 5, "the modules found: {seen:?}");
    let missing = app
        .client
        .get(app.url("/dashboard/secrets.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "asset_not_found");
}

#[tokio::test]
async fn the_execution_updated_kind_delivers_every_execution_event_dispatching_included() {
    let app = TestApp::spawn_without_background().await;
    let tenant = app.create_tenant("acme").await;
    let token = app.token(Role::Viewer, &[tenant.id]);
    let mut stream = SseClient::connect(
        &stream_url(&app, "?types=execution_updated"),
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .await;

    // An alert first: the filter must leave it out.
    post(&app, &tenant, generic_alert("web01")).await;
    let executions: AggregateStore<Execution> = AggregateStore::new(
        app.db.pool().clone(),
        DomainServices::system(),
        LogSignal::start(app.db.pool().clone()),
    );
    let execution_id = ExecutionId::new_v7();
    let id = execution_id.to_string();
    let request = ExecutionCommand::RequestExecution {
        execution_id,
        tenant_id: tenant.id,
        runbook_id: RunbookId::new_v7(),
        incident_id: IncidentId::new_v7(),
        approval_id: None,
        document: "AWS-RunShellScript".into(),
        commands: vec!["systemctl restart nginx".into()],
        parameters: Default::default(),
        instance_ids: vec![InstanceId::parse("i-0123456789abcdef0").unwrap()],
        requested_by: Actor::new(UserId::parse("tech-1").unwrap(), "Tech", Role::Technician),
    };
    let dispatching = ExecutionCommand::MarkDispatching {
        comment: format!("alertledger execution {id}"),
    };
    for command in [request, dispatching] {
        executions
            .execute(&id, command, EventMetadata::default())
            .await
            .unwrap();
    }

    let seen = stream
        .events_until(DEADLINE, |e| name_of(e) == ExecutionEvent::DISPATCHING)
        .await;
    let names: Vec<&str> = seen.iter().map(name_of).collect();
    assert_eq!(
        names,
        [ExecutionEvent::REQUESTED, ExecutionEvent::DISPATCHING],
        "only the execution's events, each once, in order"
    );
}
