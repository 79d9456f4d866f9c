//! The delivery aggregate: a webhook delivery of a known tenant that was
//! refused (unparseable, unsigned, too large, rate limited...). It is kept so
//! nothing a tool sent is lost without a trace: one event per refused
//! delivery, under a fresh aggregate id, never changed afterwards.
//!
//! The event holds what identifies the delivery and why it was refused, the
//! body's SHA-256 and its first 4 KiB, never credentials or signatures (the
//! route removes the API key from the excerpt before recording it).

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::services::DomainServices;
use crate::values::{ApiKeyId, TenantId, WebhookSource};

/// How much of a refused body is kept, in bytes.
pub const BODY_EXCERPT_BYTES: usize = 4096;

/// What is recorded of a refused delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedDelivery {
    pub tenant_id: TenantId,
    pub delivery_id: Uuid,
    pub source: WebhookSource,
    /// The API key that authenticated it.
    pub key_id: ApiKeyId,
    /// The HTTP status answered (400, 401, 413, 415, 422, 429).
    pub status: u16,
    /// The error code answered (`malformed_json`, `invalid_value`, ...).
    pub code: String,
    /// The error message answered.
    pub reason: String,
    /// The field the error named, if it named one.
    pub field: Option<String>,
    /// Hex SHA-256 of the whole body.
    pub body_sha256: String,
    /// The body's length in bytes.
    pub body_bytes: u64,
    /// The first 4 KiB of the body as text (invalid UTF-8 and NUL replaced
    /// by U+FFFD, the API key if present replaced by `[redacted]`).
    pub body_excerpt: String,
    /// `X-Request-ID`, if the request had one.
    pub request_id: Option<String>,
}

/// A fact about a refused delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeliveryEvent {
    /// A delivery of a known tenant was refused.
    DeliveryRejected {
        #[serde(flatten)]
        delivery: RejectedDelivery,
        at: DateTime<Utc>,
    },
}

crate::event_types::event_type_names!(DeliveryEvent {
    DeliveryRejected => REJECTED,
});

impl DomainEvent for DeliveryEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}

/// What can be asked of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryCommand {
    /// Record a refused delivery.
    RecordRejection(RejectedDelivery),
}

/// Why a delivery command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("the delivery is already recorded")]
    AlreadyRecorded,
}

/// A refused delivery, once recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    recorded: bool,
}

impl Aggregate for Delivery {
    const TYPE: &'static str = "Delivery";
    type Command = DeliveryCommand;
    type Event = DeliveryEvent;
    type Error = DeliveryError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if self.recorded {
            return Err(DeliveryError::AlreadyRecorded);
        }
        let DeliveryCommand::RecordRejection(delivery) = command;
        let event = DeliveryEvent::DeliveryRejected {
            delivery,
            at: services.now(),
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            DeliveryEvent::DeliveryRejected { .. } => self.recorded = true,
        }
    }
}
