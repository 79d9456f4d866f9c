//! From normalized alerts to committed receipts.

use alertledger_domain::alert::{Alert, AlertCommand, AlertEvent};
use alertledger_domain::values::{
    AlertId, AlertMessage, AlertSignature, AlertStatus, ApiKeyId, AssetName, DeliveryKey,
    Fingerprint, Labels, NormalizationWarning, Severity, TenantId, ToolSource, WebhookSource,
};
use alertledger_domain::DomainServices;
use alertledger_eventstore::receipts::{AppendError, Receipt, ReceiptBatcher};
use alertledger_eventstore::store::EventMetadata;
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;

use super::lifecycle::SourceLifecycle;
use crate::error::ApiError;
use crate::tenant_directory::TenantDirectory;

/// One alert as every source maps it, before it gets a tenant-scoped id.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizedAlert {
    pub asset: AssetName,
    pub signature: AlertSignature,
    pub severity: Severity,
    pub message: AlertMessage,
    pub tool_source: ToolSource,
    pub status: AlertStatus,
    pub labels: Labels,
    /// When the tool says it began; `None` means "when we received it".
    pub occurred_at: Option<DateTime<Utc>>,
    /// The alert's identity across notifications (same problem, same fingerprint).
    pub fingerprint: Fingerprint,
    /// The source's own identity of this notification, used as the delivery key
    /// when the request names none.
    pub notification_key: DeliveryKey,
    /// The tool reports the alert acknowledged (PagerDuty `acknowledge`): the
    /// matching alert is acknowledged rather than a new problem raised.
    pub acknowledged_by_source: bool,
    /// What was odd in the tool's payload and stored with a default.
    pub warnings: Vec<NormalizationWarning>,
}

/// Who delivered a request, and how.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub tenant_id: TenantId,
    pub key_id: ApiKeyId,
    pub source: WebhookSource,
    /// The signed `webhook-id`, else `Idempotency-Key`, `X-Delivery-ID` or an
    /// unsigned `webhook-id`, if the tool sent one (see [`sender_key`]).
    pub request_key: Option<String>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
}

/// The outcome for one alert of a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IngestedAlert {
    pub alert_id: AlertId,
    pub duplicate: bool,
    pub position: i64,
}

/// Turns normalized alerts into stored receipts. Cheap to clone.
#[derive(Clone)]
pub struct AlertIngestor {
    batcher: ReceiptBatcher<Alert>,
    directory: TenantDirectory,
    services: DomainServices,
    lifecycle: SourceLifecycle,
}

impl AlertIngestor {
    pub fn new(
        batcher: ReceiptBatcher<Alert>,
        directory: TenantDirectory,
        services: DomainServices,
        lifecycle: SourceLifecycle,
    ) -> Self {
        Self {
            batcher,
            directory,
            services,
            lifecycle,
        }
    }

    /// Stores every alert of one delivery, all or nothing, and reports each one.
    ///
    /// A resolved notification is stored like any other and also resolves the
    /// open alerts it refers to; an acknowledgement from the tool acknowledges
    /// them instead of raising a new alert.
    pub async fn ingest(
        &self,
        delivery: &Delivery,
        alerts: Vec<NormalizedAlert>,
    ) -> Result<Vec<IngestedAlert>, ApiError> {
        let (acknowledgements, notifications): (Vec<_>, Vec<_>) = alerts
            .into_iter()
            .partition(|alert| alert.acknowledged_by_source);
        let now = self.services.now();
        // A resolution closes occurrences that began no later than the one it
        // names (for Alertmanager, its startsAt); it is recorded as of now.
        let resolutions: Vec<(Fingerprint, DateTime<Utc>)> = notifications
            .iter()
            .filter(|alert| alert.status == AlertStatus::Resolved)
            .map(|alert| (alert.fingerprint.clone(), alert.occurred_at.unwrap_or(now)))
            .collect();
        let mut ingested = self.store_receipts(delivery, notifications).await?;
        for (fingerprint, began_by) in resolutions {
            self.lifecycle
                .resolve_matching(delivery, &fingerprint, began_by, now)
                .await?;
        }
        for acknowledgement in acknowledgements {
            let acknowledged = self
                .lifecycle
                .acknowledge_matching(delivery, &acknowledgement.fingerprint)
                .await?;
            ingested.extend(acknowledged);
        }
        Ok(ingested)
    }

