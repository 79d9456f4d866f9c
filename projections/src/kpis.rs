//! KPIs per tenant per UTC day: alerts, incidents (hence noise reduction),
//! MTTA, MTTR, self-healed, escalations, pending approvals, alerts held by
//! maintenance windows (in total and per window) and flapping incidents.
//!
//! - [`KpiProjection`] — the projector (name `kpis`), owning `kpi_daily`, its
//!   helper `kpi_incidents` (where each incident stands, so an acknowledgement,
//!   resolution or reopen can adjust the totals of the day it was opened) and
//!   `kpi_history` (what the events recorded at each instant added to each
//!   day: `kpi_daily` as of a time is the sum of the rows recorded by then)
//!   and `kpi_window_suppressions` (alerts suppressed per window per day).
//! - [`summary`] / [`summary_in`] — the `GET /api/v1/kpis` query over a range
//!   of days, on the live tables or on any [`Target`].
//! - [`summary_as_of`] — the same summary as history stood at a past time,
//!   summed from `kpi_history` with plain SELECTs (no schema, no DDL: the
//!   service role cannot create any).
//!
//! Incident metrics count on the day the incident was OPENED. MTTA runs from
//! opening to the first acknowledgement; MTTR from opening to the latest
//! resolution, and a reopened incident stops counting as resolved until it is
//! resolved again, so the tables always describe the current state of history.

use std::collections::{BTreeMap, HashMap};

use alertledger_domain::alert::AlertEvent;
use alertledger_domain::approval::ApprovalEvent;
use alertledger_domain::incident::{IncidentEvent, Resolution};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use alertledger_eventstore::consumer::rows::{self, ReadModelRow};
use alertledger_eventstore::consumer::{ConsumerError, LogConsumer, Target};
use alertledger_eventstore::log::LogEvent;

/// The events the KPIs are made of; the projector never fetches others.
const EVENT_TYPES: &[&str] = &[
    AlertEvent::RECEIVED,
    AlertEvent::SUPPRESSED,
    IncidentEvent::FLAPPING,
    IncidentEvent::OPENED,
    IncidentEvent::ACKNOWLEDGED,
    IncidentEvent::ESCALATED,
    IncidentEvent::RESOLVED,
    IncidentEvent::REOPENED,
    ApprovalEvent::REQUESTED,
    ApprovalEvent::GRANTED,
    ApprovalEvent::REJECTED,
    ApprovalEvent::EXPIRED,
];

/// Keeps `kpi_daily`, `kpi_incidents` and `kpi_history`.
#[derive(Debug, Clone, Copy, Default)]
pub struct KpiProjection;

#[async_trait]
impl LogConsumer for KpiProjection {
    fn name(&self) -> &'static str {
        "kpis"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "kpi_daily",
            "kpi_incidents",
            "kpi_history",
            "kpi_window_suppressions",
        ]
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(EVENT_TYPES)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ConsumerError> {
        let facts = events
            .iter()
            .map(|event| fact_of(event).map(|fact| (event, fact)))
            .collect::<Result<Vec<_>, _>>()?;

        let mut incident_keys: Vec<serde_json::Value> = facts
            .iter()
            .filter_map(|(_, fact)| fact.incident())
            .map(|incident_id| serde_json::json!({ "incident_id": incident_id }))
            .collect();
        incident_keys.dedup();
        let mut incidents: HashMap<Uuid, KpiIncident> =
            rows::load::<KpiIncident>(conn, target, &incident_keys)
                .await?
                .into_iter()
                .map(|row| (row.incident_id, row))
                .collect();

        // Changes to the daily rows are additive, so they are summed in memory
        // first (per day, and per day and recording instant for the history)
        // and added to the stored rows in one upsert per table.
        let mut deltas = DailyDeltas::default();
        let mut changed = Vec::new();
        for (event, fact) in facts {
            deltas.recorded_at = event.recorded_at;
            fold(event, fact, &mut incidents, &mut deltas)?;
            if let Some(incident_id) = fact.incident() {
                changed.push(incident_id);
            }
        }

        changed.sort_unstable();
        changed.dedup();
        let changed: Vec<KpiIncident> = changed
            .iter()
            .filter_map(|incident_id| incidents.remove(incident_id))
            .collect();
        rows::upsert(conn, target, &changed).await?;

        let mut daily: BTreeMap<(Uuid, NaiveDate), KpiDay> = BTreeMap::new();
        for ((tenant_id, day, _), delta) in &deltas.by_instant {
            daily
                .entry((*tenant_id, *day))
                .or_insert_with(|| KpiDay::zero(*tenant_id, *day))
                .add(delta);
        }
        add_to_stored(
            conn,
            target,
            daily,
            |day| serde_json::json!({ "tenant_id": day.tenant_id, "day": day.day }),
        )
        .await?;

        let windows = std::mem::take(&mut deltas.windows);
        add_to_stored(conn, target, windows, |row: &KpiWindowDay| {
            serde_json::json!({
                "tenant_id": row.tenant_id,
                "window_id": row.window_id,
                "day": row.day,
                "recorded_at": row.recorded_at,
            })
        })
        .await?;

        let history: BTreeMap<(Uuid, NaiveDate, DateTime<Utc>), KpiHistory> = deltas
            .by_instant
            .into_iter()
            .map(|((tenant_id, day, recorded_at), counts)| {
                let key = (tenant_id, day, recorded_at);
                (
                    key,
                    KpiHistory {
                        counts,
                        recorded_at,
                    },
                )
            })
            .collect();
        add_to_stored(conn, target, history, |row| {
            serde_json::json!({
                "tenant_id": row.counts.tenant_id,
                "day": row.counts.day,
                "recorded_at": row.recorded_at,
            })
        })
        .await
    }
}

