//! Webhook ingestion: each source's payload becomes normalized alerts
//! ([`sources`]), which [`AlertIngestor`] turns into `AlertReceived` events
//! through the `Alert` aggregate and stores through the batched receipt path:
//! all of a request's alerts in one transaction, answered after commit.

mod ingestor;
mod lifecycle;
pub mod refusals;
pub mod sources;

pub use ingestor::{AlertIngestor, Delivery, IngestedAlert, NormalizedAlert};
pub use lifecycle::SourceLifecycle;
pub use sources::generic::parse_generic;
