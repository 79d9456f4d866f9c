//! A PostgreSQL server of our own, for running with zero set-up.
//!
//! When no `DATABASE_URL` is given and nothing answers on `localhost:5432`
//! (see [`localhost_postgres_answers`]), the binary starts an
//! [`EmbeddedPostgres`] from the locally installed server binaries
//! ([`find_postgres_binaries`]) with its data under `./data/`, and stops it
//! when it shuts down.
//!
//! - `binaries`: where `initdb` and `postgres` are found.
//! - `data_dir`: the data directory and, for a root process, the `postgres`
//!   system user that owns it (with a fallback directory it can reach).
//! - `probe`: the `pg_isready`-style readiness check.
//! - this module: `initdb` on first use, running `postgres` as a child that
//!   cannot outlive us, and stopping it.
//!
//! The server listens on 127.0.0.1 only and trusts every local connection as
//! the `postgres` superuser: it is a development and demo convenience, not a
//! production database.

mod binaries;
mod data_dir;
mod error;
mod probe;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

pub use binaries::{find_postgres_binaries, PostgresBinaries, PG_BIN_DIR_ENV};
pub use error::EmbeddedPostgresError;
pub use probe::{localhost_postgres_answers, DEFAULT_POSTGRES_PORT};

use data_dir::{prepare_data_layout, DataLayout, ServerUser};
use probe::{probe, ProbeOutcome};

/// How long a started server may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`EmbeddedPostgres::stop`] waits for a fast shutdown before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `Drop` blocks for a fast shutdown; shorter, as it blocks a thread.
const DROP_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often start-up and `Drop` look at the child again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Attempts with a fresh port when another process took the one we picked.
const PORT_ATTEMPTS: usize = 3;
/// Lines of the server log quoted in start-up errors.
const LOG_TAIL_LINES: usize = 30;

/// What to start: where the data lives, which binaries, which port.
#[derive(Debug, Clone)]
pub struct EmbeddedPostgresOptions {
    /// The cluster goes into `<data_dir>/postgres`, its log into
    /// `<data_dir>/postgres.log`.
    pub data_dir: PathBuf,
    /// Directory of `initdb` and `postgres` (normally from
    /// [`PG_BIN_DIR_ENV`]); searched for when absent or unusable.
    pub bin_dir: Option<PathBuf>,
    /// `None` picks a free loopback port.
    pub port: Option<u16>,
}

impl Default for EmbeddedPostgresOptions {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            bin_dir: None,
            port: None,
        }
    }
}

/// A running PostgreSQL server that is our child process.
///
/// Stop it with [`stop`](Self::stop). Dropping it without `stop` still shuts
/// the server down (blocking, bounded), and if this process dies outright the
/// kernel tells the server to shut down (see [`start`](Self::start)).
#[derive(Debug)]
pub struct EmbeddedPostgres {
    /// `None` once stopped, so `Drop` knows there is nothing left to do.
    child: Option<Child>,
    pid: u32,
    port: u16,
    pgdata: PathBuf,
    log_file: PathBuf,
    version: String,
}