/// Adds `deltas` to the stored rows of the same keys (or stores them as new
/// rows), in one load and one upsert.
async fn add_to_stored<K: Ord, R: Additive>(
    conn: &mut PgConnection,
    target: &Target,
    deltas: BTreeMap<K, R>,
    key_of: impl Fn(&R) -> serde_json::Value,
) -> Result<(), ConsumerError> {
    let keys: Vec<serde_json::Value> = deltas.values().map(&key_of).collect();
    let mut stored: HashMap<String, R> = rows::load::<R>(conn, target, &keys)
        .await?
        .into_iter()
        .map(|row| (key_of(&row).to_string(), row))
        .collect();
    let merged: Vec<R> = deltas
        .into_values()
        .map(|delta| match stored.remove(&key_of(&delta).to_string()) {
            Some(mut row) => {
                row.add_counts(&delta);
                row
            }
            None => delta,
        })
        .collect();
    rows::upsert(conn, target, &merged).await
}

/// A row whose counters add up.
trait Additive: ReadModelRow {
    fn add_counts(&mut self, delta: &Self);
}

/// What one event means for the KPIs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fact {
    AlertReceived {
        at: DateTime<Utc>,
    },
    /// A maintenance window held an alert back.
    AlertSuppressed {
        window_id: Uuid,
        at: DateTime<Utc>,
    },
    IncidentFlapping {
        incident_id: Uuid,
    },
    IncidentOpened {
        incident_id: Uuid,
        at: DateTime<Utc>,
    },
    IncidentAcknowledged {
        incident_id: Uuid,
        at: DateTime<Utc>,
    },
    IncidentEscalated {
        incident_id: Uuid,
    },
    IncidentResolved {
        incident_id: Uuid,
        at: DateTime<Utc>,
        self_healed: bool,
    },
    IncidentReopened {
        incident_id: Uuid,
    },
    ApprovalRequested {
        at: DateTime<Utc>,
    },
    /// Granted, rejected or expired.
    ApprovalClosed {
        at: DateTime<Utc>,
    },
}

impl Fact {
    fn incident(&self) -> Option<Uuid> {
        match self {
            Self::IncidentOpened { incident_id, .. }
            | Self::IncidentAcknowledged { incident_id, .. }
            | Self::IncidentEscalated { incident_id }
            | Self::IncidentResolved { incident_id, .. }
            | Self::IncidentReopened { incident_id }
            | Self::IncidentFlapping { incident_id } => Some(*incident_id),
            Self::AlertReceived { .. }
            | Self::AlertSuppressed { .. }
            | Self::ApprovalRequested { .. }
            | Self::ApprovalClosed { .. } => None,
        }
    }
}