    /// Stores the receipts of one delivery in one transaction.
    async fn store_receipts(
        &self,
        delivery: &Delivery,
        alerts: Vec<NormalizedAlert>,
    ) -> Result<Vec<IngestedAlert>, ApiError> {
        if alerts.is_empty() {
            return Ok(Vec::new());
        }
        let count = alerts.len();
        let mut receipts = Vec::with_capacity(count);
        let mut ids = Vec::with_capacity(count);
        for (index, alert) in alerts.into_iter().enumerate() {
            let delivery_key = delivery_key(delivery.request_key.as_deref(), index, count, &alert)?;
            let alert_id = AlertId::for_delivery(&delivery.tenant_id, &delivery_key);
            let metadata = EventMetadata {
                actor: Some(format!("api_key:{}", delivery.key_id)),
                request_id: delivery.request_id.clone(),
                source_ip: delivery.source_ip.clone(),
                delivery_key: Some(delivery_key.as_str().to_owned()),
                causation_id: None,
                correlation_id: Some(alert_id.to_string()),
            };
            let asset_known = self
                .directory
                .asset_known(&delivery.tenant_id, alert.asset.as_str());
            let command = AlertCommand::ReceiveAlert {
                alert_id,
                tenant_id: delivery.tenant_id,
                delivery_key,
                source: delivery.source,
                occurred_at: alert.occurred_at.unwrap_or_else(|| self.services.now()),
                asset: alert.asset,
                signature: alert.signature,
                severity: alert.severity,
                message: alert.message,
                tool_source: alert.tool_source,
                status: alert.status,
                labels: alert.labels,
                fingerprint: alert.fingerprint,
                asset_known,
                normalization_warnings: alert.warnings,
            };
            receipts.extend(self.receipts(alert_id, command, metadata).await?);
            ids.push(alert_id);
        }
        let outcomes = self
            .batcher
            .append(receipts)
            .await
            .map_err(|error| match error {
                AppendError::Database(cause) => ApiError::database(&cause),
                other => ApiError::internal(&other),
            })?;
        Ok(ids
            .into_iter()
            .zip(outcomes)
            .map(|(alert_id, outcome)| IngestedAlert {
                alert_id,
                duplicate: outcome.duplicate,
                position: outcome.position,
            })
            .collect())
    }

    /// Runs the receipt through the `Alert` aggregate, so its rules apply here
    /// exactly as for any other command.
    async fn receipts(
        &self,
        alert_id: AlertId,
        command: AlertCommand,
        metadata: EventMetadata,
    ) -> Result<Vec<Receipt<AlertEvent>>, ApiError> {
        let mut alert = Alert::default();
        let sink = EventSink::default();
        alert
            .handle(command, &self.services, &sink)
            .await
            .map_err(|error| ApiError::internal(&error))?;
        Ok(sink
            .collect()
            .await
            .into_iter()
            .map(|event| Receipt {
                aggregate_id: alert_id.to_string(),
                event,
                metadata: metadata.clone(),
            })
            .collect())
    }
}

/// Prefixes of the keys derived from a tool's own identity of a
/// notification (`zabbix:<event id>:<value>`, `alertmanager:<hash>`, ...),
/// and the prefix that moves a sender's key out of their way.
const TOOL_KEY_PREFIXES: [&str; 8] = [
    "generic:",
    "alertmanager:",
    "grafana:",
    "datadog:",
    "sns:",
    "zabbix:",
    "pagerduty:",
    SENDER_KEY_PREFIX,
];
const SENDER_KEY_PREFIX: &str = "sender:";

/// A sender-chosen key in its own namespace: one that starts like a
/// tool-derived key (or like a moved one) gets `sender:` in front, so a
/// sender can never pre-register the key of a future real alert (e.g.
/// `zabbix:<event id>:1`) and make it a "duplicate". Every other key is kept
/// as sent; the mapping is one-to-one.
pub fn sender_key(key: &str) -> String {
    if TOOL_KEY_PREFIXES
        .iter()
        .any(|prefix| key.len() >= prefix.len() && key[..prefix.len()].eq_ignore_ascii_case(prefix))
    {
        format!("{SENDER_KEY_PREFIX}{key}")
    } else {
        key.to_owned()
    }
}

/// The request's key (in the senders' namespace, suffixed by the alert's
/// index when a request carries several alerts), else the source's own
/// identity of the notification.
fn delivery_key(
    request_key: Option<&str>,
    index: usize,
    count: usize,
    alert: &NormalizedAlert,
) -> Result<DeliveryKey, ApiError> {
    let Some(request_key) = request_key else {
        return Ok(alert.notification_key.clone());
    };
    let request_key = sender_key(request_key);
    let key = if count == 1 {
        request_key
    } else {
        format!("{request_key}#{index}")
    };
    DeliveryKey::parse(&key)
        .map_err(|error| ApiError::invalid_value("Idempotency-Key", error.to_string()))
}
