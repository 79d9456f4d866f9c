//! The `NotificationDelivery` aggregate (aggregate id = the notification
//! id): the audit record of one message on one channel. It is requested
//! before anything is sent, then delivered or failed once; each attempt in
//! between is an operational row of the notifier (`notification_attempts`),
//! not an event, so a storm of retries does not grow the log.
//!
//! A rule whose target is an escalation policy records
//! `NotificationPolicyMatched` instead (aggregate id derived from the
//! incident event and the rule): the escalation worker starts the policy
//! from it.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ChannelType, RuleTrigger};
use crate::services::DomainServices;
use crate::values::{IncidentId, NotificationChannelId, NotificationRuleId, TenantId};

/// Where a notification stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Not requested yet (the default state of the fold).
    #[default]
    Unknown,
    Pending,
    Delivered,
    Failed,
    /// A policy match (nothing to deliver here).
    PolicyMatched,
}

impl NotificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::PolicyMatched => "policy_matched",
        }
    }
}

/// What can be asked of a notification.
#[derive(Debug, Clone, PartialEq)]
pub enum NotificationDeliveryCommand {
    /// Record that a message is to be sent (before any attempt).
    Request {
        tenant_id: TenantId,
        incident_id: IncidentId,
        channel_id: NotificationChannelId,
        channel_type: ChannelType,
        /// The rule that asked for it; `None` for a level of an escalation
        /// policy reached (the escalation's events say why).
        rule_id: Option<NotificationRuleId>,
        trigger: RuleTrigger,
        /// When the first attempt is due: now, or the end of the storm
        /// interval for a digest held back by coalescing.
        due_at: DateTime<Utc>,
    },
    /// The receiver accepted it.
    RecordDelivered {
        attempts: u32,
        code: Option<u16>,
        held_back: u32,
    },
    /// No attempt succeeded (a final answer, or retries ran out).
    RecordFailed {
        attempts: u32,
        error: String,
        held_back: u32,
    },
    /// A rule with an escalation policy matched an incident event.
    MatchPolicy {
        tenant_id: TenantId,
        incident_id: IncidentId,
        rule_id: NotificationRuleId,
        policy_id: Uuid,
        trigger: RuleTrigger,
    },
}

/// A fact about one notification. Variant names are stored and permanent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NotificationDeliveryEvent {
    NotificationRequested {
        tenant_id: TenantId,
        incident_id: IncidentId,
        channel_id: NotificationChannelId,
        channel_type: ChannelType,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule_id: Option<NotificationRuleId>,
        trigger: RuleTrigger,
        due_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    NotificationDelivered {
        tenant_id: TenantId,
        incident_id: IncidentId,
        channel_id: NotificationChannelId,
        attempts: u32,
        code: Option<u16>,
        /// Messages held back by storm coalescing that this one carried as a digest.
        held_back: u32,
        at: DateTime<Utc>,
    },
    NotificationFailed {
        tenant_id: TenantId,
        incident_id: IncidentId,
        channel_id: NotificationChannelId,
        attempts: u32,
        error: String,
        held_back: u32,
        at: DateTime<Utc>,
    },
    NotificationPolicyMatched {
        tenant_id: TenantId,
        incident_id: IncidentId,
        rule_id: NotificationRuleId,
        policy_id: Uuid,
        trigger: RuleTrigger,
        at: DateTime<Utc>,
    },
}

crate::event_types::event_type_names!(NotificationDeliveryEvent {
    NotificationRequested => REQUESTED,
    NotificationDelivered => DELIVERED,
    NotificationFailed => FAILED,
    NotificationPolicyMatched => POLICY_MATCHED,
});

impl NotificationDeliveryEvent {
    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Self::NotificationRequested { tenant_id, .. }
            | Self::NotificationDelivered { tenant_id, .. }
            | Self::NotificationFailed { tenant_id, .. }
            | Self::NotificationPolicyMatched { tenant_id, .. } => *tenant_id,
        }
    }

    /// The incident the notification is about.
    pub fn incident_id(&self) -> IncidentId {
        match self {
            Self::NotificationRequested { incident_id, .. }
            | Self::NotificationDelivered { incident_id, .. }
            | Self::NotificationFailed { incident_id, .. }
            | Self::NotificationPolicyMatched { incident_id, .. } => *incident_id,
        }
    }
}