fn fact_of(event: &LogEvent) -> Result<Fact, ConsumerError> {
    let unreadable = |error: serde_json::Error| ConsumerError::event(event, error);
    match event.event_type.as_str() {
        AlertEvent::RECEIVED => match event.payload_as::<AlertEvent>().map_err(unreadable)? {
            AlertEvent::AlertReceived { at, .. } => Ok(Fact::AlertReceived { at: exact(at) }),
            other => Err(mismatch(event, &other)),
        },
        AlertEvent::SUPPRESSED => match event.payload_as::<AlertEvent>().map_err(unreadable)? {
            AlertEvent::AlertSuppressed { window_id, at, .. } => Ok(Fact::AlertSuppressed {
                window_id: *window_id.as_uuid(),
                at: exact(at),
            }),
            other => Err(mismatch(event, &other)),
        },
        IncidentEvent::OPENED
        | IncidentEvent::ACKNOWLEDGED
        | IncidentEvent::ESCALATED
        | IncidentEvent::RESOLVED
        | IncidentEvent::REOPENED
        | IncidentEvent::FLAPPING => {
            let incident_id = Uuid::parse_str(&event.aggregate_id).map_err(|_| {
                ConsumerError::event(event, "the incident's aggregate id is not a UUID")
            })?;
            match event.payload_as::<IncidentEvent>().map_err(unreadable)? {
                IncidentEvent::IncidentOpened { at, .. } => Ok(Fact::IncidentOpened {
                    incident_id,
                    at: exact(at),
                }),
                IncidentEvent::IncidentAcknowledged { at, .. } => Ok(Fact::IncidentAcknowledged {
                    incident_id,
                    at: exact(at),
                }),
                IncidentEvent::IncidentEscalated { .. } => {
                    Ok(Fact::IncidentEscalated { incident_id })
                }
                IncidentEvent::IncidentResolved { at, resolution, .. } => {
                    Ok(Fact::IncidentResolved {
                        incident_id,
                        at: exact(at),
                        self_healed: matches!(resolution, Resolution::SelfHealed { .. }),
                    })
                }
                IncidentEvent::IncidentReopened { .. } => {
                    Ok(Fact::IncidentReopened { incident_id })
                }
                IncidentEvent::IncidentFlapping { .. } => {
                    Ok(Fact::IncidentFlapping { incident_id })
                }
                other => Err(mismatch(event, &other)),
            }
        }
        ApprovalEvent::REQUESTED
        | ApprovalEvent::GRANTED
        | ApprovalEvent::REJECTED
        | ApprovalEvent::EXPIRED => {
            match event.payload_as::<ApprovalEvent>().map_err(unreadable)? {
                ApprovalEvent::ApprovalRequested { at, .. } => {
                    Ok(Fact::ApprovalRequested { at: exact(at) })
                }
                ApprovalEvent::ApprovalGranted { at, .. }
                | ApprovalEvent::ApprovalRejected { at, .. }
                | ApprovalEvent::ApprovalExpired { at, .. } => {
                    Ok(Fact::ApprovalClosed { at: exact(at) })
                }
            }
        }
        other => Err(ConsumerError::event(
            event,
            format!("the kpis projection does not read {other} events"),
        )),
    }
}

fn mismatch(event: &LogEvent, payload: &impl std::fmt::Debug) -> ConsumerError {
    ConsumerError::event(
        event,
        format!("the payload is another event than its type says: {payload:?}"),
    )
}

