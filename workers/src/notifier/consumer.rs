//! [`Notifier`]: the log consumer that decides who is told. In the
//! transaction of its checkpoint it folds the tenants' channels and rules
//! (`notifier_channels`, `notifier_rules`) and the incidents' facts
//! (`notifier_incidents`), and for each incident event that a rule matches
//! records `NotificationRequested` with its outbox row, or
//! `NotificationPolicyMatched` for a rule with an escalation policy. So a
//! decision is recorded exactly once, and before anything is sent.
//!
//! Storm coalescing (per incident and channel, at most one message per
//! interval: the tenant's own, `NotificationSettingsChanged` folded into
//! `notifier_tenants`, or else [`NotifierSettings::coalesce_interval`]) is
//! decided here, on the events' recorded times, so it is the same on every
//! replay:
//! - while the pair's latest message is pending and not yet attempted, the
//!   new one joins its digest (`held_back`) instead of becoming a message;
//! - else, within the interval after the latest message's slot, a new
//!   message is requested for the next slot (`due_at` = slot + interval)
//!   and what follows before then joins its digest;
//! - else it is due at once.
//!
//! PagerDuty channels are not coalesced: PagerDuty folds messages itself by
//! `dedup_key` (the incident id), and every trigger, acknowledge and resolve
//! must reach it to keep its incident in step.

use std::collections::HashMap;

use alertledger_domain::approval::ApprovalEvent;
use alertledger_domain::escalation::{
    Escalation, EscalationCause, EscalationCommand, EscalationError, EscalationEvent,
};
use alertledger_domain::execution::ExecutionEvent;
use alertledger_domain::incident::IncidentEvent;
use alertledger_domain::notification::{
    ChannelSettings, ChannelType, NotificationDelivery, NotificationDeliveryCommand,
    NotificationSetupEvent, RuleSpec, RuleTrigger,
};
use alertledger_domain::values::{
    EscalationId, EscalationPolicyId, IncidentId, Labels, NotificationChannelId,
    NotificationRuleId, TenantId,
};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::{ConsumerError, LogConsumer, Target};
use alertledger_eventstore::log::LogEvent;
use alertledger_eventstore::unit_of_work::{Loaded, UnitOfWork};
use alertledger_notify::{Notification, NotificationKind};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::rules::{evaluate, level_overtaken, suppressed, Decision, IncidentSnapshot};
use super::NotifierSettings;
use crate::remediation::{derived_id, worker_actor, worker_metadata};

/// The notifier's checkpoint name and its actor in the audit trail.
pub const NOTIFIER: &str = "notifier";

const EVENT_TYPES: &[&str] = &[
    NotificationSetupEvent::CHANNEL_ADDED,
    NotificationSetupEvent::CHANNEL_REMOVED,
    NotificationSetupEvent::CHANNEL_UPDATED,
    NotificationSetupEvent::RULE_ADDED,
    NotificationSetupEvent::RULE_CHANGED,
    NotificationSetupEvent::RULE_REMOVED,
    NotificationSetupEvent::SETTINGS_CHANGED,
    IncidentEvent::OPENED,
    IncidentEvent::PRIORITY_CHANGED,
    IncidentEvent::ACKNOWLEDGED,
    IncidentEvent::SILENCED,
    IncidentEvent::ESCALATED,
    IncidentEvent::RESOLVED,
    IncidentEvent::REOPENED,
    IncidentEvent::FLAPPING,
    IncidentEvent::FLAPPING_ENDED,
    ApprovalEvent::REQUESTED,
    ExecutionEvent::FAILED,
    ExecutionEvent::TIMED_OUT,
    EscalationEvent::LEVEL_REACHED,
];

/// The incident events people are told about (imported ones were told
/// where they came from).
const DECIDES_ON: &[&str] = &[
    IncidentEvent::OPENED,
    IncidentEvent::ACKNOWLEDGED,
    IncidentEvent::ESCALATED,
    IncidentEvent::RESOLVED,
    IncidentEvent::REOPENED,
    ApprovalEvent::REQUESTED,
    ExecutionEvent::FAILED,
    ExecutionEvent::TIMED_OUT,
    EscalationEvent::LEVEL_REACHED,
];

/// The notifier as a [`LogConsumer`].
pub struct Notifier {
    services: DomainServices,
    settings: NotifierSettings,
}

impl Notifier {
    pub fn new(services: DomainServices, settings: NotifierSettings) -> Self {
        Self { services, settings }
    }
}

