//! Response shapes of the document. The read-model rows (alerts, incidents,
//! runbooks, approvals, executions, audit entries, KPIs) live in
//! `alertledger-projections` and are stored as JSON there, so they are
//! described here rather than derived on; the schemathesis run
//! (`scripts/schemathesis.sh`) checks every response against these.
//!
//! Fields are required when the service always sends them; `null`-able
//! fields are `Option`. Objects allow further fields: adding one is not a
//! breaking change.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// The one error body, whatever the status.
#[derive(ToSchema)]
#[schema(example = json!({"error": {"code": "invalid_value", "message": "invalid `severity`", "details": {"field": "severity"}}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable, snake_case.
    pub code: String,
    /// A human sentence.
    pub message: String,
    /// Machine-readable details (e.g. `field`: the offending field).
    pub details: Value,
}

/// A page of a list.
#[derive(ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Where the next page starts (`?cursor=`); `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A normalized alert (list items and detail have the same fields).
#[derive(ToSchema)]
#[schema(example = json!({
    "id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d", "alert_id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d",
    "tenant_id": "0190f3c0-0000-7000-8000-000000000001", "source": "alertmanager", "tool_source": "prometheus",
    "asset": "srv-db-01", "signature": "HighCPU", "severity": "critical", "message": "CPU above 95% for 5m",
    "status": "firing", "labels": {"team": "db"}, "fingerprint": "5f0c...", "delivery_key": "am:5f0c...",
    "occurred_at": "2026-12-06T02:00:00Z", "received_at": "2026-12-06T02:00:01Z", "received_position": 1042,
    "resolved_at": null, "acknowledged_at": null, "acknowledged_by": null, "acknowledgement_note": null,
    "incident_id": null, "correlated_at": null, "correlation_reason": null, "last_position": 1042
}))]
pub struct Alert {
    /// The alert's id (same as `alert_id`).
    pub id: Uuid,
    pub alert_id: Uuid,
    pub tenant_id: Uuid,
    /// The webhook source (`generic`, `alertmanager`, ...).
    pub source: String,
    pub tool_source: String,
    pub asset: String,
    pub signature: String,
    /// `critical`, `high`, `medium` or `low`.
    pub severity: String,
    pub message: String,
    /// `firing`, `acknowledged` or `resolved`.
    pub status: String,
    pub labels: Value,
    pub fingerprint: String,
    pub delivery_key: String,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub received_position: i64,
    pub resolved_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub acknowledgement_note: Option<String>,
    pub incident_id: Option<Uuid>,
    pub correlated_at: Option<DateTime<Utc>>,
    pub correlation_reason: Option<Value>,
    pub last_position: i64,
    /// What normalization defaulted or trimmed (`[{field, warning}]`);
    /// absent when nothing was.
    pub normalization_warnings: Option<Vec<NormalizationWarning>>,
}

/// One value normalization could not take as sent, and what it did instead.
#[derive(ToSchema)]
pub struct NormalizationWarning {
    pub field: String,
    pub warning: String,
}

/// A webhook delivery that was refused (`GET /deliveries`).
#[derive(ToSchema)]
pub struct RejectedDelivery {
    /// The delivery's id (same as `delivery_id`).
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub tenant_id: Uuid,
    pub source: String,
    /// The HTTP status it was answered with.
    pub status: u16,
    /// The error code of the answer.
    pub code: String,
    pub reason: String,
    pub field: Option<String>,
    /// SHA-256 of the whole body, hex.
    pub body_sha256: String,
    pub body_bytes: u64,
    /// The first 4 KiB of the body (API keys redacted).
    pub body_excerpt: String,
    /// The same excerpt under API.md's name.
    pub excerpt: String,
    pub request_id: Option<String>,
    pub key_id: Uuid,
    pub at: DateTime<Utc>,
    pub position: i64,
}

/// An SNS subscription request waiting for someone to visit its
/// `subscribe_url` (`GET /tenants/{id}/sns-subscriptions`).
#[derive(ToSchema)]
#[schema(example = json!({
    "id": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", "message_id": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
    "topic_arn": "arn:aws:sns:eu-west-1:123456789012:alertledger",
    "subscribe_url": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:alertledger&Token=2336412f37",
    "received_at": "2026-12-06T05:00:00Z", "status": "pending", "expires_at": "2026-12-09T05:00:00Z", "position": 42
}))]
pub struct SnsSubscription {
    /// The SNS `MessageId` (same as `message_id`).
    pub id: String,
    pub message_id: String,
    pub topic_arn: String,
    /// Visiting it confirms the subscription; the service never fetches it.
    pub subscribe_url: String,
    pub received_at: DateTime<Utc>,
    /// `pending`, or `expired` three days after it was received (AWS no
    /// longer honours its token).
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub position: i64,
}

