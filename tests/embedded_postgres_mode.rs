//! The real binary in forced embedded-PostgreSQL mode: it starts its own
//! database, serves, and leaves no process behind: neither after a graceful
//! SIGTERM nor after being killed outright.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::process::{alertledger, ServiceProcess};

/// A scratch data directory under /tmp (reachable by the `postgres` user when
/// tests run as root), removed afterwards.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("alertledger-e2e-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts `alertledger serve --embedded-db` with its data in `data_dir`.
fn start_service(data_dir: &Path) -> ServiceProcess {
    let mut command = alertledger();
    command
        .args([
            "serve",
            "--embedded-db",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env(
            "ALERTLEDGER_JWT_SECRET",
            "embedded-mode-test-secret-32-bytes!!",
        )
        .env("RUST_LOG", "info");
    ServiceProcess::start(command)
}

/// Pids of processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(needle) {
                pids.push(pid);
            }
        }
    }
    pids
}

fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_get(address: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

#[test]
fn forced_embedded_mode_serves_and_a_sigterm_leaves_no_process_behind() {
    let data = ScratchDir::new();
    let mut service = start_service(&data.0);
    let address = service.address.clone();
    let needle = data.0.to_string_lossy().into_owned();
    let postgres_running = processes_mentioning(&needle)
        .iter()
        .any(|pid| *pid != service.pid());
    assert!(
        postgres_running,
        "a PostgreSQL of its own runs on the data directory"
    );

    let (status, body) = http_get(&address, "/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ready\""));

    let (exit, _) = service.terminate();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
    wait_until(
        "no process uses the data directory",
        Duration::from_secs(30),
        || processes_mentioning(&needle).is_empty(),
    );
}

#[test]
fn a_killed_service_takes_its_embedded_postgres_with_it() {
    let data = ScratchDir::new();
    let mut service = start_service(&data.0);
    let needle = data.0.to_string_lossy().into_owned();
    assert_eq!(http_get(&service.address, "/healthz").0, 200);

    service.kill();
    wait_until(
        "the embedded PostgreSQL exits after its parent was killed",
        Duration::from_secs(30),
        || processes_mentioning(&needle).is_empty(),
    );
}
