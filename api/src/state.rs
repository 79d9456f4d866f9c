//! What every handler can reach.

use std::sync::Arc;

use alertledger_domain::alert::Alert;
use alertledger_domain::approval::Approval;
use alertledger_domain::change_report::ChangeReport;
use alertledger_domain::execution::Execution;
use alertledger_domain::incident::Incident;
use alertledger_domain::maintenance::MaintenanceWindow;
use alertledger_domain::runbook::Runbook;
use alertledger_domain::tenant::Tenant;
use alertledger_domain::DomainServices;
use alertledger_eventstore::log::LogReader;
use alertledger_eventstore::store::AggregateStore;
use alertledger_seal::PublicKey;
use sqlx::PgPool;

use crate::auth::jwt::JwtVerifier;
use crate::auth::signing::ActiveSecrets;
use crate::feed::FeedHub;
use crate::ingest::refusals::DeliveryRecorder;
use crate::ingest::sources::SourceSettings;
use crate::ingest::AlertIngestor;
use crate::rate_limit::TenantRateLimiter;
use crate::tenant_directory::TenantDirectory;
use crate::RemediationSettings;

/// Shared application state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// Everything the handlers share.
pub struct Parts {
    pub pool: PgPool,
    pub jwt: JwtVerifier,
    pub log: LogReader,
    pub directory: TenantDirectory,
    pub ingestor: AlertIngestor,
    /// Refused webhook deliveries (recorded) and delivery counts.
    pub deliveries: DeliveryRecorder,
    pub tenants: AggregateStore<Tenant>,
    /// Shared with the ingestor's source lifecycle, which changes alerts too.
    pub alerts: Arc<AggregateStore<Alert>>,
    pub incidents: AggregateStore<Incident>,
    pub rate_limiter: TenantRateLimiter,
    pub secrets: ActiveSecrets,
    pub sources: SourceSettings,
    pub runbooks: AggregateStore<Runbook>,
    pub approvals: AggregateStore<Approval>,
    pub executions: AggregateStore<Execution>,
    /// Changes tools report (PagerDuty change events).
    pub changes: AggregateStore<ChangeReport>,
    /// Maintenance windows and silences.
    pub windows: AggregateStore<MaintenanceWindow>,
    pub remediation: RemediationSettings,
    /// The clock (and other domain services) commands run with.
    pub services: DomainServices,
    /// The key that signs audit checkpoints (published, never secret).
    pub audit_public_key: PublicKey,
    /// The live feed's tailer and broadcast.
    pub feed: FeedHub,
    /// Workers of this process that stopped on purpose (`/readyz`, `/metrics`).
    pub alarms: alertledger_eventstore::alarms::Alarms,
    /// Bearer token `/metrics` requires (`None`: open).
    pub metrics_token: Option<String>,
    /// Failed authentications per client address.
    pub auth_failures: Arc<crate::edge::AuthFailureLimiter>,
    /// Built-in users: sign-in, sessions, the revocation list.
    pub people: crate::people::People,
    /// Notification channels: their set-up, sealed secrets and senders.
    pub notifications: NotificationParts,
    /// Single sign-on (`None`: not configured).
    pub oidc: Option<crate::oidc::Oidc>,
    /// On-call schedules, escalation policies and escalations.
    pub escalation: EscalationParts,
}

/// What the on-call and escalation routes need.
pub struct EscalationParts {
    pub setup: AggregateStore<alertledger_domain::escalation::EscalationSetup>,
    pub escalations: AggregateStore<alertledger_domain::escalation::Escalation>,
}

/// What the notification routes need.
pub struct NotificationParts {
    pub setup: AggregateStore<alertledger_domain::notification::NotificationSetup>,
    pub secrets: alertledger_notify::ChannelSecretStore,
    pub senders: alertledger_notify::Senders,
    pub policy: alertledger_notify::OutboundPolicy,
}

type Inner = Parts;

impl AppState {
    pub fn new(parts: Parts) -> Self {
        Self {
            inner: Arc::new(parts),
        }
    }

    pub fn tenants(&self) -> &AggregateStore<Tenant> {
        &self.inner.tenants
    }

    pub fn alerts(&self) -> &AggregateStore<Alert> {
        &self.inner.alerts
    }

    pub fn incidents(&self) -> &AggregateStore<Incident> {
        &self.inner.incidents
    }

    pub fn windows(&self) -> &AggregateStore<MaintenanceWindow> {
        &self.inner.windows
    }

    pub fn runbooks(&self) -> &AggregateStore<Runbook> {
        &self.inner.runbooks
    }

    pub fn approvals(&self) -> &AggregateStore<Approval> {
        &self.inner.approvals
    }

    pub fn executions(&self) -> &AggregateStore<Execution> {
        &self.inner.executions
    }

    pub fn changes(&self) -> &AggregateStore<ChangeReport> {
        &self.inner.changes
    }

    pub fn remediation(&self) -> &RemediationSettings {
        &self.inner.remediation
    }

    pub fn services(&self) -> &DomainServices {
        &self.inner.services
    }

    pub fn rate_limiter(&self) -> &TenantRateLimiter {
        &self.inner.rate_limiter
    }

    pub fn secrets(&self) -> &ActiveSecrets {
        &self.inner.secrets
    }

    pub fn source_settings(&self) -> &SourceSettings {
        &self.inner.sources
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub fn audit_public_key(&self) -> &PublicKey {
        &self.inner.audit_public_key
    }

    pub fn jwt(&self) -> &JwtVerifier {
        &self.inner.jwt
    }

    pub fn log(&self) -> &LogReader {
        &self.inner.log
    }

    pub fn directory(&self) -> &TenantDirectory {
        &self.inner.directory
    }

    pub fn ingestor(&self) -> &AlertIngestor {
        &self.inner.ingestor
    }

    pub fn deliveries(&self) -> &DeliveryRecorder {
        &self.inner.deliveries
    }

    pub fn feed(&self) -> &FeedHub {
        &self.inner.feed
    }

    pub fn alarms(&self) -> &alertledger_eventstore::alarms::Alarms {
        &self.inner.alarms
    }

    /// Failed authentications per client address (middleware, `/metrics`).
    pub fn auth_failures(&self) -> &Arc<crate::edge::AuthFailureLimiter> {
        &self.inner.auth_failures
    }

    pub fn people(&self) -> &crate::people::People {
        &self.inner.people
    }

    /// Revoked sessions and users, as this process learned them from the log.
    pub fn revocations(&self) -> &crate::people::RevocationList {
        &self.inner.people.revocations
    }

    /// Single sign-on, when configured.
    pub fn oidc(&self) -> Option<&crate::oidc::Oidc> {
        self.inner.oidc.as_ref()
    }

    pub fn notifications(&self) -> &NotificationParts {
        &self.inner.notifications
    }

    pub fn escalation(&self) -> &EscalationParts {
        &self.inner.escalation
    }

    /// The bearer token `/metrics` requires, if one is set.
    pub fn metrics_token(&self) -> Option<&str> {
        self.inner.metrics_token.as_deref()
    }
}
