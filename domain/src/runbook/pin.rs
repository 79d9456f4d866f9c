//! What an approval approves: the runbook's version and a canonical SHA-256
//! of what would run (SSM document, commands, parameters, risk and the target
//! instances), pinned in the `ApprovalRequested` event. A grant and the run
//! it leads to are checked against the runbook as it stands then
//! ([`RunbookPin::check`]), so a runbook changed after the request never runs
//! under an approval given for its older self.
//!
//! The hash is taken over a length-prefixed byte encoding of the content
//! (not over JSON), so it does not depend on serde's field or map order and
//! stays the same across versions of this code. Its first bytes name the
//! encoding (`alertledger.runbook-content.v1`); a future encoding gets a new
//! name and old pins keep verifying with the old one.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Runbook, RunbookSpec};
use crate::values::{InstanceId, Risk};

/// The encoding the hash is taken over. Permanent.
const ENCODING: &str = "alertledger.runbook-content.v1";

/// What a runbook run does, as an approver reviews it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookContent {
    /// The SSM document.
    pub document: String,
    /// The shell commands, in order.
    pub commands: Vec<String>,
    /// Other document parameters.
    #[serde(default)]
    pub parameters: BTreeMap<String, Vec<String>>,
    pub risk: Risk,
    /// The instances it would run on (sorted; empty when the incident's asset
    /// had none registered at the time).
    #[serde(default)]
    pub instance_ids: Vec<InstanceId>,
}

impl RunbookContent {
    /// The content of `spec` run on `targets`.
    pub fn of(spec: &RunbookSpec, targets: &[InstanceId]) -> Self {
        let mut instance_ids = targets.to_vec();
        instance_ids.sort();
        instance_ids.dedup();
        Self {
            document: spec.action.document().as_str().to_owned(),
            commands: spec.action.commands().to_vec(),
            parameters: spec.action.parameters().clone(),
            risk: spec.risk,
            instance_ids,
        }
    }

    /// The lowercase hex SHA-256 of the canonical encoding.
    pub fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        let mut put = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        put(ENCODING.as_bytes());
        put(b"document");
        put(self.document.as_bytes());
        put(b"commands");
        put(&(self.commands.len() as u64).to_be_bytes());
        for command in &self.commands {
            put(command.as_bytes());
        }
        put(b"parameters");
        put(&(self.parameters.len() as u64).to_be_bytes());
        for (name, values) in &self.parameters {
            put(name.as_bytes());
            put(&(values.len() as u64).to_be_bytes());
            for value in values {
                put(value.as_bytes());
            }
        }
        put(b"risk");
        put(self.risk.as_str().as_bytes());
        put(b"instance_ids");
        put(&(self.instance_ids.len() as u64).to_be_bytes());
        for instance in &self.instance_ids {
            put(instance.as_str().as_bytes());
        }
        hex::encode(hasher.finalize())
    }

    /// The names of the parts that differ from `other`.
    fn differences(&self, other: &Self) -> Vec<&'static str> {
        let mut parts = Vec::new();
        if self.document != other.document {
            parts.push("document");
        }
        if self.commands != other.commands {
            parts.push("commands");
        }
        if self.parameters != other.parameters {
            parts.push("parameters");
        }
        if self.risk != other.risk {
            parts.push("risk");
        }
        if self.instance_ids != other.instance_ids {
            parts.push("target instances");
        }
        parts
    }
}

/// A runbook version and its content with the content's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookPin {
    /// 1 when defined, one more with each change.
    pub version: u64,
    pub content_sha256: String,
    pub content: RunbookContent,
}

impl RunbookPin {
    /// The pin of `content` at `version`, its hash computed.
    pub fn new(version: u64, content: RunbookContent) -> Self {
        Self {
            version,
            content_sha256: content.sha256(),
            content,
        }
    }

    /// The pin of `runbook` as it stands, run on `targets` (none for a
    /// runbook never defined).
    pub fn of(runbook: &Runbook, targets: &[InstanceId]) -> Option<Self> {
        let spec = runbook.spec()?;
        Some(Self::new(
            runbook.version(),
            RunbookContent::of(spec, targets),
        ))
    }

