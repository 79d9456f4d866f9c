//! The incident's state and rules.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{IncidentCommand, IncidentError, IncidentEvent, IncidentStatus};
use crate::services::DomainServices;
use crate::values::{
    AlertId, AlertSignature, AssetName, IncidentId, PriorityScore, TenantId, UserId,
};

/// One incident, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    opened: Option<Opened>,
    status: IncidentStatus,
    priority: Option<PriorityScore>,
    /// Every attached alert, with whether its source reported it resolved.
    alerts: BTreeMap<AlertId, bool>,
    assignee: Option<UserId>,
    /// Acknowledged since it was (re)opened.
    acknowledged: bool,
    first_acknowledged_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    /// Since when its key flaps, while it does (notifications are held).
    #[serde(default)]
    flapping_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Opened {
    tenant_id: TenantId,
    incident_id: IncidentId,
    key: String,
    asset: AssetName,
    signature: AlertSignature,
    at: DateTime<Utc>,
}

impl Incident {
    /// The asset of its first alert, once opened (runbooks target its instances).
    pub fn asset(&self) -> Option<&AssetName> {
        self.opened.as_ref().map(|o| &o.asset)
    }

    /// The signature of its first alert, once opened (runbooks match on it).
    pub fn signature(&self) -> Option<&AlertSignature> {
        self.opened.as_ref().map(|o| &o.signature)
    }

    /// The incident's tenant, once opened.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.opened.as_ref().map(|o| o.tenant_id)
    }

    /// The incident's id, once opened.
    pub fn incident_id(&self) -> Option<IncidentId> {
        self.opened.as_ref().map(|o| o.incident_id)
    }

    /// The aggregation key its alerts share.
    pub fn key(&self) -> Option<&str> {
        self.opened.as_ref().map(|o| o.key.as_str())
    }

    /// Where it stands.
    pub fn status(&self) -> IncidentStatus {
        self.status
    }

    /// The current priority score.
    pub fn priority(&self) -> Option<PriorityScore> {
        self.priority
    }

    /// The attached alerts.
    pub fn alert_ids(&self) -> impl Iterator<Item = AlertId> + '_ {
        self.alerts.keys().copied()
    }

    /// Who it is assigned to.
    pub fn assignee(&self) -> Option<&UserId> {
        self.assignee.as_ref()
    }

    /// When it was opened (start of MTTA and MTTR).
    pub fn opened_at(&self) -> Option<DateTime<Utc>> {
        self.opened.as_ref().map(|o| o.at)
    }

    /// Whether someone acknowledged it since it was (re)opened (an
    /// escalation stops then).
    pub fn is_acknowledged(&self) -> bool {
        self.acknowledged
    }

    /// When it was first acknowledged (end of MTTA).
    pub fn first_acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.first_acknowledged_at
    }

    /// When it was last resolved (end of MTTR), unless reopened since.
    pub fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.resolved_at
    }

    /// Since when its key has been flapping, while it is.
    pub fn flapping_since(&self) -> Option<DateTime<Utc>> {
        self.flapping_since
    }

    /// Whether notifications about it are held now: its key flaps (issue
    /// 19: a flapping incident notifies nobody until stable for the
    /// tenant's flapping window; the end is the `IncidentFlappingEnded` event).
    pub fn notifications_held(&self) -> bool {
        self.flapping_since.is_some()
    }

    fn is_resolved(&self) -> bool {
        self.status == IncidentStatus::Resolved
    }
}

