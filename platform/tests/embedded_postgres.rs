//! The embedded PostgreSQL mode with real processes: it starts, serves, keeps
//! its data, and leaves no process behind, whether stopped or orphaned.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use alertledger_platform::embedded_postgres::{
    EmbeddedPostgres, EmbeddedPostgresError, EmbeddedPostgresOptions,
};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Set for the helper process of `embedded_postgres_dies_with_its_parent`.
const HELPER_DATA_DIR_ENV: &str = "ALERTLEDGER_TEST_EMBEDDED_PG_DATA_DIR";
const HELPER_TEST_NAME: &str = "helper_process_runs_an_embedded_postgres_until_killed";
const HELPER_READY_PREFIX: &str = "embedded-postgres-ready pid=";

#[tokio::test]
async fn embedded_postgres_starts_serves_and_stops_without_leftovers() {
    let scratch = ScratchDir::new("serves");
    let options = options_for(scratch.path());

    let server = EmbeddedPostgres::start(options.clone())
        .await
        .expect("embedded PostgreSQL starts");
    let pid = server.pid();
    let data_dir = server.data_dir().to_path_buf();
    assert!(
        data_dir.starts_with(scratch.path()),
        "{}",
        data_dir.display()
    );

    let mut connection = PgConnection::connect(&server.database_url("postgres"))
        .await
        .expect("connect");
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut connection)
        .await
        .expect("select 1");
    assert_eq!(one, 1);
    sqlx::query("CREATE TABLE incidents (id integer PRIMARY KEY, title text NOT NULL)")
        .execute(&mut connection)
        .await
        .expect("create table");
    sqlx::query("INSERT INTO incidents VALUES (1, 'disk full on db-7')")
        .execute(&mut connection)
        .await
        .expect("insert");
    connection.close().await.expect("close");

    let second = EmbeddedPostgres::start(options.clone()).await;
    assert!(
        matches!(&second, Err(EmbeddedPostgresError::DataDirInUse { pid: owner, .. }) if *owner == pid as i32),
        "a second server on the same directory is refused: {second:?}"
    );

    let server_children = children_of(pid);
    assert!(!server_children.is_empty(), "postmaster has helpers");
    server.stop().await.expect("stop");

    assert_eq!(kill(Pid::from_raw(pid as i32), None), Err(Errno::ESRCH));
    for child in server_children {
        assert!(process_is_gone(child), "server child {child} left behind");
    }
    assert_eq!(processes_mentioning(&data_dir), Vec::<i32>::new());

    let restarted = EmbeddedPostgres::start(options)
        .await
        .expect("restarts on the same directory");
    assert_eq!(restarted.data_dir(), data_dir);
    let mut connection = PgConnection::connect(&restarted.database_url("postgres"))
        .await
        .expect("reconnect");
    let title: String = sqlx::query_scalar("SELECT title FROM incidents WHERE id = 1")
        .fetch_one(&mut connection)
        .await
        .expect("data survived the restart");
    assert_eq!(title, "disk full on db-7");
    connection.close().await.expect("close");
    let restarted_pid = restarted.pid();
    restarted.stop().await.expect("stop again");
    assert_eq!(
        kill(Pid::from_raw(restarted_pid as i32), None),
        Err(Errno::ESRCH)
    );
}

#[tokio::test]
async fn embedded_postgres_dies_with_its_parent() {
    let scratch = ScratchDir::new("orphan");
    let test_binary = std::env::current_exe().expect("test binary path");
    let mut helper = tokio::process::Command::new(test_binary)
        .args([HELPER_TEST_NAME, "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads=1"])
        .env(HELPER_DATA_DIR_ENV, scratch.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn helper process");
    let helper_stdout = helper.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(helper_stdout).lines();

    let postgres_pid = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(line) = lines.next_line().await.expect("read helper output") {
            // libtest may have put the test's name on the same line.
            if let Some((_, pid)) = line.split_once(HELPER_READY_PREFIX) {
                return pid.trim().parse::<i32>().expect("pid");
            }
        }
        panic!("helper exited without starting PostgreSQL")
    })
    .await
    .expect("helper reports a running server in time");
    assert!(
        !process_is_gone(postgres_pid),
        "server runs while its parent lives"
    );

    helper.kill().await.expect("SIGKILL the helper");

    let deadline = Instant::now() + Duration::from_secs(30);
    while !process_is_gone(postgres_pid) || !processes_mentioning(scratch.path()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "PostgreSQL {postgres_pid} outlived its killed parent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Not a test of its own: `embedded_postgres_dies_with_its_parent` runs it in
/// a child process, which it then kills.
#[tokio::test]
#[ignore = "helper process for embedded_postgres_dies_with_its_parent"]
async fn helper_process_runs_an_embedded_postgres_until_killed() {
    let data_dir = std::env::var_os(HELPER_DATA_DIR_ENV)
        .expect("run by embedded_postgres_dies_with_its_parent, which sets the data dir");
    let server = EmbeddedPostgres::start(options_for(Path::new(&data_dir)))
        .await
        .expect("embedded PostgreSQL starts");

    let mut stdout = std::io::stdout();
    writeln!(stdout, "{HELPER_READY_PREFIX}{}", server.pid()).expect("report pid");
    stdout.flush().expect("flush");
    std::future::pending::<()>().await;
}

fn options_for(data_dir: &Path) -> EmbeddedPostgresOptions {
    EmbeddedPostgresOptions {
        data_dir: data_dir.to_path_buf(),
        bin_dir: None,
        port: None,
    }
}

/// A fresh directory under /tmp, mode 0755 so the `postgres` system user can
/// reach it when the tests run as root; removed afterwards.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "alertledger-embedded-pg-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&path).expect("create scratch dir");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("scratch dir mode");
        Self(path.canonicalize().expect("canonical scratch dir"))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Gone, or a zombie nobody has reaped yet (it no longer runs).
fn process_is_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat_fields(&stat).first() == Some(&"Z"),
        Err(_) => true,
    }
}

/// The fields after `pid (comm)`: state, ppid, ...
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default()
}

fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

fn children_of(parent: u32) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|stat| stat_fields(&stat).get(1) == Some(&parent.to_string().as_str()))
                .unwrap_or(false)
        })
        .collect()
}

/// Running processes whose command line names `path` (a postmaster's `-D`).
fn processes_mentioning(path: &Path) -> Vec<i32> {
    let needle = path.as_os_str().as_encoded_bytes();
    all_pids()
        .into_iter()
        .filter(|pid| !process_is_gone(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmdline| cmdline.windows(needle.len()).any(|window| window == needle))
                .unwrap_or(false)
        })
        .collect()
}