/// The SNS topics a tenant accepts notifications from (empty: any topic).
#[derive(ToSchema)]
#[schema(example = json!({"topic_arns": ["arn:aws:sns:eu-west-1:123456789012:alertledger"]}))]
pub struct SnsTopics {
    pub topic_arns: Vec<String>,
}

/// A tenant's severity words, lower-cased, to our severities.
#[derive(ToSchema)]
#[schema(example = json!({"severity_map": {"p1": "critical", "warning": "medium", "none": "low"}}))]
pub struct SeverityMap {
    pub severity_map: std::collections::BTreeMap<String, String>,
}

/// An incident as lists show it. The detail (`GET /incidents/{id}`) adds
/// `alert_ids`, `resolved_alert_ids` and `timeline`.
#[derive(ToSchema, serde::Serialize)]
pub struct Incident {
    /// The incident's id (same as `incident_id`).
    pub id: Uuid,
    pub incident_id: Uuid,
    pub tenant_id: Uuid,
    /// The rendered aggregation key (e.g. `srv-db-01|HighCPU`).
    pub key: String,
    pub asset: String,
    pub signature: String,
    pub severity: String,
    /// `new`, `acknowledged`, `in_progress`, `escalated` or `resolved`.
    pub status: String,
    pub priority_score: i16,
    pub alert_count: i32,
    pub resolved_alert_count: i32,
    pub tool_sources: Vec<String>,
    pub assignee: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<Value>,
    pub escalation_count: i32,
    pub all_alerts_resolved_at: Option<DateTime<Utc>>,
    pub opening_reason: Value,
    pub last_event_at: DateTime<Utc>,
    pub opened_position: i64,
    pub last_position: i64,
    /// Whether its key flaps now: while true, it notifies nobody (the hold
    /// ends with `IncidentFlappingEnded`, once stable for the tenant's
    /// flapping window).
    pub flapping: bool,
    pub flapping_since: Option<DateTime<Utc>>,
    /// Why it was last marked flapping.
    pub flapping_reason: Option<String>,
    /// How many times it was marked flapping.
    pub flapping_count: i32,
}

/// An incident with its alerts and its timeline: every field of [`Incident`]
/// plus `alert_ids`, `resolved_alert_ids` and `timeline`.
#[derive(ToSchema, serde::Serialize)]
pub struct IncidentDetail {
    #[schema(inline)]
    #[serde(flatten)]
    pub incident: Incident,
    /// The first 100 attached alerts, in attach order (`alert_count` has
    /// them all).
    pub alert_ids: Vec<Uuid>,
    /// `?cursor=` of `GET /api/v1/incidents/{id}/alerts` for the attached
    /// alerts after these; `null` when these are all.
    pub alert_ids_next_cursor: Option<String>,
    /// The first 100 alerts resolved at their source, in that order
    /// (`resolved_alert_count` has them all).
    pub resolved_alert_ids: Vec<Uuid>,
    /// `?cursor=` of `GET /api/v1/incidents/{id}/alerts?resolved=true` for
    /// the resolved alerts after these; `null` when these are all.
    pub resolved_alert_ids_next_cursor: Option<String>,
    pub timeline: Vec<TimelineEntry>,
}

