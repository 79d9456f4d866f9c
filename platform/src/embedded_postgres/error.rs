//! The one error type of the embedded PostgreSQL supervisor.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use super::binaries::missing_binaries_message;

/// Why the embedded PostgreSQL server could not be found, started or stopped.
///
/// Every message names the path or the action an operator needs, because these
/// errors end the process at start-up and are read by a person, not a program.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPostgresError {
    #[error("{}", missing_binaries_message(.explicit_dir.as_deref()))]
    BinariesNotFound { explicit_dir: Option<PathBuf> },

    #[error(
        "running as root, but there is no `postgres` system user to run the embedded PostgreSQL \
         server as (PostgreSQL refuses to run as root); install PostgreSQL from your distribution's \
         packages, which creates that user, or set DATABASE_URL to an existing server"
    )]
    NoPostgresUser,

    #[error("could not look up the `postgres` system user")]
    UserLookup(#[source] nix::Error),

    #[error("could not prepare the PostgreSQL data directory {}", .path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the `{user}` system user cannot read and write the PostgreSQL data directory {}; \
         give it to that user (chown -R {user} {}) or choose another data directory",
        .dir.display(), .dir.display()
    )]
    DataDirNotWritable { dir: PathBuf, user: String },

    #[error(
        "{} belongs to PostgreSQL {found}, but the installed server is PostgreSQL {expected}; \
         upgrade it with pg_upgrade, point ALERTLEDGER_PG_BIN_DIR at PostgreSQL {found}'s binaries, \
         or move the directory away to start afresh",
        .dir.display()
    )]
    IncompatibleDataDir {
        dir: PathBuf,
        found: String,
        expected: String,
    },

    #[error(
        "another PostgreSQL server (pid {pid}) is already running on the data directory {}; \
         stop it or choose another data directory",
        .dir.display()
    )]
    DataDirInUse { dir: PathBuf, pid: i32 },

    #[error("initdb failed ({status}) for {}:\n{output}", .dir.display())]
    Initdb {
        dir: PathBuf,
        status: ExitStatus,
        output: String,
    },

    #[error("could not run {}", .program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "embedded PostgreSQL exited during start-up ({status}); last lines of {}:\n{log_tail}",
        .log_file.display()
    )]
    ExitedEarly {
        status: ExitStatus,
        log_file: PathBuf,
        log_tail: String,
    },

    #[error(
        "embedded PostgreSQL did not accept connections within {timeout:?}; last lines of {}:\n{log_tail}",
        .log_file.display()
    )]
    StartupTimeout {
        timeout: Duration,
        log_file: PathBuf,
        log_tail: String,
    },

    #[error("could not wait for the embedded PostgreSQL process")]
    Wait(#[source] std::io::Error),
}

impl EmbeddedPostgresError {
    pub(crate) fn data_dir(path: &Path, source: std::io::Error) -> Self {
        Self::DataDir {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn spawn(program: &Path, source: std::io::Error) -> Self {
        Self::Spawn {
            program: program.to_path_buf(),
            source,
        }
    }
}
