//! What becomes of a webhook delivery that was not stored: each one of a
//! known tenant is kept as one `DeliveryRejected` event (so nothing a tool
//! sent is lost without a trace), and every delivery, stored or not, is
//! counted by source and outcome for `/metrics`
//! (`alertledger_webhook_deliveries_total{source,outcome}`).
//!
//! Refusals without a valid API key are counted only: there is no tenant to
//! charge them to, and recording them would let anyone fill the log.

use alertledger_domain::delivery::{
    Delivery, DeliveryCommand, RejectedDelivery, BODY_EXCERPT_BYTES,
};
use alertledger_domain::values::{ApiKeyId, TenantId, WebhookSource};
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use axum::http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;

/// What became of a delivery, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (at least one new alert).
    Accepted,
    /// Every alert of it was already stored.
    Duplicate,
    /// Refused: unreadable, unsigned, too large, invalid...
    Rejected,
    /// No valid API key.
    Unauthorized,
    /// Over the tenant's rate limit.
    RateLimited,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
            Outcome::Unauthorized => "unauthorized",
            Outcome::RateLimited => "rate_limited",
        }
    }

    /// The outcome of a refusal answered with `status`.
    pub fn of_refusal(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => Outcome::Unauthorized,
            StatusCode::TOO_MANY_REQUESTS => Outcome::RateLimited,
            _ => Outcome::Rejected,
        }
    }
}

/// The labels of `alertledger_webhook_deliveries_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub source: String,
    pub outcome: String,
}

/// Deliveries of this process by source and outcome. Cheap to clone (shared).
pub type DeliveryCounts = Family<DeliveryLabels, Counter>;

/// Records refused deliveries and counts every delivery. Cheap to clone.
#[derive(Clone)]
pub struct DeliveryRecorder {
    store: std::sync::Arc<AggregateStore<Delivery>>,
    counts: DeliveryCounts,
}

/// A refused delivery of a known tenant, before it is recorded.
pub struct Refusal<'a> {
    pub tenant_id: TenantId,
    pub key_id: ApiKeyId,
    pub source: WebhookSource,
    pub error: &'a ApiError,
    pub body: &'a [u8],
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    /// Text that must not appear in the stored excerpt (the API key when it
    /// came in the URL or the body).
    pub secret: Option<&'a str>,
}

impl DeliveryRecorder {
    pub fn new(store: AggregateStore<Delivery>) -> Self {
        Self {
            store: std::sync::Arc::new(store),
            counts: DeliveryCounts::default(),
        }
    }

    /// The counters, for `/metrics`.
    pub fn counts(&self) -> &DeliveryCounts {
        &self.counts
    }

    /// Counts one delivery from `source` (as the route named it).
    pub fn count(&self, source: &str, outcome: Outcome) {
        self.counts
            .get_or_create(&DeliveryLabels {
                source: source.to_owned(),
                outcome: outcome.as_str().to_owned(),
            })
            .inc();
    }

    /// Stores one `DeliveryRejected` event for `refusal`. A failure to record
    /// is logged, never answered in place of the refusal itself.
    pub async fn record(&self, refusal: Refusal<'_>) -> Option<Uuid> {
        let delivery_id = Uuid::now_v7();
        let rejected = RejectedDelivery {
            tenant_id: refusal.tenant_id,
            delivery_id,
            source: refusal.source,
            key_id: refusal.key_id,
            status: refusal.error.status().as_u16(),
            code: refusal.error.code().to_owned(),
            reason: refusal.error.message().replace('\0', "\u{FFFD}"),
            field: refusal
                .error
                .field()
                .map(|field| field.replace('\0', "\u{FFFD}")),
            body_sha256: hex::encode(Sha256::digest(refusal.body)),
            body_bytes: refusal.body.len() as u64,
            body_excerpt: excerpt(refusal.body, refusal.secret),
            request_id: refusal.request_id,
        };
        let metadata = EventMetadata {
            actor: Some(format!("api_key:{}", refusal.key_id)),
            request_id: rejected.request_id.clone(),
            source_ip: refusal.source_ip,
            delivery_key: None,
            causation_id: None,
            correlation_id: None,
        };
        match self
            .store
            .execute(
                &delivery_id.to_string(),
                DeliveryCommand::RecordRejection(rejected),
                metadata,
            )
            .await
        {
            Ok(()) => Some(delivery_id),
            Err(error) => {
                tracing::error!(%error, tenant_id = %refusal.tenant_id, "could not record a refused delivery");
                None
            }
        }
    }
}

/// The body's first 4 KiB as text: cut on a character boundary, invalid
/// UTF-8 and NUL (which PostgreSQL's JSON cannot hold) as U+FFFD, and the
/// secret, if it appears, as `[redacted]`.
fn excerpt(body: &[u8], secret: Option<&str>) -> String {
    let head = &body[..body.len().min(BODY_EXCERPT_BYTES)];
    let mut text = String::from_utf8_lossy(head).replace('\0', "\u{FFFD}");
    if let Some(secret) = secret.filter(|secret| secret.len() >= 8) {
        text = text.replace(secret, "[redacted]");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_excerpt_is_bounded_and_holds_no_nul_or_secret() {
        let mut body = b"{\"routing_key\": \"alk_secret_key_123\", \"x\": \"\0\"}".to_vec();
        body.extend(vec![b'a'; 10_000]);
        let text = excerpt(&body, Some("alk_secret_key_123"));
        assert!(text.len() <= BODY_EXCERPT_BYTES + 16);
        assert!(!text.contains('\0'));
        assert!(!text.contains("alk_secret_key_123"));
        assert!(text.contains("[redacted]"));
    }
}