/// One alert of an incident.
#[derive(ToSchema, serde::Serialize)]
#[schema(example = json!({"id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d", "alert_id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d", "attached_at": "2026-11-01T10:00:00Z", "resolved_at": null}))]
pub struct IncidentAlert {
    pub id: Uuid,
    pub alert_id: Uuid,
    /// When the correlator attached it to the incident.
    pub attached_at: DateTime<Utc>,
    /// When its source reported it resolved; `null` while it fires.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// One event of an incident, in log order.
#[derive(ToSchema, serde::Serialize)]
pub struct TimelineEntry {
    pub position: i64,
    pub at: DateTime<Utc>,
    pub event_type: String,
    pub actor: Option<String>,
    pub summary: String,
    /// The correlator's recorded reason, on the events that carry one.
    pub correlation_reason: Option<Value>,
    pub details: Value,
}

/// What an incident command answers: the incident's new status.
#[derive(ToSchema)]
#[schema(example = json!({"id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d", "incident_id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d", "status": "acknowledged"}))]
pub struct IncidentCommandResult {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub status: String,
}

/// What `POST /alerts/{id}/acknowledge` answers.
#[derive(ToSchema)]
pub struct AlertAcknowledged {
    pub id: Uuid,
    pub alert_id: Uuid,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// What `POST /incidents/correlate` answers.
#[derive(ToSchema)]
pub struct CorrelationRequested {
    pub tenant_id: Uuid,
    /// The position of the recorded request.
    pub request_position: i64,
    /// Whether the correlator acted on it before the answer (else it will, shortly).
    pub completed: bool,
}

/// A runbook (list items and detail have the same fields; the list adds the
/// read model's `created_at`/`created_by`/`updated_at`/`updated_by`/`last_position`).
#[derive(ToSchema)]
pub struct Runbook {
    pub id: Uuid,
    pub runbook_id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub name: Option<String>,
    pub signature: Option<String>,
    /// `low`, `medium` or `high`.
    pub risk: Option<String>,
    pub document: Option<String>,
    pub commands: Option<Vec<String>>,
    pub parameters: Option<Value>,
    pub auto_execute: Option<bool>,
    pub retired: bool,
}

/// An approval request.
#[derive(ToSchema)]
pub struct Approval {
    pub id: Uuid,
    pub approval_id: Uuid,
    pub tenant_id: Uuid,
    pub runbook_id: Uuid,
    pub incident_id: Uuid,
    pub risk: String,
    /// `pending`, `granted`, `rejected` or `expired`.
    pub status: String,
    pub requested_by: String,
    pub requester_name: String,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub last_position: i64,
}

/// What a decision answers.
#[derive(ToSchema)]
pub struct ApprovalDecision {
    pub id: Uuid,
    pub approval_id: Uuid,
    pub status: Value,
}

/// One instance's latest invocation.
#[derive(ToSchema)]
pub struct Invocation {
    pub status: String,
    pub response_code: Option<i32>,
    /// Excerpt of the command's standard output.
    pub stdout: String,
    /// Excerpt of the command's standard error.
    pub stderr: String,
    pub at: DateTime<Utc>,
}

/// A runbook execution.
#[derive(ToSchema)]
pub struct Execution {
    pub id: Uuid,
    pub execution_id: Uuid,
    pub tenant_id: Uuid,
    pub runbook_id: Uuid,
    pub incident_id: Uuid,
    pub approval_id: Option<Uuid>,
    pub document: String,
    pub commands: Vec<String>,
    pub parameters: Value,
    pub instance_ids: Vec<String>,
    pub status: String,
    /// The SSM command id.
    pub command_id: Option<String>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub error_code: Option<String>,
    /// Per instance id.
    pub invocations: BTreeMap<String, Invocation>,
    pub last_position: i64,
}

/// What `POST /runbooks/{id}/execute` answers: the execution (low risk) or
/// the approval request (medium, high); `id` is the execution's or the
/// approval's.
#[derive(ToSchema)]
pub struct ExecutionOrApproval {
    pub id: Uuid,
    /// Present when an execution was requested.
    pub execution_id: Option<Uuid>,
    /// Present when an approval is needed first.
    pub approval_id: Option<Uuid>,
    /// `requested` or `pending`.
    pub status: String,
    pub runbook_id: Uuid,
    pub incident_id: Uuid,
    pub instance_ids: Option<Vec<String>>,
    pub risk: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A tenant as `GET /tenants` lists it: `id`, `name`, `slug` (the detail adds
/// its configuration).
#[derive(ToSchema)]
pub struct TenantSummary {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
}

/// A tenant with its configuration (no key hashes, no secrets).
#[derive(ToSchema)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    /// Ids of the active API keys.
    pub api_keys: Vec<Uuid>,
    /// Ids of the active webhook signing secrets.
    pub webhook_secrets: Vec<Uuid>,
    pub signing_required: bool,
    pub rate_limit: RateLimit,
    pub correlation_policy: CorrelationPolicy,
    pub flapping_policy: FlappingPolicy,
    /// Per asset name: `critical`, `instance_ids`.
    pub assets: BTreeMap<String, AssetSettings>,
    pub aws: Option<AwsRole>,
}

#[derive(ToSchema)]
pub struct RateLimit {
    pub requests_per_minute: u32,
    pub burst: u32,
}

/// A heartbeat: its last beat (operational state) and its status.
#[derive(ToSchema)]
pub struct HeartbeatView {
    pub id: Uuid,
    pub heartbeat_id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// `ok` or `missed`.
    pub status: String,
    pub last_seen_at: DateTime<Utc>,
    pub timeout_seconds: u32,
    /// `last_seen_at` + `timeout_seconds`: missed when no beat comes by then.
    pub deadline: DateTime<Utc>,
    /// The asset of the alert a miss raises (null: the name).
    pub asset: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub registered_at: DateTime<Utc>,
    /// While missed: the `heartbeat_missed` alert raised.
    pub missed_alert_id: Option<Uuid>,
    pub status_changed_at: Option<DateTime<Utc>>,
    /// The severity of the alert a miss raises (`high` unless a beat set it).
    pub severity: String,
    /// Paused by a tenant admin: no miss is raised.
    pub paused: bool,
}

/// A deleted heartbeat.
#[derive(ToSchema)]
pub struct HeartbeatDeleted {
    pub id: Uuid,
    pub heartbeat_id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub deleted: bool,
    /// The open alerts of its miss, resolved with it.
    pub resolved_alerts: Vec<Uuid>,
}

/// A page of heartbeats.
#[derive(ToSchema)]
pub struct HeartbeatList {
    pub items: Vec<HeartbeatView>,
    pub next_cursor: Option<String>,
}

/// When an alert key counts as flapping.
#[derive(ToSchema)]
pub struct FlappingPolicy {
    /// More switches than this within the window mark a key flapping.
    pub changes: u32,
    pub window_minutes: u32,
}

#[derive(ToSchema)]
pub struct CorrelationPolicy {
    pub time_window_minutes: u32,
    /// `asset|signature`, `asset`, `signature`, ...
    pub aggregation_key: String,
    pub auto_correlate: bool,
    pub min_alerts: u32,
    pub auto_resolve: bool,
}

#[derive(ToSchema)]
pub struct AssetSettings {
    pub critical: bool,
    pub instance_ids: Vec<String>,
}

/// An asset as `PUT /tenants/{id}/assets/{asset}` answers it.
#[derive(ToSchema)]
pub struct Asset {
    pub asset: String,
    pub critical: bool,
    pub instance_ids: Vec<String>,
}

#[derive(ToSchema)]
pub struct AwsRole {
    pub role_arn: String,
    pub external_id: String,
    pub region: String,
}

/// A new API key, shown once.
#[derive(ToSchema)]
pub struct ApiKeyIssued {
    pub id: Uuid,
    pub key_id: Uuid,
    /// The key itself (`alk_...`); only its hash is stored.
    pub api_key: String,
    pub label: Option<String>,
}

/// A new webhook signing secret, shown once.
#[derive(ToSchema)]
pub struct WebhookSecretIssued {
    pub id: Uuid,
    pub secret_id: Uuid,
    pub secret: String,
}

#[derive(ToSchema)]
pub struct SigningRequired {
    pub required: bool,
}

/// One stored alert of a delivery.
#[derive(ToSchema)]
pub struct AcceptedAlert {
    pub id: Uuid,
    pub alert_id: Uuid,
    /// A delivery seen before: the original result.
    pub duplicate: bool,
    pub position: i64,
}

/// What a webhook delivery answers (202), once its events are committed.
#[derive(ToSchema)]
#[schema(example = json!({"accepted": 1, "duplicates": 0, "alerts": [{"id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d", "alert_id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d", "duplicate": false, "position": 123}]}))]
pub struct WebhookAccepted {
    pub accepted: u64,
    pub duplicates: u64,
    pub alerts: Vec<AcceptedAlert>,
}

/// What PagerDuty's `/v2/enqueue` answers (202), with our own fields beside.
#[derive(ToSchema)]
#[schema(example = json!({"status": "success", "message": "Event processed", "dedup_key": "srv01/disk", "accepted": 1, "duplicates": 0, "alerts": [{"id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d", "alert_id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d", "duplicate": false, "position": 123}]}))]
pub struct PagerDutyAccepted {
    /// `success`.
    pub status: String,
    /// `Event processed`.
    pub message: String,
    /// The event's dedup key: the one sent, else the one derived for a
    /// trigger without one (use it to acknowledge or resolve).
    pub dedup_key: String,
    pub accepted: u64,
    pub duplicates: u64,
    /// The alerts stored, or for an acknowledgement those it acknowledged.
    pub alerts: Vec<AcceptedAlert>,
}

/// What PagerDuty's `/v2/change/enqueue` answers (202) once the change is
/// recorded.
#[derive(ToSchema)]
#[schema(example = json!({"status": "success", "message": "Change event processed", "id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d", "change_id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d"}))]
pub struct PagerDutyChangeAccepted {
    /// `success`.
    pub status: String,
    /// `Change event processed`.
    pub message: String,
    pub id: Uuid,
    pub change_id: Uuid,
}

/// An error of the PagerDuty routes: PagerDuty's own fields (`status`,
/// `message`, `errors`, which PagerDuty's clients read) beside our `error`.
#[derive(ToSchema)]
pub struct PagerDutyErrorBody {
    /// `invalid event` (400, 413, 415), `unauthorized` (401), `throttled`
    /// (429), `conflict` (409) or `unavailable` (5xx).
    pub status: String,
    /// `Event object is invalid` for an invalid event, else what went wrong.
    pub message: String,
    /// What is wrong, one sentence each (naming the field).
    pub errors: Vec<String>,
    pub error: ErrorDetail,
}

/// An audit entry.
#[derive(ToSchema)]
pub struct AuditEntry {
    pub position: i64,
    pub at: DateTime<Utc>,
    pub tenant_id: Uuid,
    /// `user:<id>`, `api_key:<id>`, `worker:<name>`, `cli:<user>` or `system`.
    pub actor: String,
    /// The event type in snake_case, e.g. `incident_acknowledged`.
    pub action: String,
    /// `<aggregate type>:<aggregate id>`.
    pub target: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub details: Value,
}

/// A raw event of the log.
#[derive(ToSchema)]
pub struct Event {
    pub position: i64,
    pub at: DateTime<Utc>,
    pub tenant_id: Option<Uuid>,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub payload: Value,
    pub metadata: Value,
}

/// KPIs over a range of days.
#[derive(ToSchema)]
pub struct Kpis {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub as_of: Option<DateTime<Utc>>,
    pub alerts: i64,
    pub incidents: i64,
    pub noise_reduction_pct: Option<f64>,
    pub mtta_seconds: Option<f64>,
    pub mttr_seconds: Option<f64>,
    pub auto_remediated: i64,
    pub escalations: i64,
    pub acknowledged: i64,
    pub resolved: i64,
    pub approvals_pending: i64,
    /// Alerts held back by maintenance windows (they count among `alerts`).
    pub alerts_suppressed: i64,
    /// Per window, most first.
    pub suppressed_by_window: Vec<KpiWindowSuppressions>,
    /// Incidents marked flapping, by the day they opened.
    pub incidents_flapping: i64,
    pub days: Vec<KpiDay>,
}

/// Alerts one maintenance window suppressed.
#[derive(ToSchema)]
pub struct KpiWindowSuppressions {
    pub window_id: Uuid,
    pub alerts: i64,
}

#[derive(ToSchema)]
pub struct KpiDay {
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

/// The key that signs audit checkpoints.
#[derive(ToSchema)]
pub struct AuditPublicKey {
    /// `Ed25519`.
    pub algorithm: String,
    pub key_id: String,
    pub public_key_pem: String,
    pub public_key_base64: String,
}

/// A signed checkpoint: its fields, signature and the signed text (`body`).
#[derive(ToSchema)]
pub struct Checkpoint {
    pub tree_size: u64,
    pub root_hash: String,
    pub body: String,
}

/// An event's inclusion proof in the latest checkpoint.
#[derive(ToSchema)]
pub struct InclusionProof {
    pub position: i64,
    pub tenant_id: Uuid,
    pub leaf_index: u64,
    pub body_digest: String,
    pub leaf_hash: String,
    pub tree_size: u64,
    pub root_hash: String,
    pub audit_path: Vec<String>,
    pub checkpoint: Checkpoint,
}

/// That the tree of `from` leaves is a prefix of the tree of `to` leaves.
#[derive(ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub from_root: String,
    pub to_root: String,
    pub proof: Vec<String>,
    pub latest_checkpoint: Checkpoint,
}

/// A tenant's instances with their patch state (from SSM).
#[derive(ToSchema)]
pub struct PatchCompliance {
    pub tenant_id: Uuid,
    pub instances: Vec<Value>,
}

#[derive(ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Readiness: database, migrations, log horizon, projector lag.
#[derive(ToSchema)]
pub struct Ready {
    /// `ready`, or `degraded` when a projector stopped on an event.
    pub status: String,
    pub database: String,
    pub migrations: Value,
    pub log: Value,
    pub projectors: Vec<Value>,
}

/// A notification channel, without its secrets (a URL shows as its host).
#[derive(ToSchema)]
#[schema(example = json!({
    "id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d", "channel_id": "0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d",
    "tenant_id": "0190f3c0-0000-7000-8000-000000000001", "type": "slack", "name": "Ops room",
    "config": {"url_host": "hooks.slack.com"}, "created_at": "2026-12-06T02:00:00Z"
}))]
pub struct NotificationChannel {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub tenant_id: Uuid,
    /// `slack`, `teams`, `email`, `webhook` or `pagerduty`.
    #[schema(rename = "type")]
    pub channel_type: String,
    pub name: String,
    /// The non-secret settings: `url_host` (slack, teams, webhook; pagerduty
    /// when its URL is overridden), or the email settings without the password.
    pub config: Value,
    pub created_at: DateTime<Utc>,
    /// A webhook channel's Standard Webhooks signing secret (`whsec_...`),
    /// in the creation response only.
    pub signing_secret: Option<String>,
}