/// `at` as PostgreSQL stores it (microseconds), so that a duration computed
/// from the event equals one computed from the stored row, whatever the
/// batch boundaries.
fn exact(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// Applies one fact: the incident's row changes in `incidents`, the daily
/// totals by `deltas`.
fn fold(
    event: &LogEvent,
    fact: Fact,
    incidents: &mut HashMap<Uuid, KpiIncident>,
    deltas: &mut DailyDeltas,
) -> Result<(), ConsumerError> {
    let tenant_id = event.tenant_id;
    match fact {
        Fact::AlertReceived { at } => deltas.of(tenant_id, at.date_naive()).alerts += 1,
        Fact::AlertSuppressed { window_id, at } => {
            let day = at.date_naive();
            deltas.of(tenant_id, day).alerts_suppressed += 1;
            let recorded_at = deltas.recorded_at;
            deltas
                .windows
                .entry((tenant_id, window_id, day, recorded_at))
                .or_insert_with(|| KpiWindowDay {
                    tenant_id,
                    window_id,
                    day,
                    recorded_at,
                    alerts: 0,
                })
                .alerts += 1;
        }
        Fact::IncidentFlapping { incident_id } => {
            let incident = opened(event, incidents, incident_id)?;
            // Counted once per incident, however often it flaps again.
            if !incident.flapping {
                incident.flapping = true;
                deltas.of(tenant_id, incident.opened_day).incidents_flapping += 1;
            }
        }
        Fact::ApprovalRequested { at } => {
            deltas.of(tenant_id, at.date_naive()).approvals_requested += 1;
        }
        Fact::ApprovalClosed { at } => {
            deltas.of(tenant_id, at.date_naive()).approvals_closed += 1;
        }
        Fact::IncidentOpened { incident_id, at } => {
            if incidents.contains_key(&incident_id) {
                return Err(ConsumerError::event(event, "the incident is already open"));
            }
            let incident = KpiIncident {
                incident_id,
                tenant_id,
                opened_day: at.date_naive(),
                opened_at: at,
                acknowledged_at: None,
                resolved_at: None,
                self_healed: false,
                escalated: false,
                flapping: false,
            };
            deltas.of(tenant_id, incident.opened_day).incidents += 1;
            incidents.insert(incident_id, incident);
        }
        Fact::IncidentAcknowledged { incident_id, at } => {
            let incident = opened(event, incidents, incident_id)?;
            // Only the first acknowledgement counts (MTTA), also after a reopen.
            if incident.acknowledged_at.is_none() {
                incident.acknowledged_at = Some(at);
                let day = deltas.of(tenant_id, incident.opened_day);
                day.acknowledged += 1;
                day.ack_seconds_total.0 += millis_between(incident.opened_at, at);
            }
        }
        Fact::IncidentEscalated { incident_id } => {
            let incident = opened(event, incidents, incident_id)?;
            if !incident.escalated {
                incident.escalated = true;
                deltas.of(tenant_id, incident.opened_day).escalated += 1;
            }
        }
        Fact::IncidentResolved {
            incident_id,
            at,
            self_healed,
        } => {
            let incident = opened(event, incidents, incident_id)?;
            if incident.resolved_at.is_some() {
                return Err(ConsumerError::event(
                    event,
                    "the incident is already resolved",
                ));
            }
            incident.resolved_at = Some(at);
            incident.self_healed = self_healed;
            let day = deltas.of(tenant_id, incident.opened_day);
            day.resolved += 1;
            day.resolve_seconds_total.0 += millis_between(incident.opened_at, at);
            day.self_healed += i64::from(self_healed);
        }
        Fact::IncidentReopened { incident_id } => {
            let incident = opened(event, incidents, incident_id)?;
            let Some(resolved_at) = incident.resolved_at.take() else {
                return Err(ConsumerError::event(event, "the incident is not resolved"));
            };
            // The resolution no longer holds: take back what it added.
            let day = deltas.of(tenant_id, incident.opened_day);
            day.resolved -= 1;
            day.resolve_seconds_total.0 -= millis_between(incident.opened_at, resolved_at);
            day.self_healed -= i64::from(incident.self_healed);
            incident.self_healed = false;
        }
    }
    Ok(())
}

fn opened<'a>(
    event: &LogEvent,
    incidents: &'a mut HashMap<Uuid, KpiIncident>,
    incident_id: Uuid,
) -> Result<&'a mut KpiIncident, ConsumerError> {
    incidents
        .get_mut(&incident_id)
        .ok_or_else(|| ConsumerError::event(event, "the incident was never opened"))
}

fn millis_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_milliseconds()
}

/// Per (tenant, day, recording instant), what a batch adds to `kpi_history`
/// (and, summed over the instants, to `kpi_daily`).
#[derive(Debug, Default)]
struct DailyDeltas {
    /// `recorded_at` of the event being folded.
    recorded_at: DateTime<Utc>,
    by_instant: BTreeMap<(Uuid, NaiveDate, DateTime<Utc>), KpiDay>,
    /// Alerts suppressed per (tenant, window, day, recording instant).
    windows: BTreeMap<(Uuid, Uuid, NaiveDate, DateTime<Utc>), KpiWindowDay>,
}

impl DailyDeltas {
    fn of(&mut self, tenant_id: Uuid, day: NaiveDate) -> &mut KpiDay {
        self.by_instant
            .entry((tenant_id, day, self.recorded_at))
            .or_insert_with(|| KpiDay::zero(tenant_id, day))
    }
}

