//! Locating the PostgreSQL server binaries (`initdb`, `postgres`) installed on
//! this machine, so the embedded mode needs no set-up beyond a package install.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::EmbeddedPostgresError;

/// Environment variable through which an operator names the directory holding
/// `initdb` and `postgres`; the caller reads it and passes it to
/// [`find_postgres_binaries`].
pub const PG_BIN_DIR_ENV: &str = "ALERTLEDGER_PG_BIN_DIR";

/// A usable PostgreSQL installation: `initdb` and `postgres` of one version.
#[derive(Debug, Clone)]
pub struct PostgresBinaries {
    bin_dir: PathBuf,
    initdb: PathBuf,
    postgres: PathBuf,
    version: String,
}

impl PostgresBinaries {
    /// The directory the binaries really live in (symbolic links resolved).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    pub fn initdb(&self) -> &Path {
        &self.initdb
    }

    pub fn postgres(&self) -> &Path {
        &self.postgres
    }

    /// The full server version, e.g. `15.14`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The major version as PostgreSQL writes it into `PG_VERSION`: `15` for
    /// 15.14, but `9.6` for 9.6.24 (before version 10 the major had two parts).
    pub fn major_version(&self) -> String {
        major_version(&self.version)
    }
}

/// Finds `initdb` and `postgres`: first in `explicit` (normally the value of
/// [`PG_BIN_DIR_ENV`]), then on `PATH`, then where the common packages put
/// them (`/usr/lib/postgresql/<highest>/bin`, `/usr/local/pgsql/bin`,
/// Homebrew's `postgresql*/bin`, `/usr/pgsql-<highest>/bin`).
///
/// An explicit directory without the binaries is not fatal: it is logged and
/// the search goes on, so a stale setting does not block a working install.
pub fn find_postgres_binaries(
    explicit: Option<&Path>,
) -> Result<PostgresBinaries, EmbeddedPostgresError> {
    if let Some(dir) = explicit {
        match binaries_in(dir) {
            Some(found) => return Ok(found),
            None => tracing::warn!(
                dir = %dir.display(),
                "{PG_BIN_DIR_ENV} names a directory without usable initdb and postgres binaries; \
                 searching PATH and the usual install locations instead"
            ),
        }
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(well_known_dirs())
        .find_map(|dir| binaries_in(&dir))
        .ok_or_else(|| EmbeddedPostgresError::BinariesNotFound {
            explicit_dir: explicit.map(Path::to_path_buf),
        })
}

/// The message for a machine without PostgreSQL: what was searched and the
/// three ways out (install, point at the binaries, use an existing server).
pub(crate) fn missing_binaries_message(explicit_dir: Option<&Path>) -> String {
    let explicit = explicit_dir
        .map(|dir| format!("{PG_BIN_DIR_ENV} ({}), ", dir.display()))
        .unwrap_or_default();
    format!(
        "no PostgreSQL server binaries (initdb, postgres) found in {explicit}PATH, \
         /usr/lib/postgresql/*/bin, /usr/local/pgsql/bin, /opt/homebrew/opt/postgresql*/bin \
         or /usr/pgsql-*/bin; install PostgreSQL (Debian/Ubuntu: apt-get install postgresql; \
         Fedora/RHEL: dnf install postgresql-server; macOS: brew install postgresql@16), \
         set {PG_BIN_DIR_ENV} to the directory holding initdb and postgres, \
         or set DATABASE_URL to an existing server"
    )
}

/// The binaries in `dir`, if both are there, executable and report a version.
fn binaries_in(dir: &Path) -> Option<PostgresBinaries> {
    let postgres = executable(&dir.join("postgres"))?;
    let initdb = executable(&dir.join("initdb"))?;
    let version = server_version(&postgres)?;
    Some(PostgresBinaries {
        bin_dir: postgres.parent()?.to_path_buf(),
        initdb,
        postgres,
        version,
    })
}

/// `path` with symbolic links resolved, if it is an executable file.
fn executable(path: &Path) -> Option<PathBuf> {
    let resolved = path.canonicalize().ok()?;
    let metadata = resolved.metadata().ok()?;
    (metadata.is_file() && metadata.permissions().mode() & 0o111 != 0).then_some(resolved)
}

/// Parses `postgres (PostgreSQL) 15.14 (Debian 15.14-1)` into `15.14`.
fn server_version(postgres: &Path) -> Option<String> {
    let output = Command::new(postgres).arg("--version").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let after = text.split_once("(PostgreSQL)")?.1;
    after.split_whitespace().next().map(str::to_owned)
}

fn major_version(version: &str) -> String {
    let leading_number =
        |text: &str| -> String { text.chars().take_while(char::is_ascii_digit).collect() };
    let mut parts = version.split('.');
    let major = leading_number(parts.next().unwrap_or_default());
    match (major.parse::<u32>(), parts.next()) {
        (Ok(number), Some(minor)) if number < 10 => format!("{major}.{}", leading_number(minor)),
        _ => major,
    }
}

/// Where the common packages install PostgreSQL, highest version first within
/// each family.
fn well_known_dirs() -> Vec<PathBuf> {
    let mut dirs = versioned_dirs(Path::new("/usr/lib/postgresql"), "");
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    dirs.extend(versioned_dirs(Path::new("/opt/homebrew/opt"), "postgresql"));
    dirs.extend(versioned_dirs(Path::new("/usr/local/opt"), "postgresql"));
    dirs.extend(versioned_dirs(Path::new("/usr"), "pgsql-"));
    dirs
}

/// `<parent>/<prefix><version>/bin` for every version present, highest first
/// (`postgresql@16` before `postgresql@15`, `15` before `9.6`). A non-empty
/// prefix also matches the unversioned directory (Homebrew's `postgresql`).
fn versioned_dirs(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let rest = name.strip_prefix(prefix)?;
            let key = version_key(rest);
            let unversioned = !prefix.is_empty() && rest.is_empty();
            (!key.is_empty() || unversioned).then(|| (key, entry.path().join("bin")))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, dir)| dir).collect()
}