impl DomainEvent for NotificationDeliveryEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}

/// Why a command on a notification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationDeliveryError {
    #[error("the notification was already recorded")]
    AlreadyRecorded,
    #[error("the notification is not pending")]
    NotPending,
}

/// One notification, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotificationDelivery {
    status: NotificationStatus,
    tenant_id: Option<TenantId>,
    incident_id: Option<IncidentId>,
    channel_id: Option<NotificationChannelId>,
}

impl NotificationDelivery {
    pub fn status(&self) -> NotificationStatus {
        self.status
    }
}

impl Aggregate for NotificationDelivery {
    const TYPE: &'static str = "NotificationDelivery";
    type Command = NotificationDeliveryCommand;
    type Event = NotificationDeliveryEvent;
    type Error = NotificationDeliveryError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let at = services.now();
        let event = match command {
            NotificationDeliveryCommand::Request {
                tenant_id,
                incident_id,
                channel_id,
                channel_type,
                rule_id,
                trigger,
                due_at,
            } => {
                if self.status != NotificationStatus::Unknown {
                    return Err(NotificationDeliveryError::AlreadyRecorded);
                }
                NotificationDeliveryEvent::NotificationRequested {
                    tenant_id,
                    incident_id,
                    channel_id,
                    channel_type,
                    rule_id,
                    trigger,
                    due_at,
                    at,
                }
            }
            NotificationDeliveryCommand::RecordDelivered {
                attempts,
                code,
                held_back,
            } => {
                let (
                    NotificationStatus::Pending,
                    Some(tenant_id),
                    Some(incident_id),
                    Some(channel_id),
                ) = (
                    self.status,
                    self.tenant_id,
                    self.incident_id,
                    self.channel_id,
                )
                else {
                    return Err(NotificationDeliveryError::NotPending);
                };
                NotificationDeliveryEvent::NotificationDelivered {
                    tenant_id,
                    incident_id,
                    channel_id,
                    attempts,
                    code,
                    held_back,
                    at,
                }
            }
            NotificationDeliveryCommand::RecordFailed {
                attempts,
                error,
                held_back,
            } => {
                let (
                    NotificationStatus::Pending,
                    Some(tenant_id),
                    Some(incident_id),
                    Some(channel_id),
                ) = (
                    self.status,
                    self.tenant_id,
                    self.incident_id,
                    self.channel_id,
                )
                else {
                    return Err(NotificationDeliveryError::NotPending);
                };
                NotificationDeliveryEvent::NotificationFailed {
                    tenant_id,
                    incident_id,
                    channel_id,
                    attempts,
                    error,
                    held_back,
                    at,
                }
            }
            NotificationDeliveryCommand::MatchPolicy {
                tenant_id,
                incident_id,
                rule_id,
                policy_id,
                trigger,
            } => {
                if self.status != NotificationStatus::Unknown {
                    return Err(NotificationDeliveryError::AlreadyRecorded);
                }
                NotificationDeliveryEvent::NotificationPolicyMatched {
                    tenant_id,
                    incident_id,
                    rule_id,
                    policy_id,
                    trigger,
                    at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            NotificationDeliveryEvent::NotificationRequested {
                tenant_id,
                incident_id,
                channel_id,
                ..
            } => {
                self.status = NotificationStatus::Pending;
                self.tenant_id = Some(tenant_id);
                self.incident_id = Some(incident_id);
                self.channel_id = Some(channel_id);
            }
            NotificationDeliveryEvent::NotificationDelivered { .. } => {
                self.status = NotificationStatus::Delivered;
            }
            NotificationDeliveryEvent::NotificationFailed { .. } => {
                self.status = NotificationStatus::Failed;
            }
            NotificationDeliveryEvent::NotificationPolicyMatched {
                tenant_id,
                incident_id,
                ..
            } => {
                self.status = NotificationStatus::PolicyMatched;
                self.tenant_id = Some(tenant_id);
                self.incident_id = Some(incident_id);
            }
        }
    }
}
