//! Rule evaluation for one incident event: first the single suppression
//! check ([`suppressed`]), then each of the tenant's rules in turn
//! ([`evaluate`]). Pure functions over folded state, so the same log gives
//! the same decisions.
//!
//! Where a matched rule *with an escalation policy* is recorded is
//! [`super::consumer`]'s `escalation_policy_matched`: the one place the
//! escalation worker hooks into.

use alertledger_domain::maintenance::AlertFacts;
use alertledger_domain::notification::{IncidentFacts, RuleSpec, RuleTarget, RuleTrigger};
use alertledger_domain::values::{Labels, NotificationChannelId, NotificationRuleId, Severity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the notifier knows of an incident (`notifier_incidents.facts`):
/// from `IncidentOpened` and its first alert, kept current by later events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSnapshot {
    pub asset: String,
    pub signature: String,
    pub severity: Severity,
    pub source: String,
    #[serde(default)]
    pub labels: Labels,
    /// The first alert's message: the title people read.
    pub title: String,
    pub priority: i64,
    /// `new`, `acknowledged`, `escalated`, `resolved`, ...
    pub status: String,
    /// Set while a silence (`IncidentSilenced`) holds the incident's key.
    #[serde(default)]
    pub silenced_until: Option<DateTime<Utc>>,
    /// Set while the correlator holds the incident as flapping
    /// (`IncidentFlapping` until `IncidentFlappingEnded`).
    #[serde(default)]
    pub flapping: bool,
    /// Acknowledged since it was (re)opened. Kept apart from `status`, which
    /// a later `IncidentEscalated` turns to `escalated` while the incident
    /// stays acknowledged. Snapshots written before this field read `false`
    /// (their `status` still says `acknowledged`; see [`level_overtaken`]).
    #[serde(default)]
    pub acknowledged: bool,
}

/// Why an incident event notifies nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppression {
    /// Someone silenced the incident's key until then (resolutions still go out).
    Silenced,
    /// The incident's key is flapping: nobody is told until it has been
    /// stable for the tenant's flapping window (resolutions still go out).
    Flapping,
}

impl Suppression {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Silenced => "silenced",
            Self::Flapping => "flapping",
        }
    }
}

/// THE suppression check of rule evaluation: every reason an incident event
/// notifies nobody goes here, and only here. Maintenance windows already
/// stop alerts before an incident opens (the correlator records
/// `AlertSuppressed`), so no incident event of theirs arrives.
pub fn suppressed(
    incident: &IncidentSnapshot,
    trigger: RuleTrigger,
    at: DateTime<Utc>,
) -> Option<Suppression> {
    if trigger == RuleTrigger::IncidentResolved {
        return None;
    }
    if incident.silenced_until.is_some_and(|until| at < until) {
        return Some(Suppression::Silenced);
    }
    if incident.flapping {
        return Some(Suppression::Flapping);
    }
    None
}

/// Why an escalation level recorded after the incident's acknowledgement or
/// resolution (in log order) pages nobody: the escalator checks the incident
/// before it writes, but an acknowledgement committed between its check and
/// its write is not seen by it. The notifier reads the log in order, so the
/// snapshot here is the incident as it stood just before the level's event:
/// if someone had acknowledged (or resolved) it by then, the level is moot.
///
/// This is not a quiet period (those go in [`suppressed`]): an incident
/// event a rule matches is still told after an acknowledgement (e.g. a
/// manual escalation); only a level of an escalation policy, whose whole
/// point is "nobody acknowledged in time", is refused.
pub fn level_overtaken(incident: &IncidentSnapshot) -> Option<&'static str> {
    if incident.status == "resolved" {
        Some("the incident was resolved before this level")
    } else if incident.acknowledged || incident.status == "acknowledged" {
        Some("the incident was acknowledged before this level")
    } else {
        None
    }
}

/// What a matching rule asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send one message on this channel.
    Notify {
        rule_id: NotificationRuleId,
        channel_id: NotificationChannelId,
    },
    /// Start this escalation policy for the incident.
    StartPolicy {
        rule_id: NotificationRuleId,
        policy_id: Uuid,
    },
}

