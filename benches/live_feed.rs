//! Live-feed benchmark (see BENCHMARKS.md, "Live feed"): the release binary
//! on a fresh database, driven over real sockets.
//!
//! 1. Idle connections: C SSE connections held open (default 10,000); the
//!    server's resident memory before and after.
//! 2. Commit-to-client latency: S SSE subscribers (default 1,000) while
//!    alerts are posted at R per second (default 1,000) for T seconds.
//! 3. Resume: one client reconnects after N missed events (default 10,000).
//!
//! Run: `cargo bench --bench live_feed` (settings in `BENCH_*` variables; see
//! `Settings::from_env`). It prints a report; it asserts nothing.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_api::auth::jwt::{TokenIssuer, TokenRequest, DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use alertledger_domain::values::{Role, TenantId};
use alertledger_schema::TestDatabase;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "live-feed-bench-secret-of-32-bytes-or-more";

struct Settings {
    subscribers: usize,
    rate: usize,
    seconds: u64,
    resume: usize,
    idle: usize,
}

impl Settings {
    fn from_env() -> Self {
        let get = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            subscribers: get("BENCH_SUBSCRIBERS", 1_000),
            rate: get("BENCH_ALERTS_PER_SECOND", 1_000),
            seconds: get("BENCH_SECONDS", 10) as u64,
            resume: get("BENCH_RESUME_EVENTS", 10_000),
            idle: get("BENCH_IDLE_CONNECTIONS", 10_000),
        }
    }
}

fn main() -> anyhow::Result<()> {
    // The benchmark harness passes `--bench`; there is nothing to filter.
    raise_open_files_limit(65_536)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(Settings::from_env()))
}

/// Sockets are files: 10,000 connections need more than the usual 1,024 (or
/// 20,000 here) descriptors, in this process and in the server it starts,
/// which inherits the limit.
fn raise_open_files_limit(wanted: u64) -> anyhow::Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let target = wanted.max(soft);
    if setrlimit(Resource::RLIMIT_NOFILE, target, hard.max(target)).is_err() {
        // Not privileged: take what the hard limit allows.
        setrlimit(Resource::RLIMIT_NOFILE, hard.min(target), hard)?;
    }
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE)?;
    println!("open files limit: {soft}");
    Ok(())
}

#[path = "../tests/support/process.rs"]
mod process;

use process::ServiceProcess as Server;

fn start_server(database_url: &str) -> Server {
    let mut command = process::alertledger();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("ALERTLEDGER_JWT_SECRET", SECRET)
        // Every subscriber of the bench is one user of one tenant: lift the
        // per-user and per-tenant stream caps (defaults 8 and 64) above any
        // BENCH_SUBSCRIBERS it is run with.
        .env("ALERTLEDGER_FEED_STREAMS_PER_USER", "100000")
        .env("ALERTLEDGER_FEED_STREAMS_PER_TENANT", "100000")
        .env("RUST_LOG", "warn,alertledger=info");
    Server::start(command)
}

