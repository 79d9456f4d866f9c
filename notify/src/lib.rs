//! Notification channels (issue 18): how a channel's configuration is read
//! and checked, how its secrets are sealed at rest, and one sender per
//! channel type behind the [`send::ChannelSender`] trait. Shared by the API
//! (creating and testing channels) and the notifier worker (delivering);
//! neither depends on the other.
//!
//! - [`config`] — the API's `{"type", "name", "config"}` into the domain's
//!   non-secret [`ChannelSettings`](alertledger_domain::notification::ChannelSettings)
//!   and a [`secret::ChannelSecret`], or a 422-worthy error naming the field;
//! - [`secret`] — what must never reach the log, a response or a log line;
//! - [`cipher`] and [`store`] — secrets sealed under the master key in
//!   `notification_channel_secrets`;
//! - [`message`] — what a notification says, independent of the channel;
//! - [`send`] — the senders (Slack, Teams, email, webhook, PagerDuty) and the
//!   one outbound HTTP client (timeouts, no redirects).

pub mod cipher;
pub mod config;
pub mod message;
pub mod secret;
pub mod send;
pub mod store;

pub use cipher::ChannelSecretCipher;
pub use config::{parse_channel, ConfigError, OutboundPolicy};
pub use message::{Notification, NotificationKind};
pub use secret::ChannelSecret;
pub use send::{AttemptError, Senders};
pub use store::ChannelSecretStore;