impl Aggregate for Incident {
    const TYPE: &'static str = "Incident";
    type Command = IncidentCommand;
    type Event = IncidentEvent;
    type Error = IncidentError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let at = services.now();
        let tenant_id = match (&command, self.tenant_id()) {
            (IncidentCommand::OpenIncident { .. }, Some(_)) => {
                return Err(IncidentError::AlreadyOpened)
            }
            (IncidentCommand::OpenIncident { tenant_id, .. }, None) => *tenant_id,
            (_, Some(tenant_id)) => tenant_id,
            (_, None) => return Err(IncidentError::NotOpened),
        };
        match command {
            IncidentCommand::OpenIncident {
                incident_id,
                key,
                first_alert,
                asset,
                signature,
                severity,
                priority,
                reason,
                tool_source,
                ..
            } => {
                let event = IncidentEvent::IncidentOpened {
                    tenant_id,
                    incident_id,
                    key,
                    first_alert,
                    asset,
                    signature,
                    severity,
                    priority,
                    reason,
                    tool_source,
                    at,
                };
                sink.write(event, self).await;
            }
            IncidentCommand::AttachAlert {
                alert_id,
                reason,
                priority,
                tool_source,
            } => {
                if self.is_resolved() {
                    return Err(IncidentError::IncidentResolved);
                }
                if self.alerts.contains_key(&alert_id) {
                    return Err(IncidentError::AlertAlreadyAttached { alert_id });
                }
                let attached = IncidentEvent::AlertAttached {
                    tenant_id,
                    alert_id,
                    reason,
                    tool_source,
                    at,
                };
                sink.write(attached, self).await;
                if let (Some(from), Some(to)) = (self.priority, priority) {
                    if from != to {
                        let changed = IncidentEvent::PriorityChanged {
                            tenant_id,
                            from,
                            to,
                            reason: format!("alert {alert_id} attached"),
                            at,
                        };
                        sink.write(changed, self).await;
                    }
                }
            }
            IncidentCommand::AcknowledgeIncident { actor } => {
                if self.is_resolved() {
                    return Err(IncidentError::CannotAcknowledgeResolved);
                }
                if self.acknowledged {
                    return Err(IncidentError::AlreadyAcknowledged);
                }
                let event = IncidentEvent::IncidentAcknowledged {
                    tenant_id,
                    actor,
                    at,
                };
                sink.write(event, self).await;
            }
            IncidentCommand::AssignIncident { assignee, actor } => {
                if self.is_resolved() {
                    return Err(IncidentError::CannotAssignResolved);
                }
                // Assigning the current assignee again records nothing.
                if self.assignee.as_ref() == Some(&assignee) {
                    return Ok(());
                }
                let event = IncidentEvent::IncidentAssigned {
                    tenant_id,
                    assignee,
                    actor,
                    at,
                };
                sink.write(event, self).await;
            }
            IncidentCommand::CommentOnIncident { text, actor } => {
                let event = IncidentEvent::IncidentCommented {
                    tenant_id,
                    text,
                    actor,
                    at,
                };
                sink.write(event, self).await;
            }
            IncidentCommand::RecordSilence {
                window_id,
                until,
                reason,
                actor,
            } => {
                let event = IncidentEvent::IncidentSilenced {
                    tenant_id,
                    window_id,
                    until,
                    reason,
                    actor,
                    at,
                };
                sink.write(event, self).await;
            }
            IncidentCommand::EscalateIncident { reason, actor } => {
                if self.is_resolved() {
                    return Err(IncidentError::CannotEscalateResolved);
                }
                let event = IncidentEvent::IncidentEscalated {
                    tenant_id,
                    reason,
                    actor,
                    at,
                };
                sink.write(event, self).await;
            }
            IncidentCommand::ResolveIncident {
                actor,
                note,
                resolution,
            } => {
                if self.is_resolved() {
                    return Err(IncidentError::AlreadyResolved);
                }
                let event = IncidentEvent::IncidentResolved {
                    tenant_id,
                    resolved_by: actor,
                    resolution,
                    note,
                    at,
                };
                sink.write(event, self).await;
            }
            IncidentCommand::ReopenIncident { actor, reason } => {
                if !self.is_resolved() {
                    return Err(IncidentError::NotResolved);
                }
                let event = IncidentEvent::IncidentReopened {
                    tenant_id,
                    actor,
                    reason,
                    at,
                };
                sink.write(event, self).await;
            }
            IncidentCommand::RecordAlertResolved { alert_id } => {
                match self.alerts.get(&alert_id) {
                    None => return Err(IncidentError::UnknownAlert { alert_id }),
                    // Already recorded: a redelivered resolution changes nothing.
                    Some(true) => return Ok(()),
                    Some(false) => {}
                }
                let event = IncidentEvent::IncidentAlertResolved {
                    tenant_id,
                    alert_id,
                    at,
                };
                sink.write(event, self).await;
                if self.alerts.values().all(|resolved| *resolved) {
                    sink.write(IncidentEvent::AllAlertsResolved { tenant_id, at }, self)
                        .await;
                }
            }
            IncidentCommand::MarkFlapping {
                key,
                changes,
                window_minutes,
                since,
                reason,
            } => {
                if self.flapping_since.is_some() {
                    return Err(IncidentError::AlreadyFlapping);
                }
                let event = IncidentEvent::IncidentFlapping {
                    tenant_id,
                    key,
                    changes,
                    window_minutes,
                    since,
                    reason,
                    at,
                };
                sink.write(event, self).await;
            }
            IncidentCommand::EndFlapping {
                stable_since,
                reason,
            } => {
                if self.flapping_since.is_none() {
                    return Err(IncidentError::NotFlapping);
                }
                let event = IncidentEvent::IncidentFlappingEnded {
                    tenant_id,
                    key: self.key().unwrap_or_default().to_owned(),
                    stable_since,
                    reason,
                    at,
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            IncidentEvent::IncidentOpened {
                tenant_id,
                incident_id,
                key,
                first_alert,
                asset,
                signature,
                priority,
                at,
                ..
            } => {
                self.opened = Some(Opened {
                    tenant_id,
                    incident_id,
                    key,
                    asset,
                    signature,
                    at,
                });
                self.status = IncidentStatus::New;
                self.priority = Some(priority);
                self.alerts.insert(first_alert, false);
            }
            IncidentEvent::AlertAttached { alert_id, .. } => {
                self.alerts.insert(alert_id, false);
            }
            IncidentEvent::PriorityChanged { to, .. } => self.priority = Some(to),
            IncidentEvent::IncidentAcknowledged { at, .. } => {
                self.acknowledged = true;
                self.first_acknowledged_at.get_or_insert(at);
                if self.status == IncidentStatus::New {
                    self.status = IncidentStatus::Acknowledged;
                }
            }
            IncidentEvent::IncidentAssigned { assignee, .. } => {
                self.assignee = Some(assignee);
                self.status = IncidentStatus::InProgress;
            }
            IncidentEvent::IncidentCommented { .. }
            | IncidentEvent::IncidentSilenced { .. }
            | IncidentEvent::AllAlertsResolved { .. } => {}
            IncidentEvent::IncidentEscalated { .. } => self.status = IncidentStatus::Escalated,
            IncidentEvent::IncidentResolved { at, .. } => {
                self.status = IncidentStatus::Resolved;
                self.resolved_at = Some(at);
            }
            IncidentEvent::IncidentReopened { .. } => {
                self.status = IncidentStatus::New;
                self.acknowledged = false;
                self.resolved_at = None;
            }
            IncidentEvent::IncidentAlertResolved { alert_id, .. } => {
                self.alerts.insert(alert_id, true);
            }
            IncidentEvent::IncidentFlapping { since, .. } => self.flapping_since = Some(since),
            IncidentEvent::IncidentFlappingEnded { .. } => self.flapping_since = None,
        }
    }
}
