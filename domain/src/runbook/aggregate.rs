//! The runbook's state and rules.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{RunbookCommand, RunbookError, RunbookEvent, RunbookSpec};
use crate::services::DomainServices;
use crate::values::{Role, TenantId};

/// One runbook, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Runbook {
    tenant_id: Option<TenantId>,
    spec: Option<RunbookSpec>,
    retired: bool,
    /// 1 once defined, one more with each change (approvals pin it).
    #[serde(default)]
    version: u64,
}

impl Runbook {
    /// The runbook's tenant, once defined.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.tenant_id
    }

    /// What it says, once defined.
    pub fn spec(&self) -> Option<&RunbookSpec> {
        self.spec.as_ref()
    }

    /// 1 once defined, one more with each recorded change (0 before).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether it was taken out of use.
    pub fn is_retired(&self) -> bool {
        self.retired
    }

    fn in_use(&self) -> Result<TenantId, RunbookError> {
        let tenant_id = self.tenant_id.ok_or(RunbookError::NotDefined)?;
        if self.retired {
            return Err(RunbookError::Retired);
        }
        Ok(tenant_id)
    }
}

impl Aggregate for Runbook {
    const TYPE: &'static str = "Runbook";
    type Command = RunbookCommand;
    type Event = RunbookEvent;
    type Error = RunbookError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let at = services.now();
        let event = match command {
            RunbookCommand::DefineRunbook {
                runbook_id,
                tenant_id,
                spec,
                actor,
            } => {
                if self.tenant_id.is_some() {
                    return Err(RunbookError::AlreadyDefined);
                }
                RunbookEvent::RunbookDefined {
                    tenant_id,
                    runbook_id,
                    runbook: spec,
                    actor,
                    at,
                }
            }
            RunbookCommand::ChangeRunbook { spec, actor } => {
                let tenant_id = self.in_use()?;
                // Saving the same runbook again is not a change.
                if self.spec.as_ref() == Some(&spec) {
                    return Ok(());
                }
                if let Some(current) = &self.spec {
                    if let Some(why) = change_needs_msp_admin(current, &spec) {
                        if actor.role() != Role::MspAdmin {
                            return Err(RunbookError::NeedsMspAdmin { why });
                        }
                    }
                }
                RunbookEvent::RunbookChanged {
                    tenant_id,
                    runbook: spec,
                    actor,
                    at,
                }
            }
            RunbookCommand::RetireRunbook { actor } => {
                let tenant_id = self.in_use()?;
                RunbookEvent::RunbookRetired {
                    tenant_id,
                    actor,
                    at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            RunbookEvent::RunbookDefined {
                tenant_id, runbook, ..
            } => {
                self.tenant_id = Some(tenant_id);
                self.spec = Some(runbook);
                self.version = 1;
            }
            RunbookEvent::RunbookChanged { runbook, .. } => {
                self.spec = Some(runbook);
                self.version += 1;
            }
            RunbookEvent::RunbookRetired { .. } => self.retired = true,
        }
    }
}

/// Why changing `current` into `next` is for an MSP admin only, if it is:
/// lowering the risk (fewer people must approve its runs), or changing what a
/// high-risk runbook runs (its document, commands or parameters). Both would
/// let a tenant admin weaken a guard an MSP admin relies on.
pub fn change_needs_msp_admin(current: &RunbookSpec, next: &RunbookSpec) -> Option<&'static str> {
    if next.risk.rank() < current.risk.rank() {
        return Some("lowering a runbook's risk");
    }
    if current.risk == crate::values::Risk::High && next.action != current.action {
        return Some("changing the document, commands or parameters of a high-risk runbook");
    }
    None
}