/// A row of `kpi_daily`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct KpiDay {
    tenant_id: Uuid,
    day: NaiveDate,
    alerts: i64,
    incidents: i64,
    acknowledged: i64,
    ack_seconds_total: Millis,
    resolved: i64,
    resolve_seconds_total: Millis,
    self_healed: i64,
    escalated: i64,
    approvals_requested: i64,
    approvals_closed: i64,
    #[serde(default)]
    alerts_suppressed: i64,
    #[serde(default)]
    incidents_flapping: i64,
}

impl KpiDay {
    fn zero(tenant_id: Uuid, day: NaiveDate) -> Self {
        Self {
            tenant_id,
            day,
            alerts: 0,
            incidents: 0,
            acknowledged: 0,
            ack_seconds_total: Millis(0),
            resolved: 0,
            resolve_seconds_total: Millis(0),
            self_healed: 0,
            escalated: 0,
            approvals_requested: 0,
            approvals_closed: 0,
            alerts_suppressed: 0,
            incidents_flapping: 0,
        }
    }

    fn add(&mut self, delta: &Self) {
        self.alerts += delta.alerts;
        self.incidents += delta.incidents;
        self.acknowledged += delta.acknowledged;
        self.ack_seconds_total.0 += delta.ack_seconds_total.0;
        self.resolved += delta.resolved;
        self.resolve_seconds_total.0 += delta.resolve_seconds_total.0;
        self.self_healed += delta.self_healed;
        self.escalated += delta.escalated;
        self.approvals_requested += delta.approvals_requested;
        self.approvals_closed += delta.approvals_closed;
        self.alerts_suppressed += delta.alerts_suppressed;
        self.incidents_flapping += delta.incidents_flapping;
    }
}

impl Additive for KpiDay {
    fn add_counts(&mut self, delta: &Self) {
        self.add(delta);
    }
}

impl ReadModelRow for KpiDay {
    const TABLE: &'static str = "kpi_daily";
    const KEY: &'static [&'static str] = &["tenant_id", "day"];
    const COLUMNS: &'static [&'static str] = &[
        "tenant_id",
        "day",
        "alerts",
        "incidents",
        "acknowledged",
        "ack_seconds_total",
        "resolved",
        "resolve_seconds_total",
        "self_healed",
        "escalated",
        "approvals_requested",
        "approvals_closed",
        "alerts_suppressed",
        "incidents_flapping",
    ];
}

/// A row of `kpi_history`: what the events recorded at `recorded_at` added
/// to the `kpi_daily` row of (tenant, day).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct KpiHistory {
    #[serde(flatten)]
    counts: KpiDay,
    recorded_at: DateTime<Utc>,
}

impl Additive for KpiHistory {
    fn add_counts(&mut self, delta: &Self) {
        self.counts.add(&delta.counts);
    }
}

impl ReadModelRow for KpiHistory {
    const TABLE: &'static str = "kpi_history";
    const KEY: &'static [&'static str] = &["tenant_id", "day", "recorded_at"];
    const COLUMNS: &'static [&'static str] = &[
        "tenant_id",
        "day",
        "recorded_at",
        "alerts",
        "incidents",
        "acknowledged",
        "ack_seconds_total",
        "resolved",
        "resolve_seconds_total",
        "self_healed",
        "escalated",
        "approvals_requested",
        "approvals_closed",
        "alerts_suppressed",
        "incidents_flapping",
    ];
}

/// A row of `kpi_incidents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct KpiIncident {
    incident_id: Uuid,
    tenant_id: Uuid,
    opened_day: NaiveDate,
    opened_at: DateTime<Utc>,
    acknowledged_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    self_healed: bool,
    escalated: bool,
    /// Marked flapping at least once.
    #[serde(default)]
    flapping: bool,
}

impl ReadModelRow for KpiIncident {
    const TABLE: &'static str = "kpi_incidents";
    const KEY: &'static [&'static str] = &["incident_id"];
    const COLUMNS: &'static [&'static str] = &[
        "incident_id",
        "tenant_id",
        "opened_day",
        "opened_at",
        "acknowledged_at",
        "resolved_at",
        "self_healed",
        "escalated",
        "flapping",
    ];
}

