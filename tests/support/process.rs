//! The real `alertledger` binary as a child process: started with JSON logs
//! on port 0, its address read from the "alertledger is listening" line it
//! logs, killed when dropped. Shared by the end-to-end tests and the
//! live-feed benchmark (which includes this file by path).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a starting service may take to listen (an embedded PostgreSQL
/// runs initdb first).
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The binary under test, with nothing set but quiet JSON logs.
pub fn alertledger() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_alertledger"));
    command.env("ALERTLEDGER_LOG_FORMAT", "json");
    command
}

/// A running `alertledger` that logged its listening address.
pub struct ServiceProcess {
    child: Option<Child>,
    /// `host:port` it listens on.
    pub address: String,
}

impl ServiceProcess {
    /// Starts `command` (e.g. `alertledger().args(["serve", "--listen",
    /// "127.0.0.1:0"])` with its environment) and waits until it listens.
    pub fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start alertledger");
        let stderr = child.stderr.take().expect("piped stderr");
        let (found, address) = std::sync::mpsc::channel();
        // Keeps reading to the end, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sent {
                    continue;
                }
                if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) {
                    if entry["message"] == "alertledger is listening" {
                        let _ =
                            found.send(entry["address"].as_str().unwrap_or_default().to_owned());
                        sent = true;
                    }
                }
            }
        });
        let address = address
            .recv_timeout(START_TIMEOUT)
            .expect("the service never logged that it is listening");
        Self {
            child: Some(child),
            address,
        }
    }

    /// `serve` on port 0 against `database_url`, with `env` set.
    pub fn serve(database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut command = alertledger();
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "info");
        for (name, value) in env {
            command.env(name, value);
        }
        Self::start(command)
    }

    /// `http://host:port` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM and waits (up to 30 s) for the process to end: how it
    /// ended and how long that took.
    pub fn terminate(&mut self) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("still running");
        let started = Instant::now();
        let pid = i32::try_from(child.id()).expect("a pid fits i32");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("send SIGTERM");
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait for the child") {
                return (status, started.elapsed());
            }
            if Instant::now() > until {
                let _ = child.kill();
                panic!("the service did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl ServiceProcess {
    /// Kills the process outright (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
