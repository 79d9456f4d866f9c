//! Checkpoint files: a copy of every signed checkpoint outside the database,
//! in the directory the operator names (`ALERTLEDGER_CHECKPOINT_DIR`), so an
//! auditor holds tree heads that whoever controls the database cannot change
//! (docs/audit-bundle.md, "Checkpoint files").
//!
//! One file per checkpoint, `checkpoint-<tree size, 20 digits>.json`:
//! the checkpoint's fields as the API shows them (`tree_size`, `root_hash`,
//! `last_position`, `time_us`, `previous`, `key_id`, `signature`), the signed
//! `body` and the signer's `public_key_pem`, under `"format":
//! "alertledger-checkpoint-v1"`. Written atomically: a temporary file in the
//! same directory, fsync, rename, fsync of the directory. An existing file is
//! never replaced by a different one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use alertledger_seal::{PublicKey, SignedCheckpoint};
use serde::{Deserialize, Serialize};

/// The `format` of every checkpoint file.
pub const FORMAT: &str = "alertledger-checkpoint-v1";

/// One checkpoint file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointFile {
    pub format: String,
    #[serde(flatten)]
    pub signed: SignedCheckpoint,
    /// The exact text that was signed.
    pub body: String,
    /// The key that signed, as PEM (kept for the record, never trusted:
    /// verification takes its keys from the operator).
    pub public_key_pem: String,
}

/// A checkpoint file read back, with where it was.
#[derive(Debug, Clone)]
pub struct ReadCheckpointFile {
    pub path: PathBuf,
    pub signed: SignedCheckpoint,
}

/// Why the checkpoint directory could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a checkpoint file: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path} already holds a different checkpoint of the same tree size")]
    Conflict { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointFileError + '_ {
    move |source| CheckpointFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The file name of the checkpoint of `tree_size` leaves.
pub fn file_name(tree_size: u64) -> String {
    format!("checkpoint-{tree_size:020}.json")
}

/// The file's text for `signed`.
pub fn render(signed: &SignedCheckpoint, public_key: &PublicKey) -> Result<String, String> {
    let file = CheckpointFile {
        format: FORMAT.to_owned(),
        signed: signed.clone(),
        body: signed.checkpoint.body(),
        public_key_pem: public_key.to_pem().map_err(|e| e.to_string())?,
    };
    serde_json::to_string_pretty(&file)
        .map(|mut text| {
            text.push('\n');
            text
        })
        .map_err(|e| e.to_string())
}

/// Writes `signed`'s file into `directory` (created if missing) atomically;
/// returns its path. Writing the same checkpoint again is a no-op.
pub fn write(
    directory: &Path,
    signed: &SignedCheckpoint,
    public_key: &PublicKey,
) -> Result<PathBuf, CheckpointFileError> {
    fs::create_dir_all(directory).map_err(io(directory))?;
    let path = directory.join(file_name(signed.checkpoint.tree_size));
    let text = render(signed, public_key).map_err(|reason| CheckpointFileError::Invalid {
        path: path.clone(),
        reason,
    })?;
    if path.exists() {
        let existing = read_one(&path)?;
        return if existing.signed == *signed {
            Ok(path)
        } else {
            Err(CheckpointFileError::Conflict { path })
        };
    }
    let temporary = directory.join(format!(
        ".{}.tmp-{:016x}",
        file_name(signed.checkpoint.tree_size),
        rand::random::<u64>()
    ));
    let written = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, &path)?;
        // The rename itself is durable only once the directory is synced.
        fs::File::open(directory)?.sync_all()
    })();
    if let Err(source) = written {
        let _ = fs::remove_file(&temporary);
        return Err(CheckpointFileError::Io { path, source });
    }
    Ok(path)
}

/// Reads one checkpoint file.
pub fn read_one(path: &Path) -> Result<ReadCheckpointFile, CheckpointFileError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    let invalid = |reason: String| CheckpointFileError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let file: CheckpointFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if file.format != FORMAT {
        return Err(invalid(format!("unknown format {:?}", file.format)));
    }
    if file.body != file.signed.checkpoint.body() {
        return Err(invalid("its body does not match its fields".to_owned()));
    }
    Ok(ReadCheckpointFile {
        path: path.to_owned(),
        signed: file.signed,
    })
}

/// Every checkpoint file of `directory`, by tree size (an absent directory
/// holds none). Other files are ignored; a malformed checkpoint file is an
/// error naming it.
pub fn read_all(directory: &Path) -> Result<Vec<ReadCheckpointFile>, CheckpointFileError> {
    let entries = match fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io(directory)(error)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(directory))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("checkpoint-") && name.ends_with(".json") {
            files.push(read_one(&entry.path())?);
        }
    }
    files.sort_by_key(|file| file.signed.checkpoint.tree_size);
    Ok(files)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use alertledger_seal::{Checkpoint, CheckpointSigner, Hash};

    use super::*;

    fn signed(size: u64, root: u8) -> (SignedCheckpoint, PublicKey) {
        let signer = CheckpointSigner::from_seed([7; 32]);
        let signed = signer.sign(Checkpoint {
            tree_size: size,
            root_hash: Hash([root; 32]),
            last_position: 10,
            time_us: 1,
            previous: Hash::default(),
        });
        (signed, signer.public_key())
    }

    #[test]
    fn files_round_trip_in_tree_size_order_and_are_never_replaced() {
        let dir = std::env::temp_dir().join(format!("ckpt-files-{}", rand::random::<u64>()));
        let (second, key) = signed(20, 2);
        let (first, _) = signed(3, 1);
        write(&dir, &second, &key).unwrap();
        write(&dir, &first, &key).unwrap();
        // The same checkpoint again: fine; another of the same size: refused.
        write(&dir, &first, &key).unwrap();
        let (forged, _) = signed(3, 9);
        assert!(matches!(
            write(&dir, &forged, &key),
            Err(CheckpointFileError::Conflict { .. })
        ));
        let read = read_all(&dir).unwrap();
        let sizes: Vec<u64> = read.iter().map(|f| f.signed.checkpoint.tree_size).collect();
        assert_eq!(sizes, [3, 20]);
        assert_eq!(read[1].signed, second);
        assert!(read[0]
            .path
            .ends_with("checkpoint-00000000000000000003.json"));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        fs::remove_dir_all(&dir).unwrap();
    }
}
