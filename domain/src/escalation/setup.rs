//! The `EscalationSetup` aggregate: a tenant's on-call schedules (with their
//! overrides) and escalation policies, one aggregate per tenant (aggregate
//! id = the tenant id), so a policy can only name a schedule that exists and
//! a schedule a policy names cannot be deleted. `handle` holds every rule,
//! `apply` only folds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use super::{OverrideSpec, PolicySpec, ScheduleSpec};
use crate::services::DomainServices;
use crate::values::{Actor, EscalationPolicyId, OverrideId, ScheduleId, TenantId};

/// What can be asked of a tenant's escalation set-up.
#[derive(Debug, Clone, PartialEq)]
pub enum EscalationSetupCommand {
    CreateSchedule {
        tenant_id: TenantId,
        schedule_id: ScheduleId,
        spec: ScheduleSpec,
        actor: Actor,
    },
    ChangeSchedule {
        schedule_id: ScheduleId,
        spec: ScheduleSpec,
        actor: Actor,
    },
    /// Refused while a policy names the schedule.
    DeleteSchedule {
        schedule_id: ScheduleId,
        actor: Actor,
    },
    AddOverride {
        schedule_id: ScheduleId,
        override_id: OverrideId,
        spec: OverrideSpec,
        actor: Actor,
    },
    RemoveOverride {
        schedule_id: ScheduleId,
        override_id: OverrideId,
        actor: Actor,
    },
    CreatePolicy {
        tenant_id: TenantId,
        policy_id: EscalationPolicyId,
        spec: PolicySpec,
        actor: Actor,
    },
    ChangePolicy {
        policy_id: EscalationPolicyId,
        spec: PolicySpec,
        actor: Actor,
    },
    /// Running escalations of the policy stop at their next step.
    DeletePolicy {
        policy_id: EscalationPolicyId,
        actor: Actor,
    },
}

/// A fact about a tenant's schedules and policies. Variant names are stored
/// and permanent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EscalationSetupEvent {
    OnCallScheduleCreated {
        tenant_id: TenantId,
        schedule_id: ScheduleId,
        schedule: ScheduleSpec,
        actor: Actor,
        at: DateTime<Utc>,
    },
    OnCallScheduleChanged {
        tenant_id: TenantId,
        schedule_id: ScheduleId,
        schedule: ScheduleSpec,
        actor: Actor,
        at: DateTime<Utc>,
    },
    OnCallScheduleDeleted {
        tenant_id: TenantId,
        schedule_id: ScheduleId,
        actor: Actor,
        at: DateTime<Utc>,
    },
    OnCallOverrideAdded {
        tenant_id: TenantId,
        schedule_id: ScheduleId,
        override_id: OverrideId,
        #[serde(rename = "override")]
        period: OverrideSpec,
        actor: Actor,
        at: DateTime<Utc>,
    },
    OnCallOverrideRemoved {
        tenant_id: TenantId,
        schedule_id: ScheduleId,
        override_id: OverrideId,
        actor: Actor,
        at: DateTime<Utc>,
    },
    EscalationPolicyCreated {
        tenant_id: TenantId,
        policy_id: EscalationPolicyId,
        policy: PolicySpec,
        actor: Actor,
        at: DateTime<Utc>,
    },
    EscalationPolicyChanged {
        tenant_id: TenantId,
        policy_id: EscalationPolicyId,
        policy: PolicySpec,
        actor: Actor,
        at: DateTime<Utc>,
    },
    EscalationPolicyDeleted {
        tenant_id: TenantId,
        policy_id: EscalationPolicyId,
        actor: Actor,
        at: DateTime<Utc>,
    },
}

crate::event_types::event_type_names!(EscalationSetupEvent {
    OnCallScheduleCreated => SCHEDULE_CREATED,
    OnCallScheduleChanged => SCHEDULE_CHANGED,
    OnCallScheduleDeleted => SCHEDULE_DELETED,
    OnCallOverrideAdded => OVERRIDE_ADDED,
    OnCallOverrideRemoved => OVERRIDE_REMOVED,
    EscalationPolicyCreated => POLICY_CREATED,
    EscalationPolicyChanged => POLICY_CHANGED,
    EscalationPolicyDeleted => POLICY_DELETED,
});

impl EscalationSetupEvent {
    /// The on-call schedule event types (feed kind `oncall_schedule_updated`).
    pub const SCHEDULE_TYPES: &'static [&'static str] = &[
        Self::SCHEDULE_CREATED,
        Self::SCHEDULE_CHANGED,
        Self::SCHEDULE_DELETED,
        Self::OVERRIDE_ADDED,
        Self::OVERRIDE_REMOVED,
    ];

    /// The escalation policy event types (feed kind `escalation_policy_updated`).
    pub const POLICY_TYPES: &'static [&'static str] = &[
        Self::POLICY_CREATED,
        Self::POLICY_CHANGED,
        Self::POLICY_DELETED,
    ];
}

impl DomainEvent for EscalationSetupEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}