/// A row of `kpi_window_suppressions`: alerts one maintenance window held
/// back on one day, by the events recorded at `recorded_at` (so that a
/// summary as of a time sums the rows recorded by then, as `kpi_history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct KpiWindowDay {
    tenant_id: Uuid,
    window_id: Uuid,
    day: NaiveDate,
    recorded_at: DateTime<Utc>,
    alerts: i64,
}

impl Additive for KpiWindowDay {
    fn add_counts(&mut self, delta: &Self) {
        self.alerts += delta.alerts;
    }
}

impl ReadModelRow for KpiWindowDay {
    const TABLE: &'static str = "kpi_window_suppressions";
    const KEY: &'static [&'static str] = &["tenant_id", "window_id", "day", "recorded_at"];
    const COLUMNS: &'static [&'static str] =
        &["tenant_id", "window_id", "day", "recorded_at", "alerts"];
}

/// A total of durations in whole milliseconds, kept as an integer so that
/// adding and taking back (on reopen) is exact; stored as seconds with three
/// decimals (`numeric(20,3)`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Millis(i64);

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The shortest decimal that round-trips, e.g. 1234.567: exactly the
        // numeric value PostgreSQL then stores.
        serializer.serialize_f64(self.0 as f64 / 1000.0)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Ok(Self((seconds * 1000.0).round() as i64))
    }
}

/// The KPIs of a range of days (both included), over the tenants asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiSummary {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The time history was taken as of (`None`: the live read model).
    pub as_of: Option<DateTime<Utc>>,
    /// Alerts received.
    pub alerts: i64,
    /// Incidents opened.
    pub incidents: i64,
    /// `(1 − incidents / alerts) × 100`, to 0.1; `None` without alerts.
    /// Alerts a maintenance window suppressed count among `alerts` and open
    /// no incident (unless still firing when the window ends), so
    /// suppression adds to the noise reduction.
    pub noise_reduction_pct: Option<f64>,
    /// Alerts held back by maintenance windows.
    pub alerts_suppressed: i64,
    /// Of those, per window (most first).
    pub suppressed_by_window: Vec<WindowSuppressions>,
    /// Incidents marked flapping (at least once), by the day they opened.
    pub incidents_flapping: i64,
    /// Mean opened → first acknowledgement of the acknowledged incidents.
    pub mtta_seconds: Option<f64>,
    /// Mean opened → resolution of the incidents resolved now.
    pub mttr_seconds: Option<f64>,
    /// Incidents resolved by a runbook (self-healed).
    pub auto_remediated: i64,
    /// Incidents escalated at least once.
    pub escalations: i64,
    pub acknowledged: i64,
    pub resolved: i64,
    /// Approvals requested and not yet granted, rejected or expired at the end
    /// of `to` (not limited to requests made within the range).
    pub approvals_pending: i64,
    /// The same per day, for the days that have any data.
    pub days: Vec<KpiDaySummary>,
}

/// Alerts one maintenance window suppressed within a summary's days.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct WindowSuppressions {
    pub window_id: Uuid,
    pub alerts: i64,
}

/// One day of a [`KpiSummary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiDaySummary {
    pub day: NaiveDate,
    pub alerts: i64,
    pub incidents: i64,
    pub noise_reduction_pct: Option<f64>,
    pub mtta_seconds: Option<f64>,
    pub mttr_seconds: Option<f64>,
    pub auto_remediated: i64,
    pub escalations: i64,
    pub acknowledged: i64,
    pub resolved: i64,
    pub alerts_suppressed: i64,
    pub incidents_flapping: i64,
}

/// The live KPIs of days `from..=to` for `tenants` (`None`: every tenant).
pub async fn summary(
    pool: &PgPool,
    tenants: Option<&[Uuid]>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<KpiSummary, sqlx::Error> {
    summary_in(pool, &Target::live(), tenants, from, to).await
}

/// [`summary`] over the KPI tables of `target` (live, or a schema built from
/// history).
pub async fn summary_in(
    pool: &PgPool,
    target: &Target,
    tenants: Option<&[Uuid]>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<KpiSummary, sqlx::Error> {
    let mut summary =
        summarise(pool, &target.table(KpiDay::TABLE), None, tenants, from, to).await?;
    summary.suppressed_by_window = suppressed_by_window(
        pool,
        &target.table(KpiWindowDay::TABLE),
        None,
        tenants,
        from,
        to,
    )
    .await?;
    Ok(summary)
}

/// Alerts suppressed per window over days `from..=to` (as recorded by
/// `recorded_by`, when given), most first.
async fn suppressed_by_window(
    pool: &PgPool,
    table: &str,
    recorded_by: Option<DateTime<Utc>>,
    tenants: Option<&[Uuid]>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<WindowSuppressions>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT window_id, sum(alerts)::bigint AS alerts FROM {table}
          WHERE day BETWEEN $1 AND $2 AND ($3::uuid[] IS NULL OR tenant_id = ANY($3))
            AND ($4::timestamptz IS NULL OR recorded_at <= $4)
          GROUP BY window_id ORDER BY alerts DESC, window_id"
    ))
    .bind(from)
    .bind(to)
    .bind(tenants)
    .bind(recorded_by)
    .fetch_all(pool)
    .await
}

