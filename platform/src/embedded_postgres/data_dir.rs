//! Where the embedded cluster's files live and which user owns them.
//!
//! PostgreSQL refuses to run as root, so a root process hands the server to the
//! `postgres` system user. That user must be able to reach the data directory;
//! when it cannot (say `./data` below a `0700` home directory) the data goes to
//! a stable directory under the system temporary directory instead, and the
//! log says so.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::unistd::{Gid, Uid, User};
use tokio::process::Command;

use super::EmbeddedPostgresError;

/// The system user the server runs as when this process is root.
#[derive(Debug, Clone)]
pub(crate) struct ServerUser {
    name: String,
    uid: Uid,
    gid: Gid,
}

impl ServerUser {
    /// `None` when this process is not root: the server then runs as us.
    pub(crate) fn for_current_process() -> Result<Option<Self>, EmbeddedPostgresError> {
        if !Uid::effective().is_root() {
            return Ok(None);
        }
        let user = User::from_name("postgres")
            .map_err(EmbeddedPostgresError::UserLookup)?
            .ok_or(EmbeddedPostgresError::NoPostgresUser)?;
        Ok(Some(Self {
            name: user.name,
            uid: user.uid,
            gid: user.gid,
        }))
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Makes `command` run as this user (std drops root's supplementary
    /// groups along with the uid).
    pub(crate) fn apply(&self, command: &mut Command) {
        command.uid(self.uid.as_raw()).gid(self.gid.as_raw());
    }
}

/// The files of one embedded cluster.
#[derive(Debug, Clone)]
pub(crate) struct DataLayout {
    /// The cluster directory handed to `initdb -D` and `postgres -D`.
    pub(crate) pgdata: PathBuf,
    /// The server's stdout and stderr, appended across runs.
    pub(crate) log_file: PathBuf,
}

impl DataLayout {
    fn inside(base: &Path) -> Self {
        Self {
            pgdata: base.join("postgres"),
            log_file: base.join("postgres.log"),
        }
    }
}

/// Creates the directories for a cluster under `requested` (or, for a root
/// process whose server user cannot reach `requested`, under the fallback
/// directory) and gives the cluster directory to the server user, mode 0700.
pub(crate) async fn prepare_data_layout(
    requested: &Path,
    user: Option<&ServerUser>,
) -> Result<DataLayout, EmbeddedPostgresError> {
    std::fs::create_dir_all(requested)
        .map_err(|source| EmbeddedPostgresError::data_dir(requested, source))?;
    let requested = requested
        .canonicalize()
        .map_err(|source| EmbeddedPostgresError::data_dir(requested, source))?;

    let Some(user) = user else {
        let layout = DataLayout::inside(&requested);
        create_private_dir(&layout.pgdata, None)?;
        return Ok(layout);
    };

    let base = if user_can_access(&requested, user, Access::Traverse).await? {
        requested
    } else {
        let fallback = fallback_base(&requested);
        create_fallback_base(&fallback)?;
        tracing::warn!(
            requested = %requested.display(),
            fallback = %fallback.display(),
            user = user.name(),
            "the {} system user cannot reach {}; keeping the embedded PostgreSQL data in {} instead",
            user.name(),
            requested.display(),
            fallback.display(),
        );
        fallback
    };
    let layout = DataLayout::inside(&base);
    create_private_dir(&layout.pgdata, Some(user))?;
    if !user_can_access(&layout.pgdata, user, Access::ReadWrite).await? {
        return Err(EmbeddedPostgresError::DataDirNotWritable {
            dir: layout.pgdata,
            user: user.name().to_owned(),
        });
    }
    Ok(layout)
}

/// `<temp dir>/alertledger-data-<hash of the requested path>`: the same
/// directory on every restart for the same requested directory.
pub(crate) fn fallback_base(requested: &Path) -> PathBuf {
    let hash = fnv1a_64(requested.as_os_str().as_encoded_bytes());
    std::env::temp_dir().join(format!("alertledger-data-{hash:016x}"))
}

/// Creates the fallback base as root, world-traversable. It sits in a
/// world-writable directory under a predictable name, so anything already
/// there must be a real directory owned by root: otherwise another local user
/// could have planted it (or a symbolic link) to take over the cluster.
fn create_fallback_base(dir: &Path) -> Result<(), EmbeddedPostgresError> {
    let fail = |source| EmbeddedPostgresError::data_dir(dir, source);
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(fail(error)),
    }
    let metadata = std::fs::symlink_metadata(dir).map_err(fail)?;
    if !metadata.is_dir() || metadata.uid() != 0 {
        return Err(fail(std::io::Error::other(
            "exists but is not a directory owned by root; remove it",
        )));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(fail)
}

/// Creates the cluster directory, mode 0700 as PostgreSQL demands. A directory
/// not yet holding a cluster is handed to `user`; an existing cluster keeps
/// its owner (PostgreSQL reports a wrong one itself).
fn create_private_dir(dir: &Path, user: Option<&ServerUser>) -> Result<(), EmbeddedPostgresError> {
    let fail = |source| EmbeddedPostgresError::data_dir(dir, source);
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(fail(error)),
    }
    if let Some(user) = user {
        if !dir.join("PG_VERSION").exists() {
            std::os::unix::fs::chown(dir, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .map_err(fail)?;
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)
}

#[derive(Debug, Clone, Copy)]
enum Access {
    /// Every directory on the path can be traversed.
    Traverse,
    /// The directory can be listed, written and entered.
    ReadWrite,
}

/// Asks the kernel, by running `test` as `user`, whether `user` has `access`
/// to `dir`; only a process with that user's credentials gets the true answer
/// (root's `access(2)` checks root).
async fn user_can_access(
    dir: &Path,
    user: &ServerUser,
    access: Access,
) -> Result<bool, EmbeddedPostgresError> {
    let script = match access {
        Access::Traverse => r#"test -d "$1" && test -x "$1""#,
        Access::ReadWrite => r#"test -d "$1" && test -x "$1" && test -r "$1" && test -w "$1""#,
    };
    let shell = Path::new("/bin/sh");
    let mut command = Command::new(shell);
    command
        .arg("-c")
        .arg(script)
        .arg("alertledger-access-check")
        .arg(dir)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    user.apply(&mut command);
    let status = command
        .status()
        .await
        .map_err(|source| EmbeddedPostgresError::spawn(shell, source))?;
    Ok(status.success())
}

/// FNV-1a: tiny and, unlike `DefaultHasher`, the same in every Rust release,
/// which keeps the fallback directory's name stable.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ScratchDir(PathBuf);

    impl ScratchDir {
        fn new(name: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos())
                .unwrap_or_default();
            let path = std::env::temp_dir()
                .join(format!("alertledger-{name}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&path).expect("create scratch dir");
            Self(path)
        }
    }

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_fallback_directory_is_stable_and_depends_on_the_requested_path() {
        let first = fallback_base(Path::new("/root/project/data"));

        assert_eq!(first, fallback_base(Path::new("/root/project/data")));
        assert_ne!(first, fallback_base(Path::new("/root/other/data")));
        assert!(first.starts_with(std::env::temp_dir()));
    }

    #[tokio::test]
    async fn a_data_dir_the_postgres_user_cannot_reach_moves_to_the_fallback() {
        let Some(user) = ServerUser::for_current_process().expect("user lookup") else {
            // Only a root process switches users; as anyone else there is
            // nothing to fall back from.
            return;
        };
        let locked = ScratchDir::new("locked-parent");
        std::fs::set_permissions(&locked.0, std::fs::Permissions::from_mode(0o700))
            .expect("lock parent");
        let requested = locked.0.join("data");

        let layout = prepare_data_layout(&requested, Some(&user))
            .await
            .expect("layout");
        let fallback = ScratchDir(fallback_base(&requested.canonicalize().expect("canonical")));

        assert_eq!(layout.pgdata, fallback.0.join("postgres"));
        let metadata = std::fs::metadata(&layout.pgdata).expect("pgdata exists");
        assert_eq!(metadata.uid(), user.uid.as_raw());
        assert_eq!(metadata.mode() & 0o777, 0o700);
        assert!(!requested.join("postgres").exists());
    }

    #[tokio::test]
    async fn a_reachable_data_dir_is_used_as_requested() {
        let user = ServerUser::for_current_process().expect("user lookup");
        let open = ScratchDir::new("open-parent");
        std::fs::set_permissions(&open.0, std::fs::Permissions::from_mode(0o755))
            .expect("open parent");

        let layout = prepare_data_layout(&open.0, user.as_ref())
            .await
            .expect("layout");

        assert_eq!(
            layout.pgdata,
            open.0.canonicalize().expect("canonical").join("postgres")
        );
        let metadata = std::fs::metadata(&layout.pgdata).expect("pgdata exists");
        assert_eq!(metadata.mode() & 0o777, 0o700);
        let expected_owner =
            user.map_or_else(|| Uid::effective().as_raw(), |user| user.uid.as_raw());
        assert_eq!(metadata.uid(), expected_owner);
    }
}
