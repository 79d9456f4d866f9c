//! The real binary in forced embedded-PostgreSQL mode: it starts its own
//! database, serves, and leaves no process behind: neither after a graceful
//! SIGTERM nor after being killed outright.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

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

/// Starts `alertledger serve --embedded-db` and returns it with the address it
/// logged once listening.
fn start_service(data_dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_alertledger"))
        .args([
            "serve",
            "--embedded-db",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env("ALERTLEDGER_LOG_FORMAT", "json")
        .env(
            "ALERTLEDGER_JWT_SECRET",
            "embedded-mode-test-secret-32-bytes!!",
        )
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (found, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) {
                    if entry["message"] == "alertledger is listening" {
                        let _ =
                            found.send(entry["address"].as_str().unwrap_or_default().to_owned());
                        sent = true;
                    }
                }
            }
        }
    });
    let address = address
        .recv_timeout(Duration::from_secs(90))
        .expect("the service never logged that it is listening");
    (child, address)
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
    let (mut service, address) = start_service(&data.0);
    let needle = data.0.to_string_lossy().into_owned();
    let postgres_running = processes_mentioning(&needle)
        .iter()
        .any(|pid| *pid != service.id());
    assert!(
        postgres_running,
        "a PostgreSQL of its own runs on the data directory"
    );

    let (status, body) = http_get(&address, "/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ready\""));

    kill(Pid::from_raw(service.id() as i32), Signal::SIGTERM).unwrap();
    let exit = service.wait().unwrap();
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
    let (mut service, address) = start_service(&data.0);
    let needle = data.0.to_string_lossy().into_owned();
    assert_eq!(http_get(&address, "/healthz").0, 200);

    kill(Pid::from_raw(service.id() as i32), Signal::SIGKILL).unwrap();
    let _ = service.wait();
    wait_until(
        "the embedded PostgreSQL exits after its parent was killed",
        Duration::from_secs(30),
        || processes_mentioning(&needle).is_empty(),
    );
}
