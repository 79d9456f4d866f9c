//! One batch of the correlator: state loaded once, decisions staged as events,
//! everything written back in the batch's transaction ([`suppression`]:
//! maintenance windows; [`flapping`]: keys that switch too often).

mod flapping;
mod suppression;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use alertledger_domain::alert::{Alert, AlertCommand, AlertEvent};
use alertledger_domain::incident::{
    Incident, IncidentCommand, IncidentError, IncidentEvent, Resolution,
};
use alertledger_domain::maintenance::MaintenanceWindowEvent;
use alertledger_domain::tenant::TenantEvent;
use alertledger_domain::values::{
    Actor, AlertId, AlertSignature, AssetName, CorrelationDecision, CorrelationReason, IncidentId,
    Note, PriorityScore, Role, ToolSource, UserId,
};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::rows;
use alertledger_eventstore::consumer::{ConsumerError, Target};
use alertledger_eventstore::log::LogEvent;
use alertledger_eventstore::store::EventMetadata;
use alertledger_eventstore::unit_of_work::{Loaded, UnitOfWork};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::state::{FlapRow, KeyRow, SuppressedAlert, TenantRow, WaitingAlert};
use super::IncidentCache;

/// The actor the correlator's own commands (auto-resolve) are recorded under.
pub const CORRELATOR: &str = "worker:correlator";

type KeyId = (Uuid, String);

/// One event of the batch, decoded as its aggregate's event type.
enum Fact {
    Alert(AlertEvent),
    Tenant(TenantEvent),
    Incident(IncidentEvent),
    Window(MaintenanceWindowEvent),
    Other,
}

impl Fact {
    fn decode(event: &LogEvent) -> Result<Self, ConsumerError> {
        Ok(match event.aggregate_type.as_str() {
            "Alert" => Self::Alert(decode(event)?),
            "Tenant" => Self::Tenant(decode(event)?),
            "Incident" => Self::Incident(decode(event)?),
            "MaintenanceWindow" => Self::Window(decode(event)?),
            _ => Self::Other,
        })
    }
}

/// Why an alert is being placed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// It just arrived under a policy that correlates automatically.
    Arrival,
    /// Someone asked for the tenant's waiting alerts to be correlated.
    Request,
}

pub(crate) struct CorrelationBatch<'c> {
    conn: &'c mut PgConnection,
    services: &'c DomainServices,
    cache: &'c Mutex<IncidentCache>,
    target: Target,
    tenants: HashMap<Uuid, TenantRow>,
    dirty_tenants: HashSet<Uuid>,
    keys: HashMap<KeyId, KeyRow>,
    dirty_keys: HashSet<KeyId>,
    alerts: HashMap<String, Loaded<Alert>>,
    incidents: HashMap<String, Loaded<Incident>>,
    work: UnitOfWork,
    /// Alerts held back by a window (`Some`) or no longer held (`None`),
    /// written to `correlator_suppressed` with the batch.
    held: HashMap<Uuid, Option<SuppressedAlert>>,
    /// Why the alerts being placed are placed now, when a window let them go.
    lifted_because: Option<String>,
    /// Keys' switches and flapping marks, written to `correlator_flaps`.
    flaps: HashMap<KeyId, FlapRow>,
    dirty_flaps: HashSet<KeyId>,
}

impl<'c> CorrelationBatch<'c> {
    pub fn new(
        conn: &'c mut PgConnection,
        services: &'c DomainServices,
        target: Target,
        cache: &'c Mutex<IncidentCache>,
    ) -> Self {
        Self {
            conn,
            services,
            cache,
            target,
            tenants: HashMap::new(),
            dirty_tenants: HashSet::new(),
            keys: HashMap::new(),
            dirty_keys: HashSet::new(),
            alerts: HashMap::new(),
            incidents: HashMap::new(),
            work: UnitOfWork::default(),
            held: HashMap::new(),
            lifted_because: None,
            flaps: HashMap::new(),
            dirty_flaps: HashSet::new(),
        }
    }