/// Resident memory of the server process, in KiB.
fn rss_kib(server: &Server) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn token(role: Role, tenants: &[TenantId]) -> String {
    TokenIssuer::hs256(SECRET.as_bytes(), DEFAULT_ISSUER, DEFAULT_AUDIENCE)
        .unwrap()
        .issue(&TokenRequest {
            sub: "bench".into(),
            name: "Bench".into(),
            role,
            tenants: tenants.to_vec(),
            ttl: Duration::from_secs(3_600),
        })
        .unwrap()
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let db = TestDatabase::create().await;
    let server = start_server(db.url());
    let client = reqwest::Client::new();
    let admin = token(Role::MspAdmin, &[]);
    let tenant: Value = client
        .post(server.url("/api/v1/tenants"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Bench Ltd", "slug": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    let key: Value = client
        .post(server.url(&format!("/api/v1/tenants/{tenant_id}/api-keys")))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await?
        .json()
        .await?;
    let api_key = key["api_key"].as_str().unwrap().to_owned();
    client
        .put(server.url(&format!("/api/v1/tenants/{tenant_id}/rate-limit")))
        .bearer_auth(&admin)
        .json(&json!({"requests_per_minute": 1_000_000, "burst": 1_000_000}))
        .send()
        .await?
        .error_for_status()?;
    let viewer = token(Role::Viewer, &[TenantId::parse(&tenant_id)?]);
    // Wait until the key is active (the tenant directory follows the log).
    loop {
        let status = client
            .post(server.url("/api/v1/webhooks/generic"))
            .header("X-API-Key", &api_key)
            .json(&json!([]))
            .send()
            .await?
            .status();
        if status != 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "server {} (pid {}), database {}",
        server.address,
        server.pid(),
        db.name()
    );

    // Idle connections first, on a fresh process, so that memory freed by the
    // other phases does not hide what the connections cost.
    idle_connections(&server, &settings, &viewer).await?;
    latency(&server, &settings, &viewer, &api_key).await?;
    resume(&server, &db, &settings, &viewer, &api_key).await?;
    Ok(())
}

/// Opens an SSE connection on a raw socket; returns it once the response
/// head and the `retry:` hint arrived.
async fn open_stream(
    address: &str,
    path_and_query: &str,
    headers: &str,
) -> anyhow::Result<(TcpStream, Vec<u8>)> {
    let mut stream = TcpStream::connect(address).await?;
    stream
        .write_all(
            format!("GET {path_and_query} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n").as_bytes(),
        )
        .await?;
    let mut received = Vec::with_capacity(1_024);
    let mut buffer = [0_u8; 4_096];
    while !contains(&received, b"retry: ") {
        let n = stream.read(&mut buffer).await?;
        anyhow::ensure!(
            n > 0,
            "the server closed the stream: {}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buffer[..n]);
    }
    anyhow::ensure!(
        received.starts_with(b"HTTP/1.1 200"),
        "refused: {}",
        String::from_utf8_lossy(&received)
    );
    Ok((stream, received))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Finds every `id: N` line in the stream, calling `found` for each. The
/// stream arrives in pieces: `carry` keeps the few bytes that may begin a
/// line cut by the end of a piece. Searches with `memchr` instead of looking
/// at every byte: with 1,000 subscribers this scan runs over hundreds of
/// megabytes a second, on the same two cores as the server it measures.
fn scan_ids(carry: &mut Vec<u8>, fresh: &[u8], mut found: impl FnMut(i64)) {
    carry.extend_from_slice(fresh);
    let mut keep_from = carry.len().saturating_sub(4);
    for start in memchr::memmem::find_iter(carry.as_slice(), b"\nid: ") {
        let digits = start + 5;
        match memchr::memchr(b'\n', &carry[digits..]) {
            Some(length) => {
                if let Some(id) = std::str::from_utf8(&carry[digits..digits + length])
                    .ok()
                    .and_then(|s| s.parse().ok())
                {
                    found(id);
                }
                keep_from = keep_from.max(digits + length);
            }
            None => {
                keep_from = start;
                break;
            }
        }
    }
    carry.drain(..keep_from.min(carry.len()));
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1_000.0)
}

async fn latency(
    server: &Server,
    settings: &Settings,
    token: &str,
    api_key: &str,
) -> anyhow::Result<()> {
    println!(
        "\n== commit-to-client latency: {} SSE subscribers, {} alerts/s for {} s ==",
        settings.subscribers, settings.rate, settings.seconds
    );
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    let path = format!("/api/v1/stream?token={token}&types=new_alert");
    let mut subscribers = Vec::new();
    for _ in 0..settings.subscribers {
        let (address, path, stop, connected) = (
            server.address.clone(),
            path.clone(),
            stop.clone(),
            ready.clone(),
        );
        subscribers.push(tokio::spawn(async move {
            let mut seen: Vec<(i64, Instant)> = Vec::new();
            let Ok((mut stream, _)) = open_stream(&address, &path, "").await else {
                return seen;
            };
            connected.fetch_add(1, Ordering::SeqCst);
            let mut pending = Vec::new();
            let mut buffer = vec![0_u8; 65_536];
            while !stop.load(Ordering::SeqCst) {
                match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer))
                    .await
                {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => {
                        let now = Instant::now();
                        scan_ids(&mut pending, &buffer[..n], |id| seen.push((id, now)));
                    }
                    Err(_) => continue,
                }
            }
            seen
        }));
        // Open connections in waves so the accept queue does not overflow.
        if subscribers.len() % 200 == 0 {
            while ready.load(Ordering::SeqCst) + 50 < subscribers.len() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready.load(Ordering::SeqCst) < settings.subscribers && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connected = ready.load(Ordering::SeqCst);
    println!("subscribers connected: {connected}");

    // Posters: one alert per request, paced to the target rate overall;
    // enough of them that the rate holds while each waits ~100 ms for its
    // durable commit under load (a closed loop per poster).
    let posters = 100;
    let per_poster = settings.rate.div_ceil(posters).max(1);
    let total = settings.rate * settings.seconds as usize;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(posters)
        .build()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for poster in 0..posters {
        let (client, url, api_key) = (
            client.clone(),
            server.url("/api/v1/webhooks/generic"),
            api_key.to_owned(),
        );
        let count = total / posters;
        tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / per_poster as f64));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut acks = Vec::with_capacity(count);
            for n in 0..count {
                ticker.tick().await;
                let sent = Instant::now();
                let body = json!({"asset_name": format!("bench-{poster}-{n}"), "signature": "HighCPU",
                                  "severity": "high", "message": "bench", "tool_source": "bench"});
                let Ok(response) = client.post(&url).header("X-API-Key", &api_key).json(&body).send().await else {
                    continue;
                };
                let acked = Instant::now();
                if let Ok(receipt) = response.json::<Value>().await {
                    if let Some(position) = receipt["alerts"][0]["position"].as_i64() {
                        acks.push((position, sent, acked));
                    }
                }
            }
            acks
        }));
    }
    let mut acks: HashMap<i64, (Instant, Instant)> = HashMap::new();
    for task in tasks {
        for (position, sent, acked) in task.await? {
            acks.insert(position, (sent, acked));
        }
    }
    let elapsed = started.elapsed();
    println!(
        "alerts acknowledged: {} in {:.2} s ({:.0}/s)",
        acks.len(),
        elapsed.as_secs_f64(),
        acks.len() as f64 / elapsed.as_secs_f64()
    );
    // Let the last events arrive, then stop the subscribers.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let mut from_ack = Vec::new();
    let mut from_send = Vec::new();
    let mut delivered = 0_usize;
    for subscriber in subscribers {
        for (position, received) in subscriber.await? {
            if let Some((sent, acked)) = acks.get(&position) {
                delivered += 1;
                from_ack.push(received.saturating_duration_since(*acked));
                from_send.push(received.saturating_duration_since(*sent));
            }
        }
    }
    from_ack.sort();
    from_send.sort();
    println!(
        "deliveries: {delivered} of {} expected ({} subscribers × {} alerts)",
        connected * acks.len(),
        connected,
        acks.len()
    );
    println!(
        "202-to-client (commit acknowledged → event at subscriber): p50 {}, p99 {}, max {}",
        ms(percentile(&from_ack, 50.0)),
        ms(percentile(&from_ack, 99.0)),
        ms(percentile(&from_ack, 100.0))
    );
    println!(
        "request-to-client (webhook sent → event at subscriber): p50 {}, p99 {}, max {}",
        ms(percentile(&from_send, 50.0)),
        ms(percentile(&from_send, 99.0)),
        ms(percentile(&from_send, 100.0))
    );
    Ok(())
}

