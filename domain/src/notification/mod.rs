//! A tenant's notification set-up (issue 18): the channels people are told
//! through, as one aggregate per tenant (`NotificationSetup`, aggregate id =
//! the tenant id). Every change is an event with its actor.
//!
//! Only what is safe to keep forever is recorded here: a channel's type,
//! name and non-secret settings (a URL is recorded as its host alone). The
//! secrets (webhook URLs, SMTP password, routing key, signing secret) are
//! sealed in `notification_channel_secrets`, never in the log.
//!
//! - `settings`: the channel types and their non-secret settings;
//! - `aggregate`: commands, events, errors and the fold.

mod aggregate;
mod settings;

#[cfg(test)]
mod tests;

pub use aggregate::{
    ChannelRecord, NotificationSetup, NotificationSetupCommand, NotificationSetupError,
    NotificationSetupEvent,
};
pub use settings::{ChannelName, ChannelSettings, ChannelType, SmtpTls};