/// A tenant's own notification settings.
#[derive(ToSchema)]
#[schema(example = json!({
    "tenant_id": "0190f3c0-0000-7000-8000-000000000001", "coalesce_seconds": 300
}))]
pub struct NotificationSettings {
    pub tenant_id: Uuid,
    /// Storm coalescing: at most one message per incident and channel per
    /// this many seconds (0 to 86400); `null`: the notifier's process
    /// setting (`ALERTLEDGER_NOTIFY_COALESCE_SECONDS`, default 60).
    pub coalesce_seconds: Option<u32>,
}

/// How a channel's receiver answered a test message.
#[derive(ToSchema)]
pub struct ChannelTestResult {
    pub channel_id: Uuid,
    pub delivered: bool,
    /// The HTTP status or SMTP reply code, when the receiver answered.
    pub code: Option<u16>,
    /// Why it was not delivered.
    pub error: Option<String>,
}

/// A notification rule (API.md "Notifications"): `channels` or
/// `escalation_policy`, never both.
#[derive(ToSchema)]
#[schema(example = json!({
    "id": "0190f3c5-0000-7000-8000-000000000010", "rule_id": "0190f3c5-0000-7000-8000-000000000010",
    "tenant_id": "0190f3c0-0000-7000-8000-000000000001", "name": "Critical to Slack",
    "events": ["incident_opened", "incident_escalated"], "min_severity": "high",
    "matchers": ["asset=~\"srv-db-.*\""], "channels": ["0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d"],
    "created_at": "2026-12-06T02:00:00Z", "updated_at": "2026-12-06T02:00:00Z"
}))]
pub struct NotificationRule {
    pub id: Uuid,
    pub rule_id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// `incident_opened`, `incident_escalated`, `incident_reopened`,
    /// `incident_resolved`, `incident_acknowledged`, `approval_requested`,
    /// `execution_failed`.
    pub events: Vec<String>,
    /// This severity and above (`critical`, `high`, `medium`, `low`).
    pub min_severity: Option<String>,
    /// Alertmanager matchers, as written back by the parser.
    pub matchers: Vec<String>,
    pub channels: Option<Vec<Uuid>>,
    pub escalation_policy: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One notification and its state.
#[derive(ToSchema)]
pub struct NotificationState {
    pub id: Uuid,
    pub notification_id: Uuid,
    pub tenant_id: Uuid,
    pub incident_id: Uuid,
    /// Absent for an escalation policy match.
    pub channel_id: Option<Uuid>,
    pub channel_type: Option<String>,
    /// The rule that asked for it; absent for a page of an escalation
    /// level reached (the escalation's events on the timeline say why).
    pub rule_id: Option<Uuid>,
    /// The incident event that caused it (`incident_opened`, ...).
    pub trigger: String,
    /// `pending`, `delivered`, `failed` or `policy_matched`.
    pub status: String,
    pub attempts: i32,
    /// Messages held back by storm coalescing that this one carries as a digest.
    pub held_back: i32,
    /// The receiver's last answer (HTTP status or SMTP code).
    pub code: Option<i32>,
    pub error: Option<String>,
    pub policy_id: Option<Uuid>,
    /// When the first attempt is (was) due: later than `requested_at` for a digest.
    pub due_at: Option<DateTime<Utc>>,
    pub requested_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}
