//! A quiet start: `serve` and `demo` log what a person needs, not the AWS
//! SDK probing instance metadata for a region (the region comes from each
//! tenant's configuration).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Instant;

use alertledger_schema::TestDatabase;
use support::process::{alertledger, START_TIMEOUT};

/// Runs `alertledger COMMAND` until it logs that it listens; every line it
/// wrote to stderr up to then.
fn start_output(command: &str, database_url: &str) -> Vec<String> {
    let mut child = alertledger()
        .arg(command)
        .args(["--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "info")
        // Nothing tells the SDK a region: the case that used to probe IMDS.
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env_remove("AWS_PROFILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = received
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("{command} never listened; it wrote:\n{}", seen.join("\n")));
        let listening = line.contains("alertledger is listening");
        seen.push(line);
        if listening {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

#[tokio::test]
async fn serve_and_demo_start_without_probing_instance_metadata() {
    let db = TestDatabase::create().await;
    for command in ["serve", "demo"] {
        let lines = start_output(command, db.url());
        let noisy: Vec<&String> = lines
            .iter()
            .filter(|line| {
                let line = line.to_ascii_lowercase();
                [
                    "imds",
                    "ec2-metadata",
                    "169.254.169.254",
                    "instance metadata",
                ]
                .iter()
                .any(|word| line.contains(word))
            })
            .collect();
        assert!(noisy.is_empty(), "{command} printed: {noisy:#?}");
    }
}
