//! The notifier (issue 18): who is told about what, and the delivery of it
//! with an outbox's guarantees.
//!
//! - [`rules`] — rule evaluation for one incident event: the single
//!   suppression check ([`rules::suppressed`]), matching, and the one place
//!   where a rule with an escalation policy matched
//!   ([`rules::escalation_policy_matched`]).
//! - [`consumer`] — [`Notifier`], the log consumer: folds the tenants'
//!   channels and rules and the incidents' facts, and for each incident
//!   event a rule matches records `NotificationRequested` and its outbox row
//!   in the transaction of its checkpoint (storm coalescing happens here).
//! - [`delivery`] — [`DeliveryWorker`]: sends what is pending and due, one
//!   attempt per transaction, recording each attempt as a row and the
//!   outcome as `NotificationDelivered` or `NotificationFailed`.
//! - [`retry`] — exponential backoff with jitter.
//!
//! Guarantees: a notification is requested (event + row) before any attempt;
//! a delivered one is never sent again (its row is final in the transaction
//! of its event); a pending one is resumed after a restart. A crash between
//! a receiver's answer and the commit sends that attempt again, with the same
//! idempotency key (`webhook-id` = notification id, PagerDuty `dedup_key` =
//! incident id), so receivers that honour it see it once.

pub mod consumer;
pub mod delivery;
pub mod retry;
pub mod rules;

use std::time::Duration;

pub use consumer::{Notifier, NOTIFIER};
pub use delivery::{DeliveryWorker, NotifierDelivery, DELIVERY};
pub use retry::RetryPolicy;

/// How the notifier decides and delivers (process settings).
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// Storm coalescing: per incident and channel, at most one message per
    /// this interval; what comes in between is the digest of the next one.
    /// `ALERTLEDGER_NOTIFY_COALESCE_SECONDS` (default 60).
    pub coalesce_interval: Duration,
    /// Where people open an incident (`<base>/incidents/<id>` in messages),
    /// e.g. `https://alertledger.example.com`; none: messages carry no link.
    pub link_base: Option<String>,
    /// Retries of one notification.
    pub retry: RetryPolicy,
    /// Longest wait between looks at the outbox when nothing wakes the worker.
    pub poll_interval: Duration,
    /// Most notifications in flight at once.
    pub concurrency: usize,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        Self {
            coalesce_interval: Duration::from_secs(60),
            link_base: None,
            retry: RetryPolicy::default(),
            poll_interval: Duration::from_millis(500),
            concurrency: 16,
        }
    }
}
