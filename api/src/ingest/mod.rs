//! Webhook ingestion: each source's payload becomes normalized alerts
//! ([`NormalizedAlert`]), which [`AlertIngestor`] turns into `AlertReceived`
//! events through the `Alert` aggregate and stores through the batched receipt
//! path: all of a request's alerts in one transaction, answered after commit.

mod generic;
mod ingestor;

pub use generic::parse_generic;
pub use ingestor::{AlertIngestor, Delivery, IngestedAlert, NormalizedAlert};
