//! What a runbook runs: an SSM document with its commands or parameters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{string_conversions, ValueError};

/// The document runbooks use when none is named.
pub const DEFAULT_DOCUMENT: &str = "AWS-RunShellScript";

/// Documents whose only required parameter is `commands`.
const SHELL_DOCUMENTS: &[&str] = &["AWS-RunShellScript", "AWS-RunPowerShellScript"];

/// Most commands one runbook may hold, and the longest command.
const MAX_COMMANDS: usize = 100;
const MAX_COMMAND_CHARS: usize = 4_096;
/// SSM caps a SendCommand's parameters well below this; keeping runbooks
/// smaller keeps events small too.
const MAX_TOTAL_BYTES: usize = 64 * 1024;

/// An SSM document: a name (3..=128 of letters, digits, `_`, `-`, `.`) or a
/// shared document's ARN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SsmDocumentName(String);

impl SsmDocumentName {
    /// Checks the name or ARN shape.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let value = raw.trim();
        let is_name = (3..=128).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        let is_arn = value.starts_with("arn:aws")
            && value.contains(":document/")
            && value.len() <= 2048
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if !(is_name || is_arn) {
            return Err(ValueError::new(
                "document",
                "must be an SSM document name like AWS-RunShellScript or a document ARN",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The document as SSM spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn is_shell(&self) -> bool {
        SHELL_DOCUMENTS.contains(&self.0.as_str())
    }
}

impl Default for SsmDocumentName {
    fn default() -> Self {
        Self(DEFAULT_DOCUMENT.to_owned())
    }
}

string_conversions!(SsmDocumentName);

/// What SendCommand receives: the document, its `commands`, and any other
/// parameters. Shell documents need commands; any document needs something
/// to run. Serde goes through [`RunbookAction::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RunbookActionFields", into = "RunbookActionFields")]
pub struct RunbookAction {
    document: SsmDocumentName,
    commands: Vec<String>,
    parameters: BTreeMap<String, Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct RunbookActionFields {
    document: SsmDocumentName,
    commands: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    parameters: BTreeMap<String, Vec<String>>,
}

impl RunbookAction {
    /// Checks the commands (1..=100 for shell documents, each 1..=4096
    /// characters without NUL) and parameter names (1..=64 letters, digits,
    /// `_`; `commands` goes in its own field).
    pub fn new(
        document: SsmDocumentName,
        commands: Vec<String>,
        parameters: BTreeMap<String, Vec<String>>,
    ) -> Result<Self, ValueError> {
        if commands.len() > MAX_COMMANDS {
            return Err(ValueError::new(
                "commands",
                format!("must hold at most {MAX_COMMANDS} commands"),
            ));
        }
        if commands.iter().any(|c| {
            c.trim().is_empty() || c.chars().count() > MAX_COMMAND_CHARS || c.contains('\0')
        }) {
            return Err(ValueError::new(
                "commands",
                format!("each command must be 1..={MAX_COMMAND_CHARS} characters without NUL"),
            ));
        }
        if document.is_shell() && commands.is_empty() {
            return Err(ValueError::new(
                "commands",
                format!("{} needs at least one command", document.as_str()),
            ));
        }
        if commands.is_empty() && parameters.is_empty() {
            return Err(ValueError::new(
                "parameters",
                "a runbook needs commands or parameters",
            ));
        }
        for (name, values) in &parameters {
            let name_ok = (1..=64).contains(&name.len())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name_ok || name == "commands" {
                return Err(ValueError::new(
                    "parameters",
                    format!("parameter name {name:?} must be 1..=64 letters, digits or '_' (put commands in \"commands\")"),
                ));
            }
            if values.iter().any(|v| v.contains('\0')) {
                return Err(ValueError::new("parameters", "values must not contain NUL"));
            }
        }
        let total: usize = commands.iter().map(String::len).sum::<usize>()
            + parameters
                .iter()
                .map(|(k, v)| k.len() + v.iter().map(String::len).sum::<usize>())
                .sum::<usize>();
        if total > MAX_TOTAL_BYTES {
            return Err(ValueError::new(
                "commands",
                format!("commands and parameters must total at most {MAX_TOTAL_BYTES} bytes"),
            ));
        }
        Ok(Self {
            document,
            commands,
            parameters,
        })
    }

    /// The SSM document.
    pub fn document(&self) -> &SsmDocumentName {
        &self.document
    }

    /// The shell commands (empty for documents without `commands`).
    pub fn commands(&self) -> &[String] {
        &self.commands
    }

    /// Other document parameters.
    pub fn parameters(&self) -> &BTreeMap<String, Vec<String>> {
        &self.parameters
    }

    /// Every SendCommand parameter, `commands` included.
    pub fn send_parameters(&self) -> BTreeMap<String, Vec<String>> {
        let mut all = self.parameters.clone();
        if !self.commands.is_empty() {
            all.insert("commands".to_owned(), self.commands.clone());
        }
        all
    }
}

impl TryFrom<RunbookActionFields> for RunbookAction {
    type Error = ValueError;

    fn try_from(fields: RunbookActionFields) -> Result<Self, Self::Error> {
        Self::new(fields.document, fields.commands, fields.parameters)
    }
}

impl From<RunbookAction> for RunbookActionFields {
    fn from(action: RunbookAction) -> Self {
        Self {
            document: action.document,
            commands: action.commands,
            parameters: action.parameters,
        }
    }
}