/// Why a command on the escalation set-up was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscalationSetupError {
    #[error("the escalation set-up belongs to another tenant")]
    WrongTenant,
    #[error("id {0} is already taken")]
    IdTaken(uuid::Uuid),
    #[error("no such on-call schedule")]
    UnknownSchedule { schedule_id: ScheduleId },
    /// A policy level names a schedule the tenant does not have; `field`
    /// is the request field (`levels[1].schedule`).
    #[error("no such on-call schedule: {schedule_id}")]
    PolicyNamesUnknownSchedule {
        field: String,
        schedule_id: ScheduleId,
    },
    #[error("the schedule is used by escalation policy {policy_id}")]
    ScheduleInUse { policy_id: EscalationPolicyId },
    #[error("no such override")]
    UnknownOverride { override_id: OverrideId },
    #[error("no such escalation policy")]
    UnknownPolicy { policy_id: EscalationPolicyId },
}

/// One schedule as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    pub spec: ScheduleSpec,
    pub overrides: BTreeMap<OverrideId, OverrideSpec>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One policy as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub spec: PolicySpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A tenant's schedules and policies, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EscalationSetup {
    tenant_id: Option<TenantId>,
    schedules: BTreeMap<ScheduleId, ScheduleRecord>,
    policies: BTreeMap<EscalationPolicyId, PolicyRecord>,
}

impl EscalationSetup {
    /// Current schedules, oldest first (ids are v7).
    pub fn schedules(&self) -> impl Iterator<Item = (ScheduleId, &ScheduleRecord)> {
        self.schedules.iter().map(|(id, record)| (*id, record))
    }

    pub fn schedule(&self, schedule_id: ScheduleId) -> Option<&ScheduleRecord> {
        self.schedules.get(&schedule_id)
    }

    /// Current policies, oldest first.
    pub fn policies(&self) -> impl Iterator<Item = (EscalationPolicyId, &PolicyRecord)> {
        self.policies.iter().map(|(id, record)| (*id, record))
    }

    pub fn policy(&self, policy_id: EscalationPolicyId) -> Option<&PolicyRecord> {
        self.policies.get(&policy_id)
    }

    fn tenant(&self, tenant_id: TenantId) -> Result<(), EscalationSetupError> {
        if self.tenant_id.is_some_and(|own| own != tenant_id) {
            return Err(EscalationSetupError::WrongTenant);
        }
        Ok(())
    }

    fn own_tenant(&self) -> Option<TenantId> {
        self.tenant_id
    }

    fn known_schedule(&self, schedule_id: ScheduleId) -> Result<TenantId, EscalationSetupError> {
        match (self.own_tenant(), self.schedules.contains_key(&schedule_id)) {
            (Some(tenant_id), true) => Ok(tenant_id),
            _ => Err(EscalationSetupError::UnknownSchedule { schedule_id }),
        }
    }

    fn known_policy(
        &self,
        policy_id: EscalationPolicyId,
    ) -> Result<TenantId, EscalationSetupError> {
        match (self.own_tenant(), self.policies.contains_key(&policy_id)) {
            (Some(tenant_id), true) => Ok(tenant_id),
            _ => Err(EscalationSetupError::UnknownPolicy { policy_id }),
        }
    }

    fn schedules_exist(&self, spec: &PolicySpec) -> Result<(), EscalationSetupError> {
        for (field, schedule_id) in spec.schedules() {
            if !self.schedules.contains_key(&schedule_id) {
                return Err(EscalationSetupError::PolicyNamesUnknownSchedule {
                    field,
                    schedule_id,
                });
            }
        }
        Ok(())
    }

    fn id_free(&self, id: uuid::Uuid) -> Result<(), EscalationSetupError> {
        let taken = self.schedules.keys().any(|s| *s.as_uuid() == id)
            || self.policies.keys().any(|p| *p.as_uuid() == id);
        if taken {
            return Err(EscalationSetupError::IdTaken(id));
        }
        Ok(())
    }
}

