//! The runbook's state and rules.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{RunbookCommand, RunbookError, RunbookEvent, RunbookSpec};
use crate::services::DomainServices;
use crate::values::TenantId;

/// One runbook, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Runbook {
    tenant_id: Option<TenantId>,
    spec: Option<RunbookSpec>,
    retired: bool,
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
            }
            RunbookEvent::RunbookChanged { runbook, .. } => self.spec = Some(runbook),
            RunbookEvent::RunbookRetired { .. } => self.retired = true,
        }
    }
}