/// [`summary`] as history stood at `as_of` (the events recorded at or before
/// it), summed from `kpi_history`: the same figures as the projection built
/// from those events (`projections rebuild --until`), with plain SELECTs.
pub async fn summary_as_of(
    pool: &PgPool,
    tenants: Option<&[Uuid]>,
    from: NaiveDate,
    to: NaiveDate,
    as_of: DateTime<Utc>,
) -> Result<KpiSummary, sqlx::Error> {
    let table = Target::live().table(KpiHistory::TABLE);
    let mut summary = summarise(pool, &table, Some(as_of), tenants, from, to).await?;
    summary.suppressed_by_window = suppressed_by_window(
        pool,
        &Target::live().table(KpiWindowDay::TABLE),
        Some(as_of),
        tenants,
        from,
        to,
    )
    .await?;
    summary.as_of = Some(as_of);
    Ok(summary)
}

/// The summary over `table` (`kpi_daily`, or `kpi_history` limited to the
/// rows recorded at or before `recorded_by`).
async fn summarise(
    pool: &PgPool,
    table: &str,
    recorded_by: Option<DateTime<Utc>>,
    tenants: Option<&[Uuid]>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<KpiSummary, sqlx::Error> {
    // The optional conditions, numbered from parameter `first` on (bound in
    // this order below).
    let conditions = |first: usize| {
        let mut conditions = String::new();
        let mut next = first;
        if recorded_by.is_some() {
            conditions.push_str(&format!(" AND recorded_at <= ${next}"));
            next += 1;
        }
        if tenants.is_some() {
            conditions.push_str(&format!(" AND tenant_id = ANY(${next})"));
        }
        conditions
    };
    // Second totals come back as whole milliseconds so they stay exact.
    let days_sql = format!(
        "SELECT day,
                sum(alerts)::bigint AS alerts,
                sum(incidents)::bigint AS incidents,
                sum(acknowledged)::bigint AS acknowledged,
                (sum(ack_seconds_total) * 1000)::bigint AS ack_millis,
                sum(resolved)::bigint AS resolved,
                (sum(resolve_seconds_total) * 1000)::bigint AS resolve_millis,
                sum(self_healed)::bigint AS self_healed,
                sum(escalated)::bigint AS escalated,
                sum(alerts_suppressed)::bigint AS alerts_suppressed,
                sum(incidents_flapping)::bigint AS incidents_flapping
           FROM {table}
          WHERE day BETWEEN $1 AND $2{}
          GROUP BY day
          ORDER BY day",
        conditions(3)
    );
    let mut days_query = sqlx::query_as::<_, DayTotals>(&days_sql)
        .bind(from)
        .bind(to);
    if let Some(recorded_by) = recorded_by {
        days_query = days_query.bind(recorded_by);
    }
    if let Some(tenants) = tenants {
        days_query = days_query.bind(tenants);
    }
    // A day is listed when a row of it exists: in kpi_history as in a
    // projection built from history, once an event recorded by then touched it.
    let day_totals = days_query.fetch_all(pool).await?;

    let pending_sql = format!(
        "SELECT coalesce(sum(approvals_requested - approvals_closed), 0)::bigint
           FROM {table}
          WHERE day <= $1{}",
        conditions(2)
    );
    let mut pending_query = sqlx::query_scalar::<_, i64>(&pending_sql).bind(to);
    if let Some(recorded_by) = recorded_by {
        pending_query = pending_query.bind(recorded_by);
    }
    if let Some(tenants) = tenants {
        pending_query = pending_query.bind(tenants);
    }
    let approvals_pending = pending_query.fetch_one(pool).await?;

    let mut total = DayTotals::default();
    for day in &day_totals {
        total.add(day);
    }
    Ok(KpiSummary {
        from,
        to,
        as_of: None,
        alerts: total.alerts,
        incidents: total.incidents,
        noise_reduction_pct: total.noise_reduction_pct(),
        alerts_suppressed: total.alerts_suppressed,
        suppressed_by_window: Vec::new(),
        incidents_flapping: total.incidents_flapping,
        mtta_seconds: mean_seconds(total.ack_millis, total.acknowledged),
        mttr_seconds: mean_seconds(total.resolve_millis, total.resolved),
        auto_remediated: total.self_healed,
        escalations: total.escalated,
        acknowledged: total.acknowledged,
        resolved: total.resolved,
        approvals_pending,
        days: day_totals.iter().map(DayTotals::summary).collect(),
    })
}

/// Sums over some days, as read back.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
struct DayTotals {
    day: Option<NaiveDate>,
    alerts: i64,
    incidents: i64,
    acknowledged: i64,
    ack_millis: i64,
    resolved: i64,
    resolve_millis: i64,
    self_healed: i64,
    escalated: i64,
    alerts_suppressed: i64,
    incidents_flapping: i64,
}

impl DayTotals {
    fn add(&mut self, other: &Self) {
        self.alerts += other.alerts;
        self.incidents += other.incidents;
        self.acknowledged += other.acknowledged;
        self.ack_millis += other.ack_millis;
        self.resolved += other.resolved;
        self.resolve_millis += other.resolve_millis;
        self.self_healed += other.self_healed;
        self.escalated += other.escalated;
        self.alerts_suppressed += other.alerts_suppressed;
        self.incidents_flapping += other.incidents_flapping;
    }

    fn noise_reduction_pct(&self) -> Option<f64> {
        (self.alerts > 0).then(|| {
            let kept = (self.alerts - self.incidents) as f64 / self.alerts as f64;
            (kept * 1000.0).round() / 10.0
        })
    }

    fn summary(&self) -> KpiDaySummary {
        KpiDaySummary {
            day: self.day.unwrap_or_default(),
            alerts: self.alerts,
            incidents: self.incidents,
            noise_reduction_pct: self.noise_reduction_pct(),
            mtta_seconds: mean_seconds(self.ack_millis, self.acknowledged),
            mttr_seconds: mean_seconds(self.resolve_millis, self.resolved),
            auto_remediated: self.self_healed,
            escalations: self.escalated,
            acknowledged: self.acknowledged,
            resolved: self.resolved,
            alerts_suppressed: self.alerts_suppressed,
            incidents_flapping: self.incidents_flapping,
        }
    }
}

/// The mean of `count` durations totalling `millis`, in seconds to the
/// millisecond; `None` for no durations.
fn mean_seconds(millis: i64, count: i64) -> Option<f64> {
    (count > 0).then(|| (millis as f64 / count as f64).round() / 1000.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn millisecond_totals_travel_as_exact_decimal_seconds() {
        for millis in [0, 1, 999, 1_234_567, -5_000, 86_400_000 * 365 * 100] {
            let json = serde_json::to_string(&Millis(millis)).unwrap();
            assert_eq!(
                serde_json::from_str::<Millis>(&json).unwrap(),
                Millis(millis)
            );
        }
        assert_eq!(
            serde_json::to_string(&Millis(1_234_567)).unwrap(),
            "1234.567"
        );
    }

    #[test]
    fn noise_reduction_is_rounded_to_a_tenth_and_absent_without_alerts() {
        let totals = |alerts, incidents| DayTotals {
            alerts,
            incidents,
            ..DayTotals::default()
        };
        assert_eq!(totals(10, 3).noise_reduction_pct(), Some(70.0));
        assert_eq!(totals(3, 1).noise_reduction_pct(), Some(66.7));
        assert_eq!(totals(0, 0).noise_reduction_pct(), None);
    }

    #[test]
    fn means_are_in_seconds_and_absent_without_durations() {
        assert_eq!(mean_seconds(900_000, 2), Some(450.0));
        assert_eq!(mean_seconds(1_000, 3), Some(0.333));
        assert_eq!(mean_seconds(0, 0), None);
    }
}
