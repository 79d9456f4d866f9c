//! A tenant's notification set-up (issue 18): the channels people are told
//! through and the rules saying which incident events reach which channels,
//! as one aggregate per tenant (`NotificationSetup`, aggregate id = the
//! tenant id); and each notification's own record (`NotificationDelivery`,
//! aggregate id = the notification id). Every change is an event.
//!
//! Only what is safe to keep forever is recorded here: a channel's type,
//! name and non-secret settings (a URL is recorded as its host alone). The
//! secrets (webhook URLs, SMTP password, routing key, signing secret) are
//! sealed in `notification_channel_secrets`, never in the log.
//!
//! - `settings`: the channel types and their non-secret settings;
//! - `rule`: a rule's checked form and how it matches an incident event;
//! - `aggregate`: the set-up's commands, events, errors and the fold;
//! - `delivery`: one notification's life (requested, delivered or failed);
//! - `tenant_settings`: the tenant's own settings (its coalescing interval).

mod aggregate;
mod delivery;
mod rule;
mod settings;
mod tenant_settings;

#[cfg(test)]
mod tests;

pub use aggregate::{
    ChannelRecord, NotificationSetup, NotificationSetupCommand, NotificationSetupError,
    NotificationSetupEvent, RuleRecord,
};
pub use delivery::{
    NotificationDelivery, NotificationDeliveryCommand, NotificationDeliveryError,
    NotificationDeliveryEvent, NotificationStatus,
};
pub use rule::{
    IncidentFacts, RuleError, RuleSpec, RuleTarget, RuleTrigger, MAX_RULE_CHANNELS,
    MAX_RULE_MATCHERS,
};
pub use settings::{ChannelName, ChannelSettings, ChannelType, SmtpTls};
pub use tenant_settings::{CoalesceSeconds, MAX_COALESCE_SECONDS};
