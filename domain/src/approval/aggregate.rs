//! The approval's state and rules.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{ApprovalCommand, ApprovalError, ApprovalEvent};
use crate::runbook::RunbookPin;
use crate::services::DomainServices;
use crate::values::{Actor, IncidentId, Note, Risk, RunbookId, TenantId};

/// Where an approval stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a decision.
    #[default]
    Pending,
    /// Approved.
    Granted,
    /// Refused.
    Rejected,
    /// Nobody decided in time.
    Expired,
}

impl ApprovalStatus {
    /// The API spelling (`?status=pending`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Granted => "granted",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }
}

impl std::fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approval request, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    request: Option<Request>,
    status: ApprovalStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Request {
    tenant_id: TenantId,
    runbook_id: RunbookId,
    incident_id: IncidentId,
    risk: Risk,
    requested_by: Actor,
    expires_at: DateTime<Utc>,
    #[serde(default)]
    pin: Option<RunbookPin>,
}

impl Approval {
    /// The approval's tenant, once requested.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.request.as_ref().map(|r| r.tenant_id)
    }

    /// The runbook it asks to run, once requested.
    pub fn runbook_id(&self) -> Option<RunbookId> {
        self.request.as_ref().map(|r| r.runbook_id)
    }

    /// The incident it would run on, once requested.
    pub fn incident_id(&self) -> Option<IncidentId> {
        self.request.as_ref().map(|r| r.incident_id)
    }

    /// Where it stands.
    pub fn status(&self) -> ApprovalStatus {
        self.status
    }

    /// The runbook version and content it asks to approve (none for requests
    /// recorded before approvals pinned them).
    pub fn pin(&self) -> Option<&RunbookPin> {
        self.request.as_ref().and_then(|r| r.pin.as_ref())
    }

    /// When it stops being decidable, once requested.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.request.as_ref().map(|r| r.expires_at)
    }

    /// Checks a grant or rejection by `approver` at `now` against every rule.
    fn decision(
        &self,
        approver: Actor,
        reason: Option<Note>,
        now: DateTime<Utc>,
    ) -> Result<Decision, ApprovalError> {
        let request = self.request.as_ref().ok_or(ApprovalError::NotRequested)?;
        if self.status != ApprovalStatus::Pending {
            return Err(ApprovalError::AlreadyDecided {
                status: self.status,
            });
        }
        if now >= request.expires_at {
            return Err(ApprovalError::Expired);
        }
        if approver.user_id() == request.requested_by.user_id() {
            return Err(ApprovalError::SelfApproval);
        }
        if !approver.role().may_approve(request.risk) {
            return Err(ApprovalError::InsufficientRole {
                role: approver.role(),
                risk: request.risk,
            });
        }
        Ok(Decision {
            tenant_id: request.tenant_id,
            runbook_id: request.runbook_id,
            incident_id: request.incident_id,
            approver,
            reason,
        })
    }
}

/// The decision parts every decision event repeats.
struct Decision {
    tenant_id: TenantId,
    runbook_id: RunbookId,
    incident_id: IncidentId,
    approver: Actor,
    reason: Option<Note>,
}

impl Aggregate for Approval {
    const TYPE: &'static str = "Approval";
    type Command = ApprovalCommand;
    type Event = ApprovalEvent;
    type Error = ApprovalError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let at = services.now();
        let event = match command {
            ApprovalCommand::RequestApproval {
                approval_id,
                tenant_id,
                runbook_id,
                incident_id,
                risk,
                requested_by,
                expires_at,
                pin,
            } => {
                if self.request.is_some() {
                    return Err(ApprovalError::AlreadyRequested);
                }
                if !risk.requires_approval() {
                    return Err(ApprovalError::ApprovalNotNeeded);
                }
                if expires_at <= at {
                    return Err(ApprovalError::ExpiresInPast);
                }
                ApprovalEvent::ApprovalRequested {
                    tenant_id,
                    approval_id,
                    runbook_id,
                    incident_id,
                    risk,
                    requested_by,
                    expires_at,
                    at,
                    pin: Some(pin),
                }
            }
            ApprovalCommand::GrantApproval {
                approver,
                reason,
                runbook_now,
            } => {
                let d = self.decision(approver, reason, at)?;
                // Only what was reviewed may be approved.
                match self.pin() {
                    Some(pin) => pin
                        .check(&runbook_now)
                        .map_err(ApprovalError::RunbookChanged)?,
                    None => return Err(ApprovalError::NotPinned),
                }
                ApprovalEvent::ApprovalGranted {
                    tenant_id: d.tenant_id,
                    runbook_id: d.runbook_id,
                    incident_id: d.incident_id,
                    approver: d.approver,
                    reason: d.reason,
                    at,
                }
            }
            ApprovalCommand::RejectApproval { approver, reason } => {
                let d = self.decision(approver, reason, at)?;
                ApprovalEvent::ApprovalRejected {
                    tenant_id: d.tenant_id,
                    runbook_id: d.runbook_id,
                    incident_id: d.incident_id,
                    approver: d.approver,
                    reason: d.reason,
                    at,
                }
            }
            ApprovalCommand::ExpireApproval => {
                let request = self.request.as_ref().ok_or(ApprovalError::NotRequested)?;
                if self.status != ApprovalStatus::Pending {
                    return Err(ApprovalError::AlreadyDecided {
                        status: self.status,
                    });
                }
                if at < request.expires_at {
                    return Err(ApprovalError::NotYetExpired {
                        expires_at: request.expires_at,
                    });
                }
                ApprovalEvent::ApprovalExpired {
                    tenant_id: request.tenant_id,
                    at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ApprovalEvent::ApprovalRequested {
                tenant_id,
                runbook_id,
                incident_id,
                risk,
                requested_by,
                expires_at,
                pin,
                ..
            } => {
                self.request = Some(Request {
                    tenant_id,
                    runbook_id,
                    incident_id,
                    risk,
                    requested_by,
                    expires_at,
                    pin,
                });
                self.status = ApprovalStatus::Pending;
            }
            ApprovalEvent::ApprovalGranted { .. } => self.status = ApprovalStatus::Granted,
            ApprovalEvent::ApprovalRejected { .. } => self.status = ApprovalStatus::Rejected,
            ApprovalEvent::ApprovalExpired { .. } => self.status = ApprovalStatus::Expired,
        }
    }
}