    /// Whether `current` runs exactly what this pin approved. The stored
    /// hash is recomputed too, so a pin whose content and hash disagree never
    /// matches.
    pub fn check(&self, current: &RunbookPin) -> Result<(), PinMismatch> {
        let intact = self.content.sha256() == self.content_sha256;
        if intact && self.content_sha256 == current.content.sha256() {
            return Ok(());
        }
        let mut changed = self.content.differences(&current.content);
        if changed.is_empty() {
            changed.push("content hash");
        }
        Err(PinMismatch {
            approved_version: self.version,
            current_version: current.version,
            changed,
        })
    }
}

/// Why a pinned approval does not cover the runbook as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinMismatch {
    pub approved_version: u64,
    pub current_version: u64,
    /// What differs: `document`, `commands`, `parameters`, `risk`, `target instances`.
    pub changed: Vec<&'static str>,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.changed.join(", ");
        if self.approved_version == self.current_version {
            // Same runbook version: what it runs on changed.
            write!(
                f,
                "{what} changed since approval was requested (runbook version {})",
                self.current_version
            )
        } else {
            write!(
                f,
                "runbook changed since approval was requested: version {} → {} ({what} changed)",
                self.approved_version, self.current_version
            )
        }
    }
}

impl std::error::Error for PinMismatch {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::values::{RunbookAction, SsmDocumentName};

    fn content() -> RunbookContent {
        RunbookContent {
            document: "AWS-RunShellScript".to_owned(),
            commands: vec!["systemctl restart app".to_owned()],
            parameters: BTreeMap::from([("executionTimeout".to_owned(), vec!["600".to_owned()])]),
            risk: Risk::Medium,
            instance_ids: vec![InstanceId::parse("i-0123456789abcdef0").unwrap()],
        }
    }

    #[test]
    fn the_hash_is_stable_across_builds() {
        // Pinned in stored events: this value must never change (checked
        // independently: the same length-prefixed bytes hashed in Python).
        assert_eq!(
            content().sha256(),
            "71a61633b056d1bdd4b20afc7b1d43ebcd62e9b1dedb7eea63c43c2f160843ce"
        );
    }

    #[test]
    fn every_part_of_the_content_changes_the_hash() {
        let base = content().sha256();
        let mut changes: Vec<RunbookContent> = Vec::new();
        let mut c = content();
        c.document = "AWS-RunPowerShellScript".to_owned();
        changes.push(c);
        let mut c = content();
        c.commands.push("reboot".to_owned());
        changes.push(c);
        let mut c = content();
        c.parameters.clear();
        changes.push(c);
        let mut c = content();
        c.risk = Risk::High;
        changes.push(c);
        let mut c = content();
        c.instance_ids
            .push(InstanceId::parse("i-0fffffffffffffff0").unwrap());
        changes.push(c);
        // Moving text between commands is a change, not the same bytes.
        let mut c = content();
        c.commands = vec!["systemctl restart".to_owned(), "app".to_owned()];
        changes.push(c);
        for changed in changes {
            assert_ne!(changed.sha256(), base, "{changed:?}");
        }
    }

    #[test]
    fn targets_are_pinned_in_sorted_order() {
        let spec = RunbookSpec {
            name: crate::values::RunbookName::parse("Restart").unwrap(),
            signature: crate::values::AlertSignature::parse("HighCPU").unwrap(),
            risk: Risk::High,
            action: RunbookAction::new(
                SsmDocumentName::default(),
                vec!["true".to_owned()],
                BTreeMap::new(),
            )
            .unwrap(),
            auto_execute: false,
        };
        let a = InstanceId::parse("i-0000000000000000a").unwrap();
        let b = InstanceId::parse("i-0000000000000000b").unwrap();
        assert_eq!(
            RunbookContent::of(&spec, &[b.clone(), a.clone()]),
            RunbookContent::of(&spec, &[a, b])
        );
    }

    #[test]
    fn a_mismatch_names_the_versions_and_what_changed() {
        let approved = RunbookPin::new(3, content());
        assert_eq!(approved.check(&approved.clone()), Ok(()));
        let mut changed = content();
        changed.commands = vec!["rm -rf /".to_owned()];
        let error = approved.check(&RunbookPin::new(4, changed)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "runbook changed since approval was requested: version 3 → 4 (commands changed)"
        );
        // A renamed runbook (new version, same content) is still approved.
        assert_eq!(approved.check(&RunbookPin::new(4, content())), Ok(()));
        // A pin whose hash does not match its content matches nothing.
        let mut forged = approved.clone();
        forged.content.commands = vec!["rm -rf /".to_owned()];
        assert!(forged.check(&RunbookPin::new(3, content())).is_err());
    }
}