/// The decisions of `rules` (in rule order) for one incident event that is
/// not suppressed. A channel named by several matching rules is told once.
pub fn evaluate(
    rules: &[(NotificationRuleId, RuleSpec)],
    incident: &IncidentSnapshot,
    trigger: RuleTrigger,
) -> Vec<Decision> {
    let facts = IncidentFacts {
        trigger,
        alert: AlertFacts {
            asset: &incident.asset,
            signature: &incident.signature,
            severity: incident.severity,
            source: &incident.source,
            labels: &incident.labels,
        },
    };
    let mut decisions: Vec<Decision> = Vec::new();
    for (rule_id, rule) in rules {
        if !rule.matches(&facts) {
            continue;
        }
        match rule.target() {
            RuleTarget::Channels(channels) => {
                for channel_id in channels {
                    let told = decisions.iter().any(|decision| {
                        matches!(decision, Decision::Notify { channel_id: seen, .. } if seen == channel_id)
                    });
                    if !told {
                        decisions.push(Decision::Notify {
                            rule_id: *rule_id,
                            channel_id: *channel_id,
                        });
                    }
                }
            }
            RuleTarget::EscalationPolicy(policy_id) => decisions.push(Decision::StartPolicy {
                rule_id: *rule_id,
                policy_id: *policy_id,
            }),
        }
    }
    decisions
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn incident(severity: Severity) -> IncidentSnapshot {
        IncidentSnapshot {
            asset: "srv-db-01".to_owned(),
            signature: "disk_full".to_owned(),
            severity,
            source: "prometheus".to_owned(),
            labels: Labels::default(),
            title: "disk full".to_owned(),
            priority: 90,
            status: "new".to_owned(),
            silenced_until: None,
            flapping: false,
            acknowledged: false,
        }
    }

    #[test]
    fn a_level_after_the_acknowledgement_or_resolution_is_overtaken() {
        let mut open = incident(Severity::Critical);
        assert_eq!(level_overtaken(&open), None);
        open.acknowledged = true;
        // Escalated by hand after the acknowledgement: still acknowledged.
        open.status = "escalated".to_owned();
        assert!(level_overtaken(&open).is_some());
        let mut resolved = incident(Severity::Critical);
        resolved.status = "resolved".to_owned();
        assert!(level_overtaken(&resolved).is_some());
        // A snapshot from before the `acknowledged` field.
        let mut older = incident(Severity::Critical);
        older.status = "acknowledged".to_owned();
        assert!(level_overtaken(&older).is_some());
    }

    #[test]
    fn a_flapping_incident_tells_nobody_but_its_resolution() {
        let now = Utc::now();
        let mut flapping = incident(Severity::Critical);
        flapping.flapping = true;
        for trigger in [
            RuleTrigger::IncidentOpened,
            RuleTrigger::IncidentEscalated,
            RuleTrigger::IncidentReopened,
            RuleTrigger::ApprovalRequested,
        ] {
            assert_eq!(
                suppressed(&flapping, trigger, now),
                Some(Suppression::Flapping)
            );
        }
        assert_eq!(
            suppressed(&flapping, RuleTrigger::IncidentResolved, now),
            None
        );
        flapping.flapping = false;
        assert_eq!(
            suppressed(&flapping, RuleTrigger::IncidentOpened, now),
            None
        );
    }

    fn rule(min: Option<&str>, matchers: &[&str], channels: &[Uuid]) -> RuleSpec {
        let events = vec!["incident_opened".to_owned()];
        let matchers: Vec<String> = matchers.iter().map(|m| (*m).to_owned()).collect();
        let channels: Vec<String> = channels.iter().map(Uuid::to_string).collect();
        RuleSpec::new("r", &events, min, &matchers, Some(&channels), None).unwrap()
    }

    #[test]
    fn severity_floor_matchers_and_events_decide_and_a_channel_is_told_once() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let rules = vec![
            (
                NotificationRuleId::from_uuid(Uuid::from_u128(10)),
                rule(Some("high"), &[], &[a]),
            ),
            (
                NotificationRuleId::from_uuid(Uuid::from_u128(11)),
                rule(None, &["asset=~\"srv-db-.*\""], &[a, b]),
            ),
            (
                NotificationRuleId::from_uuid(Uuid::from_u128(12)),
                rule(None, &["signature=\"cpu\""], &[b]),
            ),
        ];
        let critical = evaluate(
            &rules,
            &incident(Severity::Critical),
            RuleTrigger::IncidentOpened,
        );
        assert_eq!(critical.len(), 2);
        let low = evaluate(
            &rules,
            &incident(Severity::Low),
            RuleTrigger::IncidentOpened,
        );
        assert_eq!(low.len(), 2, "rule 11 still names both channels");
        assert!(evaluate(
            &rules,
            &incident(Severity::Critical),
            RuleTrigger::IncidentResolved
        )
        .is_empty());
    }

    #[test]
    fn a_silenced_incident_is_suppressed_except_for_its_resolution() {
        let now = Utc::now();
        let mut silenced = incident(Severity::High);
        silenced.silenced_until = Some(now + chrono::Duration::minutes(5));
        assert_eq!(
            suppressed(&silenced, RuleTrigger::IncidentEscalated, now),
            Some(Suppression::Silenced)
        );
        assert_eq!(
            suppressed(&silenced, RuleTrigger::IncidentResolved, now),
            None
        );
        assert_eq!(
            suppressed(
                &silenced,
                RuleTrigger::IncidentEscalated,
                now + chrono::Duration::minutes(6)
            ),
            None
        );
    }
}