impl EmbeddedPostgres {
    /// Finds the binaries, prepares the data directory (`initdb` on first
    /// use), starts `postgres` and waits until it accepts connections.
    ///
    /// The server is told by the kernel to shut down (SIGINT, PostgreSQL's
    /// fast shutdown) when its parent dies, even by SIGKILL. Linux ties that
    /// to the *thread* that spawned it, so call this from a thread that lives
    /// as long as the server should: the future of `#[tokio::main]` itself,
    /// not a spawned task or `spawn_blocking` (their threads may exit early).
    /// The server also gets its own process group, so a Ctrl-C meant for us
    /// does not stop the database under our graceful shutdown.
    pub async fn start(options: EmbeddedPostgresOptions) -> Result<Self, EmbeddedPostgresError> {
        let binaries = find_postgres_binaries(options.bin_dir.as_deref())?;
        let user = ServerUser::for_current_process()?;
        let layout = prepare_data_layout(&options.data_dir, user.as_ref()).await?;
        ensure_cluster(&binaries, &layout, user.as_ref()).await?;
        ensure_not_in_use(&layout.pgdata)?;

        let mut attempt = 1;
        loop {
            let port = match options.port {
                Some(port) => port,
                None => free_loopback_port()
                    .map_err(|source| EmbeddedPostgresError::data_dir(&layout.pgdata, source))?,
            };
            match launch(&binaries, &layout, user.as_ref(), port).await {
                Err(EmbeddedPostgresError::ExitedEarly { log_tail, .. })
                    if options.port.is_none()
                        && attempt < PORT_ATTEMPTS
                        && log_tail.contains("could not bind") =>
                {
                    tracing::warn!(
                        port,
                        "port taken before PostgreSQL bound it; trying another"
                    );
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// A connection URL for `database` (no password: the server trusts local
    /// connections).
    pub fn database_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster directory actually in use (possibly the fallback one).
    pub fn data_dir(&self) -> &Path {
        &self.pgdata
    }

    /// Where the server's own output goes.
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// Process id of the postmaster.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server version, e.g. `15.14`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Fast shutdown (SIGINT: open sessions are ended, data is checkpointed);
    /// SIGKILL only if that takes longer than 20 s.
    pub async fn stop(mut self) -> Result<(), EmbeddedPostgresError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        tracing::info!(pid = self.pid, "stopping embedded PostgreSQL");
        send_signal(self.pid, Signal::SIGINT);
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(Ok(status)) if status.success() => {
                tracing::info!(pid = self.pid, "embedded PostgreSQL stopped");
                Ok(())
            }
            Ok(Ok(status)) => {
                tracing::warn!(pid = self.pid, %status, log = %self.log_file.display(),
                    "embedded PostgreSQL stopped with a failure status");
                Ok(())
            }
            Ok(Err(source)) => Err(EmbeddedPostgresError::Wait(source)),
            Err(_) => {
                tracing::warn!(pid = self.pid, timeout = ?STOP_TIMEOUT,
                    "embedded PostgreSQL did not shut down in time; killing it");
                child.kill().await.map_err(EmbeddedPostgresError::Wait)
            }
        }
    }

    /// Start-up check: the server answers, or it died, or time ran out.
    async fn wait_until_ready(&mut self, log_start: u64) -> Result<(), EmbeddedPostgresError> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                let exited = child.try_wait().map_err(EmbeddedPostgresError::Wait)?;
                if let Some(status) = exited {
                    self.child = None;
                    return Err(EmbeddedPostgresError::ExitedEarly {
                        status,
                        log_file: self.log_file.clone(),
                        log_tail: log_tail(&self.log_file, log_start),
                    });
                }
            }
            if probe(address, Duration::from_secs(1)).await == ProbeOutcome::Accepting {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(EmbeddedPostgresError::StartupTimeout {
                    timeout: STARTUP_TIMEOUT,
                    log_file: self.log_file.clone(),
                    log_tail: log_tail(&self.log_file, log_start),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for EmbeddedPostgres {
    /// The safety net for an early return: a bounded, blocking fast shutdown.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        tracing::warn!(
            pid = self.pid,
            "embedded PostgreSQL dropped without stop(); shutting it down"
        );
        send_signal(self.pid, Signal::SIGINT);
        if wait_blocking(&mut child, DROP_STOP_TIMEOUT) {
            return;
        }
        tracing::warn!(
            pid = self.pid,
            "embedded PostgreSQL did not shut down in time; killing it"
        );
        let _ = child.start_kill();
        wait_blocking(&mut child, Duration::from_secs(2));
    }
}

/// Initialises the cluster on first use; on later starts checks that the
/// installed server can read it.
async fn ensure_cluster(
    binaries: &PostgresBinaries,
    layout: &DataLayout,
    user: Option<&ServerUser>,
) -> Result<(), EmbeddedPostgresError> {
    let version_file = layout.pgdata.join("PG_VERSION");
    match std::fs::read_to_string(&version_file) {
        Ok(found) if found.trim() == binaries.major_version() => Ok(()),
        Ok(found) => Err(EmbeddedPostgresError::IncompatibleDataDir {
            dir: layout.pgdata.clone(),
            found: found.trim().to_owned(),
            expected: binaries.major_version(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            initdb(binaries, layout, user).await
        }
        Err(error) => Err(EmbeddedPostgresError::data_dir(&version_file, error)),
    }
}

async fn initdb(
    binaries: &PostgresBinaries,
    layout: &DataLayout,
    user: Option<&ServerUser>,
) -> Result<(), EmbeddedPostgresError> {
    tracing::info!(data_dir = %layout.pgdata.display(), "initialising embedded PostgreSQL data directory");
    let mut command = Command::new(binaries.initdb());
    command
        .arg("-D")
        .arg(&layout.pgdata)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ])
        .current_dir(&layout.pgdata)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(user) = user {
        user.apply(&mut command);
    }
    let output = command
        .output()
        .await
        .map_err(|source| EmbeddedPostgresError::spawn(binaries.initdb(), source))?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(EmbeddedPostgresError::Initdb {
        dir: layout.pgdata.clone(),
        status: output.status,
        output: text,
    })
}

/// A live postmaster named in `postmaster.pid` owns the directory. A stale file
/// from a killed run is left for PostgreSQL, which replaces it.
fn ensure_not_in_use(pgdata: &Path) -> Result<(), EmbeddedPostgresError> {
    let Ok(contents) = std::fs::read_to_string(pgdata.join("postmaster.pid")) else {
        return Ok(());
    };
    let pid = contents
        .lines()
        .next()
        .and_then(|line| line.trim().parse::<i32>().ok())
        .filter(|pid| *pid > 0);
    match pid {
        Some(pid) if is_running_postgres(pid) => Err(EmbeddedPostgresError::DataDirInUse {
            dir: pgdata.to_path_buf(),
            pid,
        }),
        _ => Ok(()),
    }
}

fn is_running_postgres(pid: i32) -> bool {
    let alive = !matches!(
        kill(Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    );
    // Without /proc (not Linux) PostgreSQL's own lock check has to do.
    let command_name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    alive && command_name.trim() == "postgres"
}

/// Spawns `postgres` and waits until it accepts connections.
async fn launch(
    binaries: &PostgresBinaries,
    layout: &DataLayout,
    user: Option<&ServerUser>,
    port: u16,
) -> Result<EmbeddedPostgres, EmbeddedPostgresError> {
    let log_error = |source| EmbeddedPostgresError::data_dir(&layout.log_file, source);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&layout.log_file)
        .map_err(log_error)?;
    let log_start = log.metadata().map_err(log_error)?.len();
    let stdout = log.try_clone().map_err(log_error)?;

    tracing::info!(
        version = binaries.version(),
        bin_dir = %binaries.bin_dir().display(),
        data_dir = %layout.pgdata.display(),
        port,
        "starting embedded PostgreSQL {} from {}, data in {}, port {port}",
        binaries.version(),
        binaries.bin_dir().display(),
        layout.pgdata.display(),
    );
    let mut command = Command::new(binaries.postgres());
    command
        .arg("-D")
        .arg(&layout.pgdata)
        .arg("-p")
        .arg(port.to_string())
        .args(["-c", "listen_addresses=127.0.0.1"])
        // No Unix socket: nothing to clean up, nothing shared with a system
        // server in /var/run/postgresql.
        .args(["-c", "unix_socket_directories="])
        .args(["-c", "cluster_name=alertledger-embedded"])
        .current_dir(&layout.pgdata)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log)
        .process_group(0);
    if let Some(user) = user {
        user.apply(&mut command);
    }
    die_with_parent(&mut command);
    // tokio spawns synchronously on this thread, which the death signal
    // is tied to.
    let child = command
        .spawn()
        .map_err(|source| EmbeddedPostgresError::spawn(binaries.postgres(), source))?;
    let Some(pid) = child.id() else {
        return Err(EmbeddedPostgresError::spawn(
            binaries.postgres(),
            std::io::Error::other("the server exited before its process id was read"),
        ));
    };

    let mut server = EmbeddedPostgres {
        child: Some(child),
        pid,
        port,
        pgdata: layout.pgdata.clone(),
        log_file: layout.log_file.clone(),
        version: binaries.version().to_owned(),
    };
    // On error `server` is dropped, which stops a half-started server.
    server.wait_until_ready(log_start).await?;
    tracing::info!(
        pid,
        port,
        url = %server.database_url("postgres"),
        "embedded PostgreSQL ready on 127.0.0.1:{port}"
    );
    Ok(server)
}

/// Has the kernel send the server SIGINT (fast shutdown) when we die.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec. It only makes
    // async-signal-safe system calls (prctl, getppid) and does not allocate:
    // the errors are built from raw error numbers. std runs it after switching
    // uid/gid, which matters because a credential change clears the setting.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGINT)?;
            // We may have died between fork and prctl; then nobody would
            // ever send the signal.
            if nix::unistd::getppid() != parent {
                return Err(nix::errno::Errno::ESRCH.into());
            }
            Ok(())
        });
    }
}

/// Elsewhere there is no parent-death signal: a server whose parent is killed
/// outright keeps running until stopped by hand.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

fn send_signal(pid: u32, signal: Signal) {
    // Never 0 (or what wraps to a negative number): kill(2) would signal a
    // whole process group.
    let Some(raw) = i32::try_from(pid).ok().filter(|raw| *raw > 0) else {
        return;
    };
    if let Err(error) = kill(Pid::from_raw(raw), signal) {
        tracing::debug!(pid, %error, ?signal, "could not signal embedded PostgreSQL");
    }
}

/// Polls until `child` exits or `timeout` passes; true if it exited (or can
/// no longer be waited for).
fn wait_blocking(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return true,
            Ok(None) if Instant::now() >= deadline => return false,
            Ok(None) => std::thread::sleep(POLL_INTERVAL),
        }
    }
}

fn free_loopback_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// The last lines the server wrote since `start` (the log is shared by runs).
fn log_tail(log_file: &Path, start: u64) -> String {
    let Ok(bytes) = std::fs::read(log_file) else {
        return String::new();
    };
    let from = usize::try_from(start).unwrap_or(0).min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[from..]);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}
