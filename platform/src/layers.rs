//! The configuration layers below the command line: an optional TOML file
//! (read with figment) under the environment, and the Docker/Kubernetes
//! `*_FILE` convention for secrets.
//!
//! The command line (clap) already ranks a flag over its environment variable
//! over its default. This module adds the two lower layers by working out
//! which environment variables the file and the `*_FILE` secrets supply: the
//! binary sets them before parsing its arguments (and before any thread
//! starts), so every existing flag and variable keeps its name and meaning and
//! the order is flags > environment > file > defaults.
//!
//! File keys are the variable names in lower case without `ALERTLEDGER_`
//! (`listen`, `database_url`, `jwt_secret_file`, `cors_origins`); a list is
//! joined with commas. An unknown key is an error, so a typo never goes
//! unnoticed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::Figment;
use serde::Deserialize;

/// The prefix file keys drop.
const PREFIX: &str = "ALERTLEDGER_";

/// A secret setting and what its `*_FILE` variant holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretSetting {
    /// The variable, e.g. `ALERTLEDGER_MASTER_KEY`.
    pub name: &'static str,
    pub kind: SecretKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// The variable holds the secret; `X_FILE` names a file holding it (one
    /// trailing newline is trimmed).
    Value,
    /// The variable already names a key file; `X_FILE` is accepted as the
    /// same setting, so a mounted secret can be named the conventional way.
    Path,
}

/// Why the configuration could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("the configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("the configuration file {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<figment::Error>,
    },
    #[error("the configuration file {path}: unknown setting `{key}` (keys are the environment variables in lower case without ALERTLEDGER_, e.g. `listen`; see docs/configuration.md)")]
    UnknownKey { path: PathBuf, key: String },
    #[error("the configuration file {path}: `{key}` must be a string, number, boolean or list of them, not a table")]
    Table { path: PathBuf, key: String },
    #[error("{first} and {second} are both set {place}; set only one of them")]
    Both {
        first: String,
        second: String,
        place: String,
    },
    #[error("{name} names {path}, which cannot be read: {source}")]
    SecretFile {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} names {path}, which is empty")]
    EmptySecretFile { name: String, path: PathBuf },
}

/// A value as TOML can write it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileValue {
    Bool(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    List(Vec<FileValue>),
    /// Refused with an error of its own; only its shape matters.
    #[allow(dead_code)]
    Table(BTreeMap<String, FileValue>),
}

impl FileValue {
    fn render(&self) -> Option<String> {
        Some(match self {
            Self::Bool(value) => value.to_string(),
            Self::Integer(value) => value.to_string(),
            Self::Float(value) => value.to_string(),
            Self::Text(value) => value.clone(),
            Self::List(items) => items
                .iter()
                .map(Self::render)
                .collect::<Option<Vec<_>>>()?
                .join(","),
            Self::Table(_) => return None,
        })
    }
}

/// The file key of an environment variable.
pub fn file_key(variable: &str) -> String {
    variable
        .strip_prefix(PREFIX)
        .unwrap_or(variable)
        .to_ascii_lowercase()
}

/// The `*_FILE` variant of a variable.
pub fn file_variant(variable: &str) -> String {
    format!("{variable}_FILE")
}