#[async_trait]
impl LogConsumer for Notifier {
    fn name(&self) -> &'static str {
        NOTIFIER
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "notifier_channels",
            "notifier_rules",
            "notifier_tenants",
            "notifier_incidents",
            "notification_outbox",
            "notification_attempts",
        ]
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(EVENT_TYPES)
    }

    fn decides_on(&self) -> &'static [&'static str] {
        DECIDES_ON
    }

    /// It appends events (its requests): replaying would request again.
    fn rebuildable(&self) -> bool {
        false
    }

    fn appends_events(&self) -> bool {
        true
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ConsumerError> {
        let mut batch = Batch {
            conn,
            target,
            notifier: self,
            work: UnitOfWork::default(),
            escalations: HashMap::new(),
            intervals: HashMap::new(),
        };
        for event in events {
            batch.apply(event).await?;
        }
        let Batch { conn, mut work, .. } = batch;
        work.write(conn).await?;
        Ok(())
    }
}

/// One batch: its connection and the events it stages.
struct Batch<'a> {
    conn: &'a mut PgConnection,
    target: &'a Target,
    notifier: &'a Notifier,
    work: UnitOfWork,
    /// Escalations this batch started, as staged (a second start of one in
    /// the same batch must see the first).
    escalations: HashMap<String, Loaded<Escalation>>,
    /// Each tenant's coalescing interval as folded so far (read once per
    /// batch, kept current by the batch's own settings changes).
    intervals: HashMap<TenantId, chrono::Duration>,
}

/// An incident event people may be told about.
struct Occurrence {
    tenant_id: TenantId,
    incident_id: IncidentId,
    trigger: RuleTrigger,
    reason: Option<String>,
}

