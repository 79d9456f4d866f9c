//! Notification rules (API.md "Notifications"): which incident events notify
//! which channels (or start which escalation policy), matched on severity at
//! or above a floor, and on asset, signature and labels with Alertmanager
//! matchers (the maintenance windows' parser, [`Matcher`]).
//!
//! A [`RuleSpec`] is only built through [`RuleSpec::new`], which checks
//! every field and names the one that is wrong (`events[2]`, `matchers[0]`,
//! `channels`), so a command can never carry an invalid rule.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::maintenance::{AlertFacts, Matcher};
use crate::values::{NotificationChannelId, Severity};

/// The longest rule name, in characters.
pub const MAX_RULE_NAME_CHARS: usize = 100;
/// Most matchers of one rule.
pub const MAX_RULE_MATCHERS: usize = 20;
/// Most channels one rule notifies.
pub const MAX_RULE_CHANNELS: usize = 20;

/// An incident event a rule can react to (the API's spelling is stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleTrigger {
    IncidentOpened,
    IncidentEscalated,
    IncidentReopened,
    IncidentResolved,
    IncidentAcknowledged,
    ApprovalRequested,
    ExecutionFailed,
}

impl RuleTrigger {
    /// Every trigger, in API order.
    pub const ALL: [RuleTrigger; 7] = [
        Self::IncidentOpened,
        Self::IncidentEscalated,
        Self::IncidentReopened,
        Self::IncidentResolved,
        Self::IncidentAcknowledged,
        Self::ApprovalRequested,
        Self::ExecutionFailed,
    ];

    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IncidentOpened => "incident_opened",
            Self::IncidentEscalated => "incident_escalated",
            Self::IncidentReopened => "incident_reopened",
            Self::IncidentResolved => "incident_resolved",
            Self::IncidentAcknowledged => "incident_acknowledged",
            Self::ApprovalRequested => "approval_requested",
            Self::ExecutionFailed => "execution_failed",
        }
    }

    /// Reads the API's spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

/// Whom a matching rule tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleTarget {
    /// These channels of the tenant, each getting one notification.
    Channels(Vec<NotificationChannelId>),
    /// An escalation policy (issue 18's policies; its worker starts it).
    EscalationPolicy(Uuid),
}

/// A rule field that is wrong: the field (`events[1]`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

impl RuleError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A checked rule, as recorded in `NotificationRuleAdded`/`Changed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSpec {
    name: String,
    events: Vec<RuleTrigger>,
    min_severity: Option<Severity>,
    matchers: Vec<Matcher>,
    target: RuleTarget,
}

/// What a rule is matched against: the incident's facts.
#[derive(Debug, Clone, Copy)]
pub struct IncidentFacts<'a> {
    pub trigger: RuleTrigger,
    pub alert: AlertFacts<'a>,
}

impl RuleSpec {
    /// Checks a rule as the API receives it. `events` and `matchers` are the
    /// raw strings; `channels` and `escalation_policy` exclude each other.
    pub fn new(
        name: &str,
        events: &[String],
        min_severity: Option<&str>,
        matchers: &[String],
        channels: Option<&[String]>,
        escalation_policy: Option<&str>,
    ) -> Result<Self, RuleError> {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return Err(RuleError::new("name", "must not be empty"));
        }
        if trimmed.chars().count() > MAX_RULE_NAME_CHARS || trimmed.chars().any(char::is_control) {
            return Err(RuleError::new(
                "name",
                format!("must be at most {MAX_RULE_NAME_CHARS} characters, no control characters"),
            ));
        }
        if events.is_empty() {
            return Err(RuleError::new("events", "must name at least one event"));
        }
        let mut triggers = Vec::with_capacity(events.len());
        for (i, raw) in events.iter().enumerate() {
            let trigger = RuleTrigger::parse(raw).ok_or_else(|| {
                let accepted: Vec<&str> = RuleTrigger::ALL.iter().map(|t| t.as_str()).collect();
                RuleError::new(
                    format!("events[{i}]"),
                    format!("must be one of {}", accepted.join(", ")),
                )
            })?;
            if !triggers.contains(&trigger) {
                triggers.push(trigger);
            }
        }
        let min_severity = min_severity
            .map(|raw| {
                Severity::parse(raw).map_err(|e| RuleError::new("min_severity", e.problem()))
            })
            .transpose()?;
        if matchers.len() > MAX_RULE_MATCHERS {
            return Err(RuleError::new(
                "matchers",
                format!("at most {MAX_RULE_MATCHERS} matchers"),
            ));
        }
        let matchers = matchers
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                Matcher::parse(raw)
                    .map_err(|e| RuleError::new(format!("matchers[{i}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let target = match (channels, escalation_policy) {
            (Some(_), Some(_)) => {
                return Err(RuleError::new(
                    "escalation_policy",
                    "give either channels or escalation_policy, not both",
                ))
            }
            (None, None) => {
                return Err(RuleError::new(
                    "channels",
                    "give channels (channel ids) or escalation_policy",
                ))
            }
            (None, Some(policy)) => RuleTarget::EscalationPolicy(
                Uuid::try_parse(policy.trim())
                    .map_err(|_| RuleError::new("escalation_policy", "must be a UUID"))?,
            ),
            (Some(channels), None) => {
                if channels.is_empty() || channels.len() > MAX_RULE_CHANNELS {
                    return Err(RuleError::new(
                        "channels",
                        format!("must name 1 to {MAX_RULE_CHANNELS} channels"),
                    ));
                }
                let mut ids = Vec::with_capacity(channels.len());
                for (i, raw) in channels.iter().enumerate() {
                    let id = NotificationChannelId::parse(raw).map_err(|_| {
                        RuleError::new(format!("channels[{i}]"), "must be a channel id (UUID)")
                    })?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                RuleTarget::Channels(ids)
            }
        };
        Ok(Self {
            name: trimmed.to_owned(),
            events: triggers,
            min_severity,
            matchers,
            target,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn events(&self) -> &[RuleTrigger] {
        &self.events
    }

    pub fn min_severity(&self) -> Option<Severity> {
        self.min_severity
    }

    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    pub fn target(&self) -> &RuleTarget {
        &self.target
    }

    /// The channels the rule names (none for a policy rule).
    pub fn channels(&self) -> &[NotificationChannelId] {
        match &self.target {
            RuleTarget::Channels(ids) => ids,
            RuleTarget::EscalationPolicy(_) => &[],
        }
    }

    /// Whether an incident event matches: its trigger is one of the rule's
    /// events, its severity is at or above the floor, every matcher holds.
    pub fn matches(&self, facts: &IncidentFacts<'_>) -> bool {
        self.events.contains(&facts.trigger)
            && self
                .min_severity
                .is_none_or(|floor| facts.alert.severity.base_priority() >= floor.base_priority())
            && self.matchers.iter().all(|m| m.matches(&facts.alert))
    }
}