async fn resume(
    server: &Server,
    db: &TestDatabase,
    settings: &Settings,
    token: &str,
    api_key: &str,
) -> anyhow::Result<()> {
    println!("\n== resume after {} missed events ==", settings.resume);
    let client = reqwest::Client::new();
    let marker: Value = client
        .post(server.url("/api/v1/webhooks/generic"))
        .header("X-API-Key", api_key)
        .json(&json!({"asset_name": "resume-marker", "signature": "Marker", "severity": "low", "message": "m"}))
        .send()
        .await?
        .json()
        .await?;
    let after = marker["alerts"][0]["position"].as_i64().unwrap();
    let per_request = 500;
    for batch in 0..settings.resume.div_ceil(per_request) {
        let alerts: Vec<Value> = (0..per_request.min(settings.resume - batch * per_request))
            .map(|n| {
                json!({"asset_name": format!("missed-{batch}-{n}"), "signature": "DiskFull",
                            "severity": "medium", "message": "missed"})
            })
            .collect();
        client
            .post(server.url("/api/v1/webhooks/generic"))
            .header("X-API-Key", api_key)
            .json(&alerts)
            .send()
            .await?
            .error_for_status()?;
    }
    // Wait until the receipts are readable and the correlator has decided on
    // them, so the server is quiet while the client resumes.
    loop {
        let (readable, correlated): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE event_type = 'AlertReceived' AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())),
                    count(*) FILTER (WHERE event_type = 'AlertCorrelated')
               FROM events WHERE position > $1",
        )
        .bind(after)
        .fetch_one(db.pool())
        .await?;
        if readable as usize >= settings.resume && correlated as usize >= settings.resume {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for run in 1..=3 {
        let started = Instant::now();
        let (mut stream, head) = open_stream(
            &server.address,
            &format!("/api/v1/stream?token={token}&types=new_alert"),
            &format!("Last-Event-ID: {after}\r\n"),
        )
        .await?;
        let mut count = 0;
        let mut pending = Vec::new();
        scan_ids(&mut pending, &head, |_| count += 1);
        let mut buffer = vec![0_u8; 256 * 1_024];
        while count < settings.resume {
            let n = stream.read(&mut buffer).await?;
            anyhow::ensure!(n > 0, "the stream ended after {count} events");
            scan_ids(&mut pending, &buffer[..n], |_| count += 1);
        }
        println!(
            "run {run}: {count} missed events received in {}",
            ms(started.elapsed())
        );
    }
    Ok(())
}

