//! Value types shared by the aggregates. Each one is built only through a
//! `parse`/`new` constructor that checks it, and serde goes through the same
//! constructor, so an invalid value can neither enter a command nor come back
//! out of the event store.

mod actor;
mod aws;
mod correlation;
mod enums;
mod ids;
mod ingestion;
mod labels;
mod policy;
mod priority;
mod runbook;
mod text;

#[cfg(test)]
mod tests;

pub use actor::Actor;
pub use aws::{AwsRoleConfig, InstanceId, SnsTopicArn, SsmCommandId, MAX_PINNED_SNS_TOPICS};
pub use correlation::{CorrelationDecision, CorrelationReason};
pub use enums::{AlertStatus, InvocationStatus, Risk, Role, Severity, WebhookSource};
pub use ids::{
    AlertId, ApiKeyId, ApprovalId, ExecutionId, HeartbeatId, IncidentId, RunbookId, TenantId,
    WebhookSecretId, WindowId, ALERT_DELIVERY_NAMESPACE,
};
pub use ids::{EscalationId, EscalationPolicyId, OverrideId, ScheduleId, ESCALATION_NAMESPACE};
pub use ids::{NotificationChannelId, NotificationId, NotificationRuleId};
pub use ingestion::{
    NormalizationWarning, SeverityMap, MAX_SEVERITY_MAP_ENTRIES, MAX_SEVERITY_WORD_CHARS,
};
pub use labels::Labels;
pub use policy::{AggregationKeyTemplate, CorrelationPolicy, FlappingPolicy, RateLimit};
pub use priority::PriorityScore;
pub use runbook::{RunbookAction, SsmDocumentName};
pub use text::{
    AlertMessage, AlertSignature, ApiKeyHash, ApiKeyLabel, AssetName, DeliveryKey, Fingerprint,
    Note, RunbookName, TenantName, TenantSlug, ToolSource, UserId,
};

/// Why a raw input could not become a value type; names the field so the API
/// can answer 422 with a message a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {problem}")]
pub struct ValueError {
    field: &'static str,
    problem: String,
}

impl ValueError {
    pub(crate) fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }

    /// The field that was rejected (e.g. `asset_name`), for error details.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it, as a human sentence fragment.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

/// Implements the string conversions every string-backed value type shares:
/// `Display`, `FromStr`, `TryFrom<String>` (used by serde) and `Into<String>`.
/// The type must have `fn parse(&str) -> Result<Self, ValueError>` and
/// `fn as_str(&self) -> &str`.
macro_rules! string_conversions {
    ($name:ident) => {
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::values::ValueError;

            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::parse(raw)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::values::ValueError;

            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_owned()
            }
        }
    };
}
pub(crate) use string_conversions;