impl Aggregate for EscalationSetup {
    const TYPE: &'static str = "EscalationSetup";
    type Command = EscalationSetupCommand;
    type Event = EscalationSetupEvent;
    type Error = EscalationSetupError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        use EscalationSetupCommand as C;
        use EscalationSetupEvent as E;
        let at = services.now();
        let event = match command {
            C::CreateSchedule {
                tenant_id,
                schedule_id,
                spec,
                actor,
            } => {
                self.tenant(tenant_id)?;
                self.id_free(*schedule_id.as_uuid())?;
                E::OnCallScheduleCreated {
                    tenant_id,
                    schedule_id,
                    schedule: spec,
                    actor,
                    at,
                }
            }
            C::ChangeSchedule {
                schedule_id,
                spec,
                actor,
            } => {
                let tenant_id = self.known_schedule(schedule_id)?;
                if self.schedules.get(&schedule_id).map(|s| &s.spec) == Some(&spec) {
                    // Saving the same definition again is not a change.
                    return Ok(());
                }
                E::OnCallScheduleChanged {
                    tenant_id,
                    schedule_id,
                    schedule: spec,
                    actor,
                    at,
                }
            }
            C::DeleteSchedule { schedule_id, actor } => {
                let tenant_id = self.known_schedule(schedule_id)?;
                if let Some((policy_id, _)) = self
                    .policies
                    .iter()
                    .find(|(_, p)| p.spec.schedules().any(|(_, s)| s == schedule_id))
                {
                    return Err(EscalationSetupError::ScheduleInUse {
                        policy_id: *policy_id,
                    });
                }
                E::OnCallScheduleDeleted {
                    tenant_id,
                    schedule_id,
                    actor,
                    at,
                }
            }
            C::AddOverride {
                schedule_id,
                override_id,
                spec,
                actor,
            } => {
                let tenant_id = self.known_schedule(schedule_id)?;
                let taken = self
                    .schedules
                    .values()
                    .any(|s| s.overrides.contains_key(&override_id));
                if taken {
                    return Err(EscalationSetupError::IdTaken(*override_id.as_uuid()));
                }
                E::OnCallOverrideAdded {
                    tenant_id,
                    schedule_id,
                    override_id,
                    period: spec,
                    actor,
                    at,
                }
            }
            C::RemoveOverride {
                schedule_id,
                override_id,
                actor,
            } => {
                let tenant_id = self.known_schedule(schedule_id)?;
                let known = self
                    .schedules
                    .get(&schedule_id)
                    .is_some_and(|s| s.overrides.contains_key(&override_id));
                if !known {
                    return Err(EscalationSetupError::UnknownOverride { override_id });
                }
                E::OnCallOverrideRemoved {
                    tenant_id,
                    schedule_id,
                    override_id,
                    actor,
                    at,
                }
            }
            C::CreatePolicy {
                tenant_id,
                policy_id,
                spec,
                actor,
            } => {
                self.tenant(tenant_id)?;
                self.id_free(*policy_id.as_uuid())?;
                self.schedules_exist(&spec)?;
                E::EscalationPolicyCreated {
                    tenant_id,
                    policy_id,
                    policy: spec,
                    actor,
                    at,
                }
            }
            C::ChangePolicy {
                policy_id,
                spec,
                actor,
            } => {
                let tenant_id = self.known_policy(policy_id)?;
                self.schedules_exist(&spec)?;
                if self.policies.get(&policy_id).map(|p| &p.spec) == Some(&spec) {
                    return Ok(());
                }
                E::EscalationPolicyChanged {
                    tenant_id,
                    policy_id,
                    policy: spec,
                    actor,
                    at,
                }
            }
            C::DeletePolicy { policy_id, actor } => {
                let tenant_id = self.known_policy(policy_id)?;
                E::EscalationPolicyDeleted {
                    tenant_id,
                    policy_id,
                    actor,
                    at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        use EscalationSetupEvent as E;
        match event {
            E::OnCallScheduleCreated {
                tenant_id,
                schedule_id,
                schedule,
                at,
                ..
            } => {
                self.tenant_id = Some(tenant_id);
                self.schedules.insert(
                    schedule_id,
                    ScheduleRecord {
                        spec: schedule,
                        overrides: BTreeMap::new(),
                        created_at: at,
                        updated_at: at,
                    },
                );
            }
            E::OnCallScheduleChanged {
                schedule_id,
                schedule,
                at,
                ..
            } => {
                if let Some(record) = self.schedules.get_mut(&schedule_id) {
                    record.spec = schedule;
                    record.updated_at = at;
                }
            }
            E::OnCallScheduleDeleted { schedule_id, .. } => {
                self.schedules.remove(&schedule_id);
            }
            E::OnCallOverrideAdded {
                schedule_id,
                override_id,
                period,
                at,
                ..
            } => {
                if let Some(record) = self.schedules.get_mut(&schedule_id) {
                    record.overrides.insert(override_id, period);
                    record.updated_at = at;
                }
            }
            E::OnCallOverrideRemoved {
                schedule_id,
                override_id,
                at,
                ..
            } => {
                if let Some(record) = self.schedules.get_mut(&schedule_id) {
                    record.overrides.remove(&override_id);
                    record.updated_at = at;
                }
            }
            E::EscalationPolicyCreated {
                tenant_id,
                policy_id,
                policy,
                at,
                ..
            } => {
                self.tenant_id = Some(tenant_id);
                self.policies.insert(
                    policy_id,
                    PolicyRecord {
                        spec: policy,
                        created_at: at,
                        updated_at: at,
                    },
                );
            }
            E::EscalationPolicyChanged {
                policy_id,
                policy,
                at,
                ..
            } => {
                if let Some(record) = self.policies.get_mut(&policy_id) {
                    record.spec = policy;
                    record.updated_at = at;
                }
            }
            E::EscalationPolicyDeleted { policy_id, .. } => {
                self.policies.remove(&policy_id);
            }
        }
    }
}