/// `@16` → `[16]`, `9.6` → `[9, 6]`; anything else (`common`, ``) → `[]`.
fn version_key(text: &str) -> Vec<u32> {
    let text = text.strip_prefix('@').unwrap_or(text);
    text.split('.')
        .map(str::parse::<u32>)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bogus_explicit_directory_falls_back_to_the_installed_binaries() {
        let bogus = Path::new("/nonexistent/alertledger/pg-bin");

        let found = find_postgres_binaries(Some(bogus)).expect("PostgreSQL is installed here");

        assert!(found.postgres().ends_with("postgres"));
        assert!(found.initdb().ends_with("initdb"));
        assert_eq!(found.postgres().parent(), Some(found.bin_dir()));
        assert!(!found.bin_dir().starts_with(bogus));
        assert!(found.major_version().parse::<u32>().is_ok());
    }

    #[test]
    fn an_explicit_directory_with_the_binaries_wins() {
        let installed = find_postgres_binaries(None).expect("PostgreSQL is installed here");

        let found = find_postgres_binaries(Some(installed.bin_dir())).expect("explicit dir");

        assert_eq!(found.bin_dir(), installed.bin_dir());
    }

    #[test]
    fn the_missing_install_message_says_what_to_install_or_set() {
        let message = EmbeddedPostgresError::BinariesNotFound {
            explicit_dir: Some(PathBuf::from("/opt/pg/bin")),
        }
        .to_string();

        assert!(message.contains("initdb, postgres"), "{message}");
        assert!(
            message.contains("ALERTLEDGER_PG_BIN_DIR (/opt/pg/bin)"),
            "{message}"
        );
        assert!(message.contains("apt-get install postgresql"), "{message}");
        assert!(message.contains("brew install postgresql@16"), "{message}");
        assert!(message.contains("set ALERTLEDGER_PG_BIN_DIR"), "{message}");
        assert!(message.contains("DATABASE_URL"), "{message}");
    }

    #[test]
    fn versions_sort_numerically_and_majors_follow_postgres_numbering() {
        assert!(version_key("16") > version_key("9.6"));
        assert!(version_key("@16") > version_key("@15"));
        assert_eq!(version_key("common"), Vec::<u32>::new());
        assert_eq!(version_key(""), Vec::<u32>::new());
        assert_eq!(major_version("15.14"), "15");
        assert_eq!(major_version("9.6.24"), "9.6");
        assert_eq!(major_version("17beta1"), "17");
    }
}