async fn idle_connections(server: &Server, settings: &Settings, token: &str) -> anyhow::Result<()> {
    if settings.idle == 0 {
        return Ok(());
    }
    println!("\n== {} idle SSE connections ==", settings.idle);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss_kib(server);
    let path = format!("/api/v1/stream?token={token}");
    let mut open = Vec::with_capacity(settings.idle);
    let mut failures = 0;
    let started = Instant::now();
    let mut remaining = settings.idle;
    while remaining > 0 {
        let wave = remaining.min(500);
        let attempts: Vec<_> = (0..wave)
            .map(|_| {
                let (address, path) = (server.address.clone(), path.clone());
                tokio::spawn(async move { open_stream(&address, &path, "").await })
            })
            .collect();
        for attempt in attempts {
            match attempt.await? {
                Ok((stream, _)) => open.push(stream),
                Err(error) => {
                    failures += 1;
                    if failures <= 3 {
                        println!("connection failed: {error}");
                    }
                }
            }
        }
        remaining -= wave;
    }
    println!(
        "open: {} (failed {failures}) in {:.1} s",
        open.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(server);
    let per_connection = (after.saturating_sub(before) as f64) / open.len().max(1) as f64;
    println!(
        "server RSS: {before} KiB before, {after} KiB with the connections open: {per_connection:.1} KiB per connection"
    );
    drop(open);
    Ok(())
}