/// Works out the environment variables to set: values from `config_file` for
/// settings the environment leaves unset, and secrets from their `*_FILE`
/// variants. `settable` is every variable the command line reads; `env`
/// answers what the environment holds (an empty value counts as unset, as an
/// empty variable from docker compose means "not set").
pub fn resolve(
    config_file: Option<&Path>,
    settable: &[String],
    secrets: &[SecretSetting],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, LayerError> {
    let env = |name: &str| env(name).filter(|value| !value.is_empty());
    let file = match config_file {
        Some(path) => read_file(path, settable, secrets)?,
        None => BTreeMap::new(),
    };
    let file_place = || match config_file {
        Some(path) => format!("in {}", path.display()),
        None => String::new(),
    };
    let mut assignments = Vec::new();
    for secret in secrets {
        let variant = file_variant(secret.name);
        let chosen = match (env(secret.name), env(&variant)) {
            (Some(_), Some(_)) => {
                return Err(LayerError::Both {
                    first: secret.name.to_owned(),
                    second: variant,
                    place: "in the environment".to_owned(),
                })
            }
            (Some(_), None) => None,
            (None, Some(path)) => Some(path),
            // The environment says nothing: the file's layer decides.
            (None, None) => match (file.get(secret.name), file.get(&variant)) {
                (Some(_), Some(_)) => {
                    return Err(LayerError::Both {
                        first: file_key(secret.name),
                        second: file_key(&variant),
                        place: file_place(),
                    })
                }
                (Some(value), None) => {
                    assignments.push((secret.name.to_owned(), value.clone()));
                    None
                }
                (None, Some(path)) => Some(path.clone()),
                (None, None) => None,
            },
        };
        if let Some(path) = chosen {
            let value = match secret.kind {
                SecretKind::Path => path,
                SecretKind::Value => read_secret(&variant, Path::new(&path))?,
            };
            assignments.push((secret.name.to_owned(), value));
        }
    }
    let is_secret = |name: &str| {
        secrets
            .iter()
            .any(|secret| secret.name == name || file_variant(secret.name) == name)
    };
    for (name, value) in &file {
        if !is_secret(name) && env(name).is_none() {
            assignments.push((name.clone(), value.clone()));
        }
    }
    Ok(assignments)
}

/// The file's settings by variable name.
fn read_file(
    path: &Path,
    settable: &[String],
    secrets: &[SecretSetting],
) -> Result<BTreeMap<String, String>, LayerError> {
    if !path.is_file() {
        return Err(LayerError::MissingFile(path.to_owned()));
    }
    let raw: BTreeMap<String, FileValue> = Figment::from(Toml::file_exact(path))
        .extract()
        .map_err(|source| LayerError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    for name in settable.iter().cloned().chain(
        secrets
            .iter()
            .flat_map(|secret| [secret.name.to_owned(), file_variant(secret.name)]),
    ) {
        by_key.insert(file_key(&name), name);
    }
    let mut settings = BTreeMap::new();
    for (key, value) in raw {
        let name = by_key.get(&key).ok_or_else(|| LayerError::UnknownKey {
            path: path.to_owned(),
            key: key.clone(),
        })?;
        let rendered = value.render().ok_or_else(|| LayerError::Table {
            path: path.to_owned(),
            key: key.clone(),
        })?;
        settings.insert(name.clone(), rendered);
    }
    Ok(settings)
}

/// A secret file's contents without the trailing newline editors and
/// `echo` leave.
fn read_secret(name: &str, path: &Path) -> Result<String, LayerError> {
    let contents = std::fs::read_to_string(path).map_err(|source| LayerError::SecretFile {
        name: name.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    let value = contents.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(LayerError::EmptySecretFile {
            name: name.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(value.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRETS: [SecretSetting; 2] = [
        SecretSetting {
            name: "DATABASE_URL",
            kind: SecretKind::Value,
        },
        SecretSetting {
            name: "ALERTLEDGER_SIGNING_KEY",
            kind: SecretKind::Path,
        },
    ];

    fn settable() -> Vec<String> {
        [
            "ALERTLEDGER_LISTEN",
            "ALERTLEDGER_FEED_BUFFER",
            "ALERTLEDGER_CORS_ORIGINS",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// A scratch directory of its own under the system's temp dir.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("alertledger-layers-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn run(
        file: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Result<HashMap<String, String>, LayerError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| env.get(name).cloned();
        resolve(file, &settable(), &SECRETS, &lookup).map(|a| a.into_iter().collect())
    }

    #[test]
    fn the_file_fills_what_the_environment_leaves_unset() {
        let dir = scratch("fill");
        let file = dir.join("config.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nfeed_buffer = 64\ncors_origins = [\"https://a.example\", \"https://b.example\"]\n",
        )
        .unwrap();
        let set = run(Some(&file), &[("ALERTLEDGER_LISTEN", "127.0.0.1:1")]).unwrap();
        // The environment outranks the file: nothing to set for LISTEN.
        assert_eq!(set.get("ALERTLEDGER_LISTEN"), None);
        assert_eq!(set["ALERTLEDGER_FEED_BUFFER"], "64");
        assert_eq!(
            set["ALERTLEDGER_CORS_ORIGINS"],
            "https://a.example,https://b.example"
        );
    }

    #[test]
    fn secret_files_are_read_and_trimmed_or_named() {
        let dir = scratch("secret");
        let secret = dir.join("db_url");
        std::fs::write(&secret, "postgres://u:p@db/x\n").unwrap();
        let file = dir.join("config.toml");
        std::fs::write(
            &file,
            format!(
                "database_url_file = {:?}\nsigning_key_file = \"/run/secrets/seal\"\n",
                secret.display().to_string()
            ),
        )
        .unwrap();
        let set = run(Some(&file), &[]).unwrap();
        assert_eq!(set["DATABASE_URL"], "postgres://u:p@db/x");
        assert_eq!(set["ALERTLEDGER_SIGNING_KEY"], "/run/secrets/seal");
        // From the environment as well.
        let set = run(None, &[("DATABASE_URL_FILE", secret.to_str().unwrap())]).unwrap();
        assert_eq!(set["DATABASE_URL"], "postgres://u:p@db/x");
    }

    #[test]
    fn a_secret_and_its_file_variant_together_are_refused_by_name() {
        let error = run(None, &[("DATABASE_URL", "x"), ("DATABASE_URL_FILE", "/y")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("DATABASE_URL and DATABASE_URL_FILE"),
            "{error}"
        );
        let dir = scratch("both");
        let file = dir.join("config.toml");
        std::fs::write(&file, "database_url = \"x\"\ndatabase_url_file = \"/y\"\n").unwrap();
        let error = run(Some(&file), &[]).unwrap_err().to_string();
        assert!(
            error.contains("database_url and database_url_file"),
            "{error}"
        );
        // A higher layer settles it: the environment's value wins, no error.
        assert!(run(Some(&file), &[("DATABASE_URL", "z")])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn unknown_keys_missing_files_and_empty_secrets_are_errors() {
        let dir = scratch("errors");
        let file = dir.join("config.toml");
        std::fs::write(&file, "lisen = \"0.0.0.0:1\"\n").unwrap();
        let error = run(Some(&file), &[]).unwrap_err().to_string();
        assert!(error.contains("unknown setting `lisen`"), "{error}");
        let error = run(Some(&dir.join("absent.toml")), &[]).unwrap_err();
        assert!(matches!(error, LayerError::MissingFile(_)));
        let empty = dir.join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let error = run(None, &[("DATABASE_URL_FILE", empty.to_str().unwrap())])
            .unwrap_err()
            .to_string();
        assert!(error.contains("is empty"), "{error}");
        std::fs::write(&file, "[server]\nlisten = \"x\"\n").unwrap();
        let error = run(Some(&file), &[]).unwrap_err().to_string();
        assert!(error.contains("unknown setting `server`"), "{error}");
    }
}
