//! The rule "may this runbook run on this incident, and where": one place for
//! the API's `POST /runbooks/{id}/execute` and the runbook dispatcher.

use crate::incident::{Incident, IncidentStatus};
use crate::tenant::Tenant;
use crate::values::{AssetName, InstanceId};

use super::{Runbook, RunbookSpec};

/// Why a runbook may not run on an incident now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRunnable {
    /// Retired, never defined, or another tenant's than the incident's.
    #[error("the runbook is retired or unknown")]
    RunbookUnavailable,
    /// A resolved incident runs nothing until it is reopened.
    #[error("the incident is resolved")]
    IncidentResolved,
    /// The incident's asset has no registered instance to run on.
    #[error("asset {} has no registered instance_ids", asset.as_ref().map_or("?", AssetName::as_str))]
    NoTargetInstances { asset: Option<AssetName> },
}

/// The runbook's definition if it may run on `incident` now: it is defined,
/// not retired, of the incident's tenant, and the incident is not resolved.
/// (An approval may be requested once this holds; the targets are checked
/// when the run is requested, by [`target_instances`].)
pub fn runnable_on<'a>(
    runbook: &'a Runbook,
    incident: &Incident,
) -> Result<&'a RunbookSpec, NotRunnable> {
    let spec = match runbook.spec() {
        Some(spec)
            if !runbook.is_retired()
                && runbook.tenant_id().is_some()
                && runbook.tenant_id() == incident.tenant_id() =>
        {
            spec
        }
        _ => return Err(NotRunnable::RunbookUnavailable),
    };
    if incident.status() == IncidentStatus::Resolved {
        return Err(NotRunnable::IncidentResolved);
    }
    Ok(spec)
}

/// The instances a run on `incident` targets: those registered for its asset
/// in `tenant`'s inventory, of which there must be at least one.
pub fn target_instances(
    incident: &Incident,
    tenant: &Tenant,
) -> Result<Vec<InstanceId>, NotRunnable> {
    let instances = incident
        .asset()
        .and_then(|asset| tenant.asset(asset))
        .map(|settings| settings.instance_ids().to_vec())
        .unwrap_or_default();
    if instances.is_empty() {
        return Err(NotRunnable::NoTargetInstances {
            asset: incident.asset().cloned(),
        });
    }
    Ok(instances)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use cqrs_es::Aggregate;
    use uuid::Uuid;

    use super::*;
    use crate::incident::{IncidentEvent, Resolution};
    use crate::runbook::RunbookEvent;
    use crate::tenant::TenantEvent;
    use crate::testing::{actor, now, tenant_id};
    use crate::values::{
        AlertId, AlertSignature, CorrelationDecision, CorrelationReason, IncidentId, PriorityScore,
        Risk, Role, RunbookAction, RunbookId, RunbookName, Severity, SsmDocumentName, TenantId,
        TenantName, TenantSlug, ToolSource,
    };

    fn runbook(tenant: TenantId, retired: bool) -> Runbook {
        let mut runbook = Runbook::default();
        runbook.apply(RunbookEvent::RunbookDefined {
            tenant_id: tenant,
            runbook_id: RunbookId::from_uuid(Uuid::from_u128(0xb)),
            runbook: RunbookSpec {
                name: RunbookName::parse("Restart nginx").unwrap(),
                signature: AlertSignature::parse("HighCPU").unwrap(),
                risk: Risk::Low,
                action: RunbookAction::new(
                    SsmDocumentName::default(),
                    vec!["systemctl restart nginx".to_owned()],
                    BTreeMap::new(),
                )
                .unwrap(),
                auto_execute: true,
            },
            actor: actor("admin-1", Role::TenantAdmin),
            at: now(),
        });
        if retired {
            runbook.apply(RunbookEvent::RunbookRetired {
                tenant_id: tenant,
                actor: actor("admin-1", Role::TenantAdmin),
                at: now(),
            });
        }
        runbook
    }

    fn incident(resolved: bool) -> Incident {
        let mut incident = Incident::default();
        incident.apply(IncidentEvent::IncidentOpened {
            tenant_id: tenant_id(),
            incident_id: IncidentId::from_uuid(Uuid::from_u128(0x1)),
            key: "web01|HighCPU".to_owned(),
            first_alert: AlertId::from_uuid(Uuid::from_u128(0xa1)),
            asset: AssetName::parse("web01").unwrap(),
            signature: AlertSignature::parse("HighCPU").unwrap(),
            severity: Severity::High,
            priority: PriorityScore::new(60).unwrap(),
            reason: CorrelationReason {
                key: "web01|HighCPU".to_owned(),
                window_minutes: 15,
                decision: CorrelationDecision::Opened,
                explanation: "no open incident with this key".to_owned(),
            },
            tool_source: ToolSource::parse("zabbix").unwrap(),
            at: now(),
        });
        if resolved {
            incident.apply(IncidentEvent::IncidentResolved {
                tenant_id: tenant_id(),
                resolved_by: actor("tech-1", Role::Technician),
                resolution: Resolution::Manual,
                note: None,
                at: now(),
            });
        }
        incident
    }

    fn tenant(instances: &[&str]) -> Tenant {
        let mut tenant = Tenant::default();
        tenant.apply(TenantEvent::TenantRegistered {
            tenant_id: tenant_id(),
            name: TenantName::parse("Acme").unwrap(),
            slug: TenantSlug::parse("acme").unwrap(),
            at: now(),
        });
        tenant.apply(TenantEvent::AssetUpserted {
            tenant_id: tenant_id(),
            asset: AssetName::parse("web01").unwrap(),
            critical: false,
            instance_ids: instances
                .iter()
                .map(|id| InstanceId::parse(id).unwrap())
                .collect(),
            actor: actor("admin-1", Role::TenantAdmin),
            at: now(),
        });
        tenant
    }

    #[test]
    fn a_defined_runbook_of_the_tenant_runs_on_its_open_incident() {
        let runbook = runbook(tenant_id(), false);
        let spec = runnable_on(&runbook, &incident(false)).unwrap();
        assert_eq!(spec.name.as_str(), "Restart nginx");
    }

    #[test]
    fn a_retired_unknown_or_foreign_runbook_is_unavailable() {
        let other_tenant = TenantId::from_uuid(Uuid::from_u128(0x99));
        for runbook in [
            runbook(tenant_id(), true),
            Runbook::default(),
            runbook(other_tenant, false),
        ] {
            assert_eq!(
                runnable_on(&runbook, &incident(false)),
                Err(NotRunnable::RunbookUnavailable)
            );
        }
    }

    #[test]
    fn a_resolved_incident_runs_nothing() {
        assert_eq!(
            runnable_on(&runbook(tenant_id(), false), &incident(true)),
            Err(NotRunnable::IncidentResolved)
        );
    }

    #[test]
    fn a_run_targets_the_registered_instances_of_the_incidents_asset() {
        let instances =
            target_instances(&incident(false), &tenant(&["i-0123456789abcdef0"])).unwrap();
        assert_eq!(instances[0].as_str(), "i-0123456789abcdef0");
        let none = target_instances(&incident(false), &tenant(&[])).unwrap_err();
        assert_eq!(
            none.to_string(),
            "asset web01 has no registered instance_ids"
        );
    }
}