    /// Decides for every event of the batch, in log order, then writes state
    /// and decisions; returns the incidents' states as this batch leaves them.
    pub async fn run(
        mut self,
        events: &[LogEvent],
    ) -> Result<HashMap<String, Loaded<Incident>>, ConsumerError> {
        // Each payload is decoded once, for the prefetch and the decisions alike.
        let facts = events
            .iter()
            .map(Fact::decode)
            .collect::<Result<Vec<_>, _>>()?;
        self.prefetch(events, &facts).await?;
        for (event, fact) in events.iter().zip(facts) {
            self.handle(event, fact).await?;
        }
        self.write().await
    }

    /// Loads the tenants and alerts the batch names with one query each.
    async fn prefetch(&mut self, events: &[LogEvent], facts: &[Fact]) -> Result<(), ConsumerError> {
        let tenant_keys: Vec<serde_json::Value> = events
            .iter()
            .map(|event| event.tenant_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .map(|tenant_id| serde_json::json!({ "tenant_id": tenant_id }))
            .collect();
        for row in rows::load::<TenantRow>(self.conn, &self.target, &tenant_keys).await? {
            self.tenants.insert(row.tenant_id, row);
        }
        let alert_ids: Vec<String> = events
            .iter()
            .filter(|event| event.aggregate_type == "Alert")
            .map(|event| event.aggregate_id.clone())
            .collect();
        self.load_alerts(&alert_ids).await?;
        self.prefetch_keys(facts).await
    }

    /// Loads the key rows the batch's receipts will need, with one query. Keys
    /// are rendered under the policies as the batch starts; a policy change
    /// inside the batch only means a few rows load on demand instead.
    async fn prefetch_keys(&mut self, facts: &[Fact]) -> Result<(), ConsumerError> {
        let mut wanted = HashSet::new();
        for fact in facts {
            if let Fact::Alert(AlertEvent::AlertReceived {
                tenant_id,
                asset,
                signature,
                severity,
                tool_source,
                labels,
                ..
            }) = fact
            {
                let tenant = self.tenant((*tenant_id).into());
                let key = tenant.policy.aggregation_key().render(
                    asset,
                    signature,
                    tool_source,
                    *severity,
                    labels,
                );
                wanted.insert((Uuid::from(*tenant_id), key));
            }
        }
        let lookups: Vec<serde_json::Value> = wanted
            .iter()
            .filter(|id| !self.keys.contains_key(*id))
            .map(|(tenant_id, key)| serde_json::json!({ "tenant_id": tenant_id, "key": key }))
            .collect();
        for row in rows::load::<KeyRow>(self.conn, &self.target, &lookups).await? {
            wanted.remove(&(row.tenant_id, row.key.clone()));
            self.keys.insert((row.tenant_id, row.key.clone()), row);
        }
        // Keys never seen before start empty, without another lookup.
        for (tenant_id, key) in wanted {
            self.keys
                .entry((tenant_id, key.clone()))
                .or_insert_with(|| KeyRow::new(tenant_id, key));
        }
        Ok(())
    }

    async fn handle(&mut self, event: &LogEvent, fact: Fact) -> Result<(), ConsumerError> {
        match fact {
            Fact::Alert(alert) => match alert {
                AlertEvent::AlertReceived {
                    tenant_id,
                    alert_id,
                    asset,
                    signature,
                    severity,
                    tool_source,
                    labels,
                    status,
                    at,
                    ..
                } => {
                    let tenant = self.tenant(tenant_id.into());
                    let key = tenant.policy.aggregation_key().render(
                        &asset,
                        &signature,
                        &tool_source,
                        severity,
                        &labels,
                    );
                    let auto = tenant.policy.auto_correlate();
                    let alert = WaitingAlert {
                        alert_id: alert_id.into(),
                        at,
                        severity,
                        tool_source: tool_source.as_str().to_owned(),
                        asset: asset.as_str().to_owned(),
                        signature: signature.as_str().to_owned(),
                    };
                    let key_id = (tenant_id.into(), key);
                    if self.suppress_if_covered(event, &alert, &labels, at).await? {
                        return Ok(());
                    }
                    if auto {
                        self.place(event, &key_id, vec![alert], Trigger::Arrival)
                            .await?;
                    } else {
                        self.key(&key_id).await?.pending.push(alert);
                        self.dirty_keys.insert(key_id.clone());
                    }
                    self.track_flapping(event, &key_id, status, at).await
                }
                AlertEvent::AlertResolvedBySource { tenant_id, .. } => {
                    self.alert_resolved(event, tenant_id.into()).await
                }
                AlertEvent::AlertAcknowledged { .. }
                | AlertEvent::AlertCorrelated { .. }
                | AlertEvent::AlertSuppressed { .. }
                | AlertEvent::AlertSuppressionLifted { .. } => Ok(()),
            },
            Fact::Tenant(change) => match change {
                TenantEvent::CorrelationPolicyChanged {
                    tenant_id, policy, ..
                } => {
                    let tenant_id = tenant_id.into();
                    self.tenant(tenant_id).policy = policy;
                    self.dirty_tenants.insert(tenant_id);
                    Ok(())
                }
                TenantEvent::AssetUpserted {
                    tenant_id,
                    asset,
                    critical,
                    ..
                } => {
                    let tenant_id = tenant_id.into();
                    let assets = &mut self.tenant(tenant_id).critical_assets;
                    assets.retain(|name| name != asset.as_str());
                    if critical {
                        assets.push(asset.as_str().to_owned());
                        assets.sort();
                    }
                    self.dirty_tenants.insert(tenant_id);
                    Ok(())
                }
                TenantEvent::FlappingPolicyChanged {
                    tenant_id, policy, ..
                } => {
                    let tenant_id = tenant_id.into();
                    self.tenant(tenant_id).flapping = policy;
                    self.dirty_tenants.insert(tenant_id);
                    Ok(())
                }
                TenantEvent::CorrelationRequested { tenant_id, .. } => {
                    self.correlate_waiting(event, tenant_id.into()).await
                }
                _ => Ok(()),
            },
            Fact::Window(change) => self.window_changed(event, change).await,
            Fact::Incident(change) => match change {
                IncidentEvent::IncidentResolved { tenant_id, .. } => {
                    let incident_id = parse_uuid(event, &event.aggregate_id)?;
                    self.forget_incident(tenant_id.into(), incident_id).await
                }
                ended @ IncidentEvent::IncidentFlappingEnded { .. } => {
                    self.flapping_ended(event, ended).await
                }
                _ => Ok(()),
            },
            Fact::Other => Ok(()),
        }
    }

    /// Puts `alerts` (same tenant and key, in arrival order) into the key's open
    /// incident if it is inside the window, else into waiting, opening an
    /// incident once enough are waiting (or at once when asked to).
    async fn place(
        &mut self,
        cause: &LogEvent,
        key_id: &KeyId,
        alerts: Vec<WaitingAlert>,
        trigger: Trigger,
    ) -> Result<(), ConsumerError> {
        let tenant = self.tenant(key_id.0).clone();
        let window = i64::from(tenant.policy.time_window_minutes());
        self.dirty_keys.insert(key_id.clone());
        let mut queue = alerts.into_iter();
        while let Some(alert) = queue.next() {
            let critical = tenant.critical_assets.contains(&alert.asset);
            let row = self.key(key_id).await?.clone();
            if let (Some(incident_id), Some(last)) = (row.incident_id, row.last_alert_at) {
                let gap = alert.at - last;
                if gap <= chrono::Duration::minutes(window) {
                    let reason = CorrelationReason {
                        key: key_id.1.clone(),
                        window_minutes: tenant.policy.time_window_minutes(),
                        decision: CorrelationDecision::Attached {
                            to: IncidentId::from_uuid(incident_id),
                        },
                        explanation: self.explain(format!(
                            "open incident {incident_id} has key {}; its last alert came {} before this one, inside the {window}-minute window",
                            key_id.1,
                            describe_gap(gap)
                        )),
                    };
                    if self
                        .attach(cause, key_id, incident_id, &alert, reason, critical)
                        .await?
                    {
                        continue;
                    }
                }
            }
            // No open incident to join: the alert waits, and opens one when
            // enough alerts of this key wait inside the window.
            let key = self.key(key_id).await?;
            key.close_incident();
            key.pending
                .retain(|waiting| alert.at - waiting.at <= chrono::Duration::minutes(window));
            key.pending.push(alert);
            let min_alerts = usize::try_from(tenant.policy.min_alerts()).unwrap_or(usize::MAX);
            let waiting = key.pending.len();
            if trigger == Trigger::Request || waiting >= min_alerts {
                let mut group = std::mem::take(&mut key.pending);
                // The rest of a requested group joins the incident this opens.
                if trigger == Trigger::Request {
                    group.extend(queue.by_ref());
                }
                self.open(cause, key_id, &tenant, group, trigger).await?;
            }
        }
        Ok(())
    }

    /// Attaches `alert` to the open incident; `false` when the incident turned
    /// out to be resolved meanwhile (the caller opens a new one).
    async fn attach(
        &mut self,
        cause: &LogEvent,
        key_id: &KeyId,
        incident_id: Uuid,
        alert: &WaitingAlert,
        reason: CorrelationReason,
        critical: bool,
    ) -> Result<bool, ConsumerError> {
        let mut row = self.key(key_id).await?.clone();
        row.count(alert, critical);
        let priority = priority_of(&row, alert.at);
        let command = IncidentCommand::AttachAlert {
            alert_id: AlertId::from_uuid(alert.alert_id),
            reason: reason.clone(),
            priority: Some(priority),
            tool_source: tool(cause, &alert.tool_source)?,
        };
        match self
            .execute_on_incident(cause, incident_id, command, alert.alert_id)
            .await?
        {
            Err(IncidentError::IncidentResolved) => return Ok(false),
            Err(error) => return Err(ConsumerError::event(cause, error)),
            Ok(()) => {}
        }
        self.correlate_alert(cause, alert.alert_id, incident_id, reason)
            .await?;
        *self.key(key_id).await? = row;
        Ok(true)
    }

    /// Opens an incident for `group` (first alert first) and attaches the rest.
    async fn open(
        &mut self,
        cause: &LogEvent,
        key_id: &KeyId,
        tenant: &TenantRow,
        group: Vec<WaitingAlert>,
        trigger: Trigger,
    ) -> Result<(), ConsumerError> {
        let Some(first) = group.first().cloned() else {
            return Ok(());
        };
        let incident_id = IncidentId::new_v7();
        // A new id has no history: nothing to load.
        self.incidents
            .insert(incident_id.to_string(), Loaded::default());
        let window = tenant.policy.time_window_minutes();
        let explanation = match trigger {
            Trigger::Request => format!(
                "correlation requested: {} waiting alert(s) with key {} grouped into a new incident",
                group.len(),
                key_id.1
            ),
            Trigger::Arrival if tenant.policy.min_alerts() > 1 => format!(
                "{} alerts with key {} arrived within {window} minutes, reaching min_alerts {}",
                group.len(),
                key_id.1,
                tenant.policy.min_alerts()
            ),
            Trigger::Arrival => format!(
                "no open incident with key {} received an alert in the last {window} minutes",
                key_id.1
            ),
        };
        let opened_reason = CorrelationReason {
            key: key_id.1.clone(),
            window_minutes: window,
            decision: CorrelationDecision::Opened,
            explanation: self.explain(explanation),
        };
        let mut row = KeyRow::new(key_id.0, key_id.1.clone());
        row.incident_id = Some(incident_id.into());
        row.opened_at = Some(first.at);
        row.count(&first, tenant.critical_assets.contains(&first.asset));
        let command = IncidentCommand::OpenIncident {
            incident_id,
            tenant_id: key_id.0.into(),
            key: key_id.1.clone(),
            first_alert: AlertId::from_uuid(first.alert_id),
            asset: AssetName::parse(&first.asset).map_err(|e| ConsumerError::event(cause, e))?,
            signature: AlertSignature::parse(&first.signature)
                .map_err(|e| ConsumerError::event(cause, e))?,
            severity: first.severity,
            priority: priority_of(&row, first.at),
            reason: opened_reason.clone(),
            tool_source: tool(cause, &first.tool_source)?,
        };
        self.execute_on_incident(cause, incident_id.into(), command, first.alert_id)
            .await?
            .map_err(|error| ConsumerError::event(cause, error))?;
        self.correlate_alert(cause, first.alert_id, incident_id.into(), opened_reason)
            .await?;
        *self.key(key_id).await? = row;
        for alert in group.into_iter().skip(1) {
            let reason = CorrelationReason {
                key: key_id.1.clone(),
                window_minutes: window,
                decision: CorrelationDecision::Attached { to: incident_id },
                explanation: format!(
                    "waited with key {} for incident {incident_id}, opened for this group",
                    key_id.1
                ),
            };
            let critical = tenant.critical_assets.contains(&alert.asset);
            if !self
                .attach(cause, key_id, incident_id.into(), &alert, reason, critical)
                .await?
            {
                return Err(ConsumerError::event(
                    cause,
                    format!("incident {incident_id} was resolved while it was being opened"),
                ));
            }
        }
        Ok(())
    }

    /// Correlates every waiting alert of `tenant` now, key by key.
    async fn correlate_waiting(
        &mut self,
        cause: &LogEvent,
        tenant: Uuid,
    ) -> Result<(), ConsumerError> {
        let stored: Vec<Json<KeyRow>> = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(k) FROM {} k WHERE tenant_id = $1 AND pending <> '[]' ORDER BY key",
            self.target.table("correlator_keys")
        ))
        .bind(tenant)
        .fetch_all(&mut *self.conn)
        .await?;
        for Json(row) in stored {
            self.keys
                .entry((row.tenant_id, row.key.clone()))
                .or_insert(row);
        }
        let mut waiting: Vec<KeyId> = self
            .keys
            .iter()
            .filter(|(id, row)| id.0 == tenant && !row.pending.is_empty())
            .map(|(id, _)| id.clone())
            .collect();
        waiting.sort();
        for key_id in waiting {
            let key = self.key(&key_id).await?;
            let group = std::mem::take(&mut key.pending);
            let ids: Vec<String> = group.iter().map(|a| a.alert_id.to_string()).collect();
            self.load_alerts(&ids).await?;
            self.place(cause, &key_id, group, Trigger::Request).await?;
        }
        Ok(())
    }

    /// Notes a source resolution on the alert's incident, resolving the
    /// incident when that was its last open alert and the policy says so; an
    /// alert still waiting simply stops waiting.
    async fn alert_resolved(
        &mut self,
        cause: &LogEvent,
        tenant: Uuid,
    ) -> Result<(), ConsumerError> {
        let alert_id = parse_uuid(cause, &cause.aggregate_id)?;
        if self
            .alerts
            .get(&cause.aggregate_id)
            .is_some_and(|alert| alert.state.suppressed_by().is_some())
        {
            self.release_resolved(alert_id);
            return Ok(());
        }
        let incident = self
            .alerts
            .get(&cause.aggregate_id)
            .and_then(|alert| alert.state.incident_id());
        let Some(incident_id) = incident else {
            return self.stop_waiting(tenant, alert_id).await;
        };
        let incident_key = incident_id.to_string();
        self.load_incident(&incident_key).await?;
        let metadata = metadata_for(cause, alert_id);
        let auto_resolve = self.tenant(tenant).policy.auto_resolve();
        let Some(loaded) = self.incidents.get_mut(&incident_key) else {
            return Ok(());
        };
        let command = IncidentCommand::RecordAlertResolved {
            alert_id: AlertId::from_uuid(alert_id),
        };
        let events = self
            .work
            .execute(&incident_key, loaded, command, self.services, &metadata)
            .await
            .map_err(|error| ConsumerError::event(cause, error))?;
        let all_resolved = events
            .iter()
            .any(|event| matches!(event, IncidentEvent::AllAlertsResolved { .. }));
        if all_resolved && auto_resolve && loaded.state.resolved_at().is_none() {
            let command = IncidentCommand::ResolveIncident {
                actor: correlator_actor(cause)?,
                note: Note::parse("every alert was resolved at its source").ok(),
                resolution: Resolution::SourceResolved,
            };
            self.work
                .execute(&incident_key, loaded, command, self.services, &metadata)
                .await
                .map_err(|error| ConsumerError::event(cause, error))?;
            self.forget_incident(tenant, incident_id.into()).await?;
        }
        Ok(())
    }

    async fn stop_waiting(&mut self, tenant: Uuid, alert_id: Uuid) -> Result<(), ConsumerError> {
        let stored: Vec<Json<KeyRow>> = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(k) FROM {} k WHERE tenant_id = $1 AND pending @> $2",
            self.target.table("correlator_keys")
        ))
        .bind(tenant)
        .bind(Json(serde_json::json!([{ "alert_id": alert_id }])))
        .fetch_all(&mut *self.conn)
        .await?;
        for Json(row) in stored {
            self.keys
                .entry((row.tenant_id, row.key.clone()))
                .or_insert(row);
        }
        for (id, row) in self.keys.iter_mut().filter(|(id, _)| id.0 == tenant) {
            let before = row.pending.len();
            row.pending.retain(|waiting| waiting.alert_id != alert_id);
            if row.pending.len() != before {
                self.dirty_keys.insert(id.clone());
            }
        }
        Ok(())
    }

    /// The key whose open incident this was takes no more alerts into it.
    async fn forget_incident(
        &mut self,
        tenant: Uuid,
        incident_id: Uuid,
    ) -> Result<(), ConsumerError> {
        let stored: Option<Json<KeyRow>> = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(k) FROM {} k WHERE tenant_id = $1 AND incident_id = $2",
            self.target.table("correlator_keys")
        ))
        .bind(tenant)
        .bind(incident_id)
        .fetch_optional(&mut *self.conn)
        .await?;
        if let Some(Json(row)) = stored {
            self.keys
                .entry((row.tenant_id, row.key.clone()))
                .or_insert(row);
        }
        for (id, row) in self.keys.iter_mut() {
            if row.incident_id == Some(incident_id) {
                row.close_incident();
                self.dirty_keys.insert(id.clone());
            }
        }
        Ok(())
    }

    /// Runs `command` on the incident; a rule violation is returned for the
    /// caller to judge, nothing else is.
    async fn execute_on_incident(
        &mut self,
        cause: &LogEvent,
        incident_id: Uuid,
        command: IncidentCommand,
        alert_id: Uuid,
    ) -> Result<Result<(), IncidentError>, ConsumerError> {
        let id = incident_id.to_string();
        self.load_incident(&id).await?;
        let metadata = metadata_for(cause, alert_id);
        let Some(loaded) = self.incidents.get_mut(&id) else {
            return Ok(Err(IncidentError::NotOpened));
        };
        Ok(self
            .work
            .execute(&id, loaded, command, self.services, &metadata)
            .await
            .map(|_| ()))
    }

    /// Records on the alert which incident it went to and why.
    async fn correlate_alert(
        &mut self,
        cause: &LogEvent,
        alert_id: Uuid,
        incident_id: Uuid,
        reason: CorrelationReason,
    ) -> Result<(), ConsumerError> {
        let id = alert_id.to_string();
        self.load_alerts(std::slice::from_ref(&id)).await?;
        let metadata = metadata_for(cause, alert_id);
        let Some(loaded) = self.alerts.get_mut(&id) else {
            return Ok(());
        };
        let command = AlertCommand::CorrelateAlert {
            incident_id: IncidentId::from_uuid(incident_id),
            reason,
        };
        self.work
            .execute(&id, loaded, command, self.services, &metadata)
            .await
            .map_err(|error| ConsumerError::event(cause, error))?;
        Ok(())
    }

    /// `text`, after the reason a window let the alert go, when one did.
    fn explain(&self, text: String) -> String {
        match &self.lifted_because {
            Some(reason) => format!("{reason}; {text}"),
            None => text,
        }
    }

    fn tenant(&mut self, tenant_id: Uuid) -> &mut TenantRow {
        self.tenants
            .entry(tenant_id)
            .or_insert_with(|| TenantRow::new(tenant_id))
    }

    /// The key's row: from this batch, else stored, else a fresh one.
    async fn key(&mut self, key_id: &KeyId) -> Result<&mut KeyRow, ConsumerError> {
        let stored = if self.keys.contains_key(key_id) {
            None
        } else {
            let lookup = [serde_json::json!({ "tenant_id": key_id.0, "key": key_id.1 })];
            rows::load::<KeyRow>(self.conn, &self.target, &lookup)
                .await?
                .into_iter()
                .next()
        };
        Ok(self
            .keys
            .entry(key_id.clone())
            .or_insert_with(|| stored.unwrap_or_else(|| KeyRow::new(key_id.0, key_id.1.clone()))))
    }

    async fn load_alerts(&mut self, ids: &[String]) -> Result<(), ConsumerError> {
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !self.alerts.contains_key(*id))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let loaded = self.work.load::<Alert>(self.conn, &missing).await?;
        self.alerts.extend(loaded);
        Ok(())
    }

    async fn load_incident(&mut self, id: &str) -> Result<(), ConsumerError> {
        if self.incidents.contains_key(id) {
            return Ok(());
        }
        let start = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .start(id);
        let loaded = self
            .work
            .load_after::<Incident>(self.conn, vec![(id.to_owned(), start)])
            .await?;
        self.incidents.extend(loaded);
        Ok(())
    }

    async fn write(mut self) -> Result<HashMap<String, Loaded<Incident>>, ConsumerError> {
        let tenants: Vec<TenantRow> = self
            .dirty_tenants
            .iter()
            .filter_map(|id| self.tenants.get(id).cloned())
            .collect();
        rows::upsert(self.conn, &self.target, &tenants).await?;
        let keys: Vec<KeyRow> = self
            .dirty_keys
            .iter()
            .filter_map(|id| self.keys.get(id).cloned())
            .collect();
        rows::upsert(self.conn, &self.target, &keys).await?;
        let flaps: Vec<FlapRow> = self
            .dirty_flaps
            .iter()
            .filter_map(|id| self.flaps.get(id).cloned())
            .collect();
        rows::upsert(self.conn, &self.target, &flaps).await?;
        self.write_held().await?;
        self.work.write(self.conn).await?;
        Ok(self.incidents)
    }
}