impl Batch<'_> {
    async fn apply(&mut self, event: &LogEvent) -> Result<(), ConsumerError> {
        let occurrence = match event.aggregate_type.as_str() {
            "NotificationSetup" => {
                self.setup_changed(event, decode(event)?).await?;
                None
            }
            "Incident" => self.incident_changed(event, decode(event)?).await?,
            "Escalation" => {
                if let EscalationEvent::EscalationLevelReached {
                    tenant_id,
                    incident_id,
                    targets,
                    reason,
                    ..
                } = decode(event)?
                {
                    return self
                        .level_reached(event, tenant_id, incident_id, targets, reason)
                        .await;
                }
                None
            }
            "Approval" => match decode(event)? {
                ApprovalEvent::ApprovalRequested {
                    tenant_id,
                    incident_id,
                    risk,
                    ..
                } => Some(Occurrence {
                    tenant_id,
                    incident_id,
                    trigger: RuleTrigger::ApprovalRequested,
                    reason: Some(format!(
                        "a {} risk runbook waits for approval",
                        risk.as_str()
                    )),
                }),
                _ => None,
            },
            "Execution" => match decode(event)? {
                ExecutionEvent::ExecutionFailed {
                    tenant_id,
                    incident_id,
                    reason,
                    ..
                } => Some(Occurrence {
                    tenant_id,
                    incident_id,
                    trigger: RuleTrigger::ExecutionFailed,
                    reason: Some(reason),
                }),
                ExecutionEvent::ExecutionTimedOut {
                    tenant_id,
                    incident_id,
                    ..
                } => Some(Occurrence {
                    tenant_id,
                    incident_id,
                    trigger: RuleTrigger::ExecutionFailed,
                    reason: Some("the runbook execution timed out".to_owned()),
                }),
                _ => None,
            },
            _ => None,
        };
        match occurrence {
            Some(occurrence) => self.occurred(event, occurrence).await,
            None => Ok(()),
        }
    }

    /// Folds a channel or rule change.
    async fn setup_changed(
        &mut self,
        _event: &LogEvent,
        change: NotificationSetupEvent,
    ) -> Result<(), ConsumerError> {
        let channels = self.target.table("notifier_channels");
        let rules = self.target.table("notifier_rules");
        match change {
            NotificationSetupEvent::NotificationChannelAdded {
                tenant_id,
                channel_id,
                name,
                settings,
                ..
            }
            | NotificationSetupEvent::NotificationChannelUpdated {
                tenant_id,
                channel_id,
                name,
                settings,
                ..
            } => {
                sqlx::query(&format!(
                    "INSERT INTO {channels} (channel_id, tenant_id, channel_type, name, settings)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (channel_id) DO UPDATE
                        SET name = EXCLUDED.name, settings = EXCLUDED.settings,
                            channel_type = EXCLUDED.channel_type"
                ))
                .bind(channel_id.as_uuid())
                .bind(tenant_id.as_uuid())
                .bind(settings.channel_type().as_str())
                .bind(name.as_str())
                .bind(Json(&settings))
                .execute(&mut *self.conn)
                .await?;
            }
            NotificationSetupEvent::NotificationChannelRemoved {
                tenant_id,
                channel_id,
                ..
            } => {
                sqlx::query(&format!(
                    "DELETE FROM {channels} WHERE channel_id = $1 AND tenant_id = $2"
                ))
                .bind(channel_id.as_uuid())
                .bind(tenant_id.as_uuid())
                .execute(&mut *self.conn)
                .await?;
            }
            NotificationSetupEvent::NotificationRuleAdded {
                tenant_id,
                rule_id,
                rule,
                ..
            }
            | NotificationSetupEvent::NotificationRuleChanged {
                tenant_id,
                rule_id,
                rule,
                ..
            } => {
                sqlx::query(&format!(
                    "INSERT INTO {rules} (rule_id, tenant_id, rule) VALUES ($1, $2, $3)
                     ON CONFLICT (rule_id) DO UPDATE SET rule = EXCLUDED.rule"
                ))
                .bind(rule_id.as_uuid())
                .bind(tenant_id.as_uuid())
                .bind(Json(&rule))
                .execute(&mut *self.conn)
                .await?;
            }
            NotificationSetupEvent::NotificationRuleRemoved {
                tenant_id, rule_id, ..
            } => {
                sqlx::query(&format!(
                    "DELETE FROM {rules} WHERE rule_id = $1 AND tenant_id = $2"
                ))
                .bind(rule_id.as_uuid())
                .bind(tenant_id.as_uuid())
                .execute(&mut *self.conn)
                .await?;
            }
            NotificationSetupEvent::NotificationSettingsChanged {
                tenant_id,
                coalesce_seconds,
                ..
            } => {
                let seconds = coalesce_seconds.map(i64::from);
                sqlx::query(&format!(
                    "INSERT INTO {} (tenant_id, coalesce_seconds) VALUES ($1, $2)
                     ON CONFLICT (tenant_id) DO UPDATE SET coalesce_seconds = EXCLUDED.coalesce_seconds",
                    self.target.table("notifier_tenants")
                ))
                .bind(tenant_id.as_uuid())
                .bind(seconds.and_then(|s| i32::try_from(s).ok()))
                .execute(&mut *self.conn)
                .await?;
                let interval = match seconds {
                    Some(seconds) => chrono::Duration::seconds(seconds),
                    None => process_interval(&self.notifier.settings),
                };
                self.intervals.insert(tenant_id, interval);
            }
        }
        Ok(())
    }

    /// Folds an incident event into its snapshot; the occurrence to tell
    /// people about, if it is one.
    async fn incident_changed(
        &mut self,
        event: &LogEvent,
        change: IncidentEvent,
    ) -> Result<Option<Occurrence>, ConsumerError> {
        let incident_id = IncidentId::from_uuid(parse_uuid(event)?);
        let tenant_id = change.tenant_id();
        if let IncidentEvent::IncidentOpened {
            first_alert,
            asset,
            signature,
            severity,
            priority,
            tool_source,
            ..
        } = &change
        {
            let (title, labels) = self.first_alert(first_alert.as_uuid()).await?;
            let snapshot = IncidentSnapshot {
                asset: asset.as_str().to_owned(),
                signature: signature.as_str().to_owned(),
                severity: *severity,
                source: tool_source.as_str().to_owned(),
                labels,
                title: title
                    .unwrap_or_else(|| format!("{} on {}", signature.as_str(), asset.as_str())),
                priority: i64::from(priority.value()),
                status: "new".to_owned(),
                silenced_until: None,
                flapping: false,
                acknowledged: false,
            };
            self.save(tenant_id, incident_id, &snapshot).await?;
            return Ok(Some(Occurrence {
                tenant_id,
                incident_id,
                trigger: RuleTrigger::IncidentOpened,
                reason: None,
            }));
        }
        let Some(mut snapshot) = self.snapshot(incident_id).await? else {
            // Opened before the notifier existed (or imported): nothing to say.
            return Ok(None);
        };
        let (trigger, reason) = match change {
            IncidentEvent::PriorityChanged { to, .. } => {
                snapshot.priority = i64::from(to.value());
                (None, None)
            }
            IncidentEvent::IncidentSilenced { until, .. } => {
                snapshot.silenced_until = Some(until);
                (None, None)
            }
            IncidentEvent::IncidentFlapping { .. } => {
                snapshot.flapping = true;
                (None, None)
            }
            IncidentEvent::IncidentFlappingEnded { .. } => {
                snapshot.flapping = false;
                (None, None)
            }
            IncidentEvent::IncidentAcknowledged { actor, .. } => {
                snapshot.status = "acknowledged".to_owned();
                snapshot.acknowledged = true;
                (
                    Some(RuleTrigger::IncidentAcknowledged),
                    Some(format!("acknowledged by {}", actor.name())),
                )
            }
            IncidentEvent::IncidentEscalated { reason, .. } => {
                snapshot.status = "escalated".to_owned();
                (
                    Some(RuleTrigger::IncidentEscalated),
                    Some(reason.as_str().to_owned()),
                )
            }
            IncidentEvent::IncidentResolved { note, .. } => {
                snapshot.status = "resolved".to_owned();
                (
                    Some(RuleTrigger::IncidentResolved),
                    note.map(|note| note.as_str().to_owned()),
                )
            }
            IncidentEvent::IncidentReopened { reason, .. } => {
                snapshot.status = "new".to_owned();
                snapshot.acknowledged = false;
                (
                    Some(RuleTrigger::IncidentReopened),
                    reason.map(|note| note.as_str().to_owned()),
                )
            }
            _ => (None, None),
        };
        self.save(tenant_id, incident_id, &snapshot).await?;
        Ok(trigger.map(|trigger| Occurrence {
            tenant_id,
            incident_id,
            trigger,
            reason,
        }))
    }

    /// The first alert's message and labels (from its `AlertReceived`).
    async fn first_alert(
        &mut self,
        alert_id: &Uuid,
    ) -> Result<(Option<String>, Labels), ConsumerError> {
        let row: Option<(Option<String>, Option<Json<Labels>>)> = sqlx::query_as(
            "SELECT payload->'AlertReceived'->>'message', payload->'AlertReceived'->'labels'
               FROM events
              WHERE aggregate_type = 'Alert' AND aggregate_id = $1 AND event_type = 'AlertReceived'
              LIMIT 1",
        )
        .bind(alert_id.to_string())
        .fetch_optional(&mut *self.conn)
        .await?;
        Ok(match row {
            Some((message, labels)) => (message, labels.map(|Json(l)| l).unwrap_or_default()),
            None => (None, Labels::default()),
        })
    }

    async fn snapshot(
        &mut self,
        incident_id: IncidentId,
    ) -> Result<Option<IncidentSnapshot>, ConsumerError> {
        let row: Option<Json<IncidentSnapshot>> = sqlx::query_scalar(&format!(
            "SELECT facts FROM {} WHERE incident_id = $1",
            self.target.table("notifier_incidents")
        ))
        .bind(incident_id.as_uuid())
        .fetch_optional(&mut *self.conn)
        .await?;
        Ok(row.map(|Json(snapshot)| snapshot))
    }

    async fn save(
        &mut self,
        tenant_id: TenantId,
        incident_id: IncidentId,
        snapshot: &IncidentSnapshot,
    ) -> Result<(), ConsumerError> {
        sqlx::query(&format!(
            "INSERT INTO {} (incident_id, tenant_id, facts) VALUES ($1, $2, $3)
             ON CONFLICT (incident_id) DO UPDATE SET facts = EXCLUDED.facts",
            self.target.table("notifier_incidents")
        ))
        .bind(incident_id.as_uuid())
        .bind(tenant_id.as_uuid())
        .bind(Json(snapshot))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Evaluates the tenant's rules for one incident event and records what
    /// they decide.
    async fn occurred(
        &mut self,
        event: &LogEvent,
        occurrence: Occurrence,
    ) -> Result<(), ConsumerError> {
        let Some(snapshot) = self.snapshot(occurrence.incident_id).await? else {
            return Ok(());
        };
        if let Some(why) = suppressed(&snapshot, occurrence.trigger, event.recorded_at) {
            tracing::debug!(
                incident_id = %occurrence.incident_id,
                trigger = occurrence.trigger.as_str(),
                suppression = why.as_str(),
                "notification suppressed"
            );
            return Ok(());
        }
        let rules = self.rules(occurrence.tenant_id).await?;
        for decision in evaluate(&rules, &snapshot, occurrence.trigger) {
            match decision {
                Decision::Notify {
                    rule_id,
                    channel_id,
                } => {
                    self.notify(event, &occurrence, &snapshot, Some(rule_id), channel_id)
                        .await?;
                }
                Decision::StartPolicy { rule_id, policy_id } => {
                    self.escalation_policy_matched(event, &occurrence, rule_id, policy_id)
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn rules(
        &mut self,
        tenant_id: TenantId,
    ) -> Result<Vec<(NotificationRuleId, RuleSpec)>, ConsumerError> {
        let rows: Vec<(Uuid, Json<RuleSpec>)> = sqlx::query_as(&format!(
            "SELECT rule_id, rule FROM {} WHERE tenant_id = $1 ORDER BY rule_id",
            self.target.table("notifier_rules")
        ))
        .bind(tenant_id.as_uuid())
        .fetch_all(&mut *self.conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, Json(rule))| (NotificationRuleId::from_uuid(id), rule))
            .collect())
    }

    /// A rule whose target is escalation policy `policy_id` matched an event
    /// of the incident: recorded as `NotificationPolicyMatched` (id derived
    /// from the event and the rule, so once), and the policy's escalation of
    /// the incident starts in the same transaction (`EscalationStarted`; the
    /// escalator then records each level reached, which
    /// [`Self::level_reached`] turns into messages). One already running for
    /// the pair is left alone.
    async fn escalation_policy_matched(
        &mut self,
        event: &LogEvent,
        occurrence: &Occurrence,
        rule_id: NotificationRuleId,
        policy_id: Uuid,
    ) -> Result<(), ConsumerError> {
        let id = derived_id(
            "notification-policy",
            &[position_uuid(event.position), *rule_id.as_uuid()],
        );
        let command = NotificationDeliveryCommand::MatchPolicy {
            tenant_id: occurrence.tenant_id,
            incident_id: occurrence.incident_id,
            rule_id,
            policy_id,
            trigger: occurrence.trigger,
        };
        self.record(event, id, command, occurrence.incident_id)
            .await?;
        self.start_escalation(event, occurrence, rule_id, policy_id)
            .await
    }

    async fn start_escalation(
        &mut self,
        event: &LogEvent,
        occurrence: &Occurrence,
        rule_id: NotificationRuleId,
        policy_id: Uuid,
    ) -> Result<(), ConsumerError> {
        let policy_id = EscalationPolicyId::from_uuid(policy_id);
        let id = EscalationId::for_incident(&occurrence.incident_id, &policy_id).to_string();
        if !self.escalations.contains_key(&id) {
            let loaded = self
                .work
                .load::<Escalation>(&mut *self.conn, std::slice::from_ref(&id))
                .await
                .map_err(|error| ConsumerError::event(event, error.to_string()))?;
            self.escalations.extend(loaded);
        }
        let actor = worker_actor(NOTIFIER).map_err(|error| ConsumerError::event(event, error))?;
        let command = EscalationCommand::StartEscalation {
            tenant_id: occurrence.tenant_id,
            incident_id: occurrence.incident_id,
            policy_id,
            cause: EscalationCause::Rule {
                rule_id: *rule_id.as_uuid(),
                event_type: event.event_type.clone(),
                position: Some(event.position),
            },
            actor,
        };
        let metadata = worker_metadata(
            NOTIFIER,
            Some(event.position),
            Some(*occurrence.incident_id.as_uuid()),
        );
        let escalation = self.escalations.entry(id.clone()).or_default();
        match self
            .work
            .execute(&id, escalation, command, &self.notifier.services, &metadata)
            .await
        {
            Ok(_) | Err(EscalationError::AlreadyRunning) => Ok(()),
            Err(error) => Err(ConsumerError::event(event, error)),
        }
    }

    /// A level of an escalation was reached: one message on each target's
    /// channel (an on-call participant's, for a schedule level), through
    /// the same suppression check and coalescing as a rule's; none when the
    /// incident was acknowledged or resolved before the level in log order.
    async fn level_reached(
        &mut self,
        event: &LogEvent,
        tenant_id: TenantId,
        incident_id: IncidentId,
        targets: Vec<alertledger_domain::escalation::EscalationTarget>,
        reason: String,
    ) -> Result<(), ConsumerError> {
        let Some(snapshot) = self.snapshot(incident_id).await? else {
            return Ok(());
        };
        if let Some(why) = level_overtaken(&snapshot) {
            // Recorded by an escalator that checked the incident just before
            // the acknowledgement committed: nobody is paged for it (the
            // escalator stops the escalation at its next round).
            tracing::info!(
                tenant_id = %tenant_id,
                incident_id = %incident_id,
                position = event.position,
                why,
                "escalation level pages nobody"
            );
            return Ok(());
        }
        let occurrence = Occurrence {
            tenant_id,
            incident_id,
            trigger: RuleTrigger::IncidentEscalated,
            reason: Some(reason),
        };
        if let Some(why) = suppressed(&snapshot, occurrence.trigger, event.recorded_at) {
            tracing::debug!(
                incident_id = %incident_id,
                suppression = why.as_str(),
                "escalation level's notifications suppressed"
            );
            return Ok(());
        }
        let mut told = Vec::with_capacity(targets.len());
        for target in targets {
            if told.contains(&target.channel_id) {
                continue;
            }
            told.push(target.channel_id);
            self.notify(event, &occurrence, &snapshot, None, target.channel_id)
                .await?;
        }
        Ok(())
    }

    /// Requests one message on one channel, or folds it into the digest of
    /// the pair's pending message (see the module doc).
    async fn notify(
        &mut self,
        event: &LogEvent,
        occurrence: &Occurrence,
        snapshot: &IncidentSnapshot,
        rule_id: Option<NotificationRuleId>,
        channel_id: NotificationChannelId,
    ) -> Result<(), ConsumerError> {
        let channel: Option<Json<ChannelSettings>> = sqlx::query_scalar(&format!(
            "SELECT settings FROM {} WHERE channel_id = $1 AND tenant_id = $2",
            self.target.table("notifier_channels")
        ))
        .bind(channel_id.as_uuid())
        .bind(occurrence.tenant_id.as_uuid())
        .fetch_optional(&mut *self.conn)
        .await?;
        let Some(Json(settings)) = channel else {
            // Removed since the rule was written: nobody to tell there.
            return Ok(());
        };
        let channel_type = settings.channel_type();
        let at = event.recorded_at;
        let notification_id = derived_id(
            "notification",
            &[position_uuid(event.position), *channel_id.as_uuid()],
        );
        let message = self.message(notification_id, occurrence, snapshot, at);
        let outbox = self.target.table("notification_outbox");
        let mut slot = at;
        if channel_type != ChannelType::Pagerduty {
            let last: Option<(Uuid, String, i32, DateTime<Utc>)> = sqlx::query_as(&format!(
                "SELECT notification_id, status, attempts, slot_at FROM {outbox}
                  WHERE incident_id = $1 AND channel_id = $2
                  ORDER BY slot_at DESC LIMIT 1 FOR UPDATE"
            ))
            .bind(occurrence.incident_id.as_uuid())
            .bind(channel_id.as_uuid())
            .fetch_optional(&mut *self.conn)
            .await?;
            if let Some((last_id, status, attempts, last_slot)) = last {
                if status == "pending" && attempts == 0 {
                    sqlx::query(&format!(
                        "UPDATE {outbox} SET held_back = held_back || jsonb_build_array($2::text)
                          WHERE notification_id = $1"
                    ))
                    .bind(last_id)
                    .bind(message.summary())
                    .execute(&mut *self.conn)
                    .await?;
                    return Ok(());
                }
                let next = last_slot + self.interval(occurrence.tenant_id).await?;
                if at < next {
                    slot = next;
                }
            }
        }
        sqlx::query(&format!(
            "INSERT INTO {outbox} (notification_id, tenant_id, incident_id, channel_id, channel_type,
                                   message, slot_at, due_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)"
        ))
        .bind(notification_id)
        .bind(occurrence.tenant_id.as_uuid())
        .bind(occurrence.incident_id.as_uuid())
        .bind(channel_id.as_uuid())
        .bind(channel_type.as_str())
        .bind(Json(&message))
        .bind(slot)
        .bind(at)
        .execute(&mut *self.conn)
        .await?;
        let command = NotificationDeliveryCommand::Request {
            tenant_id: occurrence.tenant_id,
            incident_id: occurrence.incident_id,
            channel_id,
            channel_type,
            rule_id,
            trigger: occurrence.trigger,
            due_at: slot,
        };
        self.record(event, notification_id, command, occurrence.incident_id)
            .await
    }

    /// The tenant's coalescing interval: its own (`PUT .../notification-settings`)
    /// or, unset, the process's.
    async fn interval(&mut self, tenant_id: TenantId) -> Result<chrono::Duration, ConsumerError> {
        if let Some(interval) = self.intervals.get(&tenant_id) {
            return Ok(*interval);
        }
        let own: Option<Option<i32>> = sqlx::query_scalar(&format!(
            "SELECT coalesce_seconds FROM {} WHERE tenant_id = $1",
            self.target.table("notifier_tenants")
        ))
        .bind(tenant_id.as_uuid())
        .fetch_optional(&mut *self.conn)
        .await?;
        let interval = match own.flatten() {
            Some(seconds) => chrono::Duration::seconds(i64::from(seconds)),
            None => process_interval(&self.notifier.settings),
        };
        self.intervals.insert(tenant_id, interval);
        Ok(interval)
    }

    /// Stages one command on a new `NotificationDelivery`.
    async fn record(
        &mut self,
        event: &LogEvent,
        id: Uuid,
        command: NotificationDeliveryCommand,
        incident_id: IncidentId,
    ) -> Result<(), ConsumerError> {
        let mut fresh = Loaded::<NotificationDelivery>::default();
        let metadata =
            worker_metadata(NOTIFIER, Some(event.position), Some(*incident_id.as_uuid()));
        self.work
            .execute(
                &id.to_string(),
                &mut fresh,
                command,
                &self.notifier.services,
                &metadata,
            )
            .await
            .map_err(|error| ConsumerError::event(event, error))?;
        Ok(())
    }

    fn message(
        &self,
        id: Uuid,
        occurrence: &Occurrence,
        snapshot: &IncidentSnapshot,
        at: DateTime<Utc>,
    ) -> Notification {
        Notification {
            id,
            kind: kind_of(occurrence.trigger),
            tenant_id: *occurrence.tenant_id.as_uuid(),
            incident_id: *occurrence.incident_id.as_uuid(),
            title: snapshot.title.clone(),
            severity: snapshot.severity.as_str().to_owned(),
            priority: Some(snapshot.priority),
            asset: snapshot.asset.clone(),
            signature: snapshot.signature.clone(),
            status: snapshot.status.clone(),
            link: self.notifier.settings.link_base.as_ref().map(|base| {
                format!(
                    "{}/incidents/{}",
                    base.trim_end_matches('/'),
                    occurrence.incident_id
                )
            }),
            reason: occurrence.reason.clone(),
            at,
            held_back: Vec::new(),
        }
    }
}

/// The process's coalescing interval (`ALERTLEDGER_NOTIFY_COALESCE_SECONDS`).
fn process_interval(settings: &NotifierSettings) -> chrono::Duration {
    chrono::Duration::from_std(settings.coalesce_interval).unwrap_or(chrono::Duration::zero())
}

/// What a message says it is about.
pub fn kind_of(trigger: RuleTrigger) -> NotificationKind {
    match trigger {
        RuleTrigger::IncidentOpened => NotificationKind::IncidentOpened,
        RuleTrigger::IncidentEscalated => NotificationKind::IncidentEscalated,
        RuleTrigger::IncidentReopened => NotificationKind::IncidentReopened,
        RuleTrigger::IncidentResolved => NotificationKind::IncidentResolved,
        RuleTrigger::IncidentAcknowledged => NotificationKind::IncidentAcknowledged,
        RuleTrigger::ApprovalRequested => NotificationKind::ApprovalRequested,
        RuleTrigger::ExecutionFailed => NotificationKind::ExecutionFailed,
    }
}

/// A log position as a UUID, to derive ids from the triggering event.
fn position_uuid(position: i64) -> Uuid {
    Uuid::from_u64_pair(0, position.unsigned_abs())
}

fn decode<T: serde::de::DeserializeOwned>(event: &LogEvent) -> Result<T, ConsumerError> {
    event
        .payload_as()
        .map_err(|error| ConsumerError::event(event, format!("undecodable payload: {error}")))
}

fn parse_uuid(event: &LogEvent) -> Result<Uuid, ConsumerError> {
    Uuid::parse_str(&event.aggregate_id)
        .map_err(|error| ConsumerError::event(event, format!("bad aggregate id: {error}")))
}