/// The priority score of the key's open incident as of `now` (receipt time
/// of the latest alert), by the product rule.
fn priority_of(row: &KeyRow, now: DateTime<Utc>) -> PriorityScore {
    let severity = row
        .severity
        .unwrap_or(alertledger_domain::values::Severity::Low);
    let duplicates = u32::try_from(row.alert_count.saturating_sub(1)).unwrap_or(0);
    let age = row
        .opened_at
        .map_or_else(chrono::Duration::zero, |opened| now - opened);
    PriorityScore::compute(
        severity,
        row.critical,
        duplicates,
        row.tool_sources.len(),
        age,
    )
}

fn describe_gap(gap: chrono::Duration) -> String {
    let seconds = gap.num_seconds().max(0);
    if seconds < 60 {
        format!("{seconds} s")
    } else {
        format!("{} min {} s", seconds / 60, seconds % 60)
    }
}

fn correlator_actor(cause: &LogEvent) -> Result<Actor, ConsumerError> {
    let user = UserId::parse(CORRELATOR).map_err(|error| ConsumerError::event(cause, error))?;
    Ok(Actor::new(user, "correlator", Role::MspAdmin))
}

fn metadata_for(cause: &LogEvent, alert_id: Uuid) -> EventMetadata {
    EventMetadata {
        actor: Some(CORRELATOR.to_owned()),
        causation_id: Some(cause.position.to_string()),
        correlation_id: Some(alert_id.to_string()),
        ..EventMetadata::default()
    }
}

fn tool(cause: &LogEvent, raw: &str) -> Result<ToolSource, ConsumerError> {
    ToolSource::parse(raw).map_err(|error| ConsumerError::event(cause, error))
}

fn decode<T: serde::de::DeserializeOwned>(event: &LogEvent) -> Result<T, ConsumerError> {
    event
        .payload_as()
        .map_err(|error| ConsumerError::event(event, format!("undecodable payload: {error}")))
}

fn parse_uuid(event: &LogEvent, raw: &str) -> Result<Uuid, ConsumerError> {
    Uuid::parse_str(raw)
        .map_err(|error| ConsumerError::event(event, format!("bad aggregate id: {error}")))
}
