//! The `NotificationSetup` aggregate: a tenant's notification channels and
//! rules, and its own notification settings (the coalescing interval).
//! `handle` holds every rule, `apply` only folds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use super::{ChannelName, ChannelSettings, CoalesceSeconds, RuleSpec};
use crate::services::DomainServices;
use crate::values::{Actor, NotificationChannelId, NotificationRuleId, TenantId};

/// What can be asked of a tenant's notification set-up.
#[derive(Debug, Clone, PartialEq)]
pub enum NotificationSetupCommand {
    /// Add a channel (its secrets are already sealed under `channel_id`).
    AddChannel {
        tenant_id: TenantId,
        channel_id: NotificationChannelId,
        name: ChannelName,
        settings: ChannelSettings,
        actor: Actor,
    },
    /// Remove a channel; rules naming it no longer reach it.
    RemoveChannel {
        channel_id: NotificationChannelId,
        actor: Actor,
    },
    /// Change a channel's name and settings (its secret, if new, is
    /// already sealed under `channel_id`).
    UpdateChannel {
        channel_id: NotificationChannelId,
        name: ChannelName,
        settings: ChannelSettings,
        actor: Actor,
    },
    /// Add a rule; every channel it names must be one of the tenant's.
    AddRule {
        tenant_id: TenantId,
        rule_id: NotificationRuleId,
        rule: RuleSpec,
        actor: Actor,
    },
    /// Replace a rule.
    ChangeRule {
        rule_id: NotificationRuleId,
        rule: RuleSpec,
        actor: Actor,
    },
    /// Remove a rule.
    RemoveRule {
        rule_id: NotificationRuleId,
        actor: Actor,
    },
    /// Set the tenant's coalescing interval (`None`: back to the process
    /// setting).
    ChangeSettings {
        tenant_id: TenantId,
        coalesce_seconds: Option<CoalesceSeconds>,
        actor: Actor,
    },
}

/// A fact about a tenant's notification set-up. Variant names are stored
/// and permanent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NotificationSetupEvent {
    /// A channel was added (non-secret settings only).
    NotificationChannelAdded {
        tenant_id: TenantId,
        channel_id: NotificationChannelId,
        name: ChannelName,
        settings: ChannelSettings,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// A channel was removed.
    NotificationChannelRemoved {
        tenant_id: TenantId,
        channel_id: NotificationChannelId,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// A channel's name or settings changed (non-secret settings only).
    NotificationChannelUpdated {
        tenant_id: TenantId,
        channel_id: NotificationChannelId,
        name: ChannelName,
        settings: ChannelSettings,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// A rule was added.
    NotificationRuleAdded {
        tenant_id: TenantId,
        rule_id: NotificationRuleId,
        rule: RuleSpec,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// A rule was replaced.
    NotificationRuleChanged {
        tenant_id: TenantId,
        rule_id: NotificationRuleId,
        rule: RuleSpec,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// A rule was removed.
    NotificationRuleRemoved {
        tenant_id: TenantId,
        rule_id: NotificationRuleId,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// The tenant's notification settings were set (`coalesce_seconds`
    /// null: the process setting applies).
    NotificationSettingsChanged {
        tenant_id: TenantId,
        coalesce_seconds: Option<u32>,
        actor: Actor,
        at: DateTime<Utc>,
    },
}

crate::event_types::event_type_names!(NotificationSetupEvent {
    NotificationChannelAdded => CHANNEL_ADDED,
    NotificationChannelRemoved => CHANNEL_REMOVED,
    NotificationChannelUpdated => CHANNEL_UPDATED,
    NotificationRuleAdded => RULE_ADDED,
    NotificationRuleChanged => RULE_CHANGED,
    NotificationRuleRemoved => RULE_REMOVED,
    NotificationSettingsChanged => SETTINGS_CHANGED,
});

impl NotificationSetupEvent {
    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Self::NotificationChannelAdded { tenant_id, .. }
            | Self::NotificationChannelRemoved { tenant_id, .. }
            | Self::NotificationChannelUpdated { tenant_id, .. }
            | Self::NotificationRuleAdded { tenant_id, .. }
            | Self::NotificationRuleChanged { tenant_id, .. }
            | Self::NotificationRuleRemoved { tenant_id, .. }
            | Self::NotificationSettingsChanged { tenant_id, .. } => *tenant_id,
        }
    }
}

impl DomainEvent for NotificationSetupEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}

/// Why a command on the notification set-up was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationSetupError {
    #[error("channel {channel_id} already exists")]
    ChannelIdTaken { channel_id: NotificationChannelId },
    #[error("no such notification channel")]
    UnknownChannel { channel_id: NotificationChannelId },
    #[error("the notification set-up belongs to another tenant")]
    WrongTenant,
    #[error("a channel's type cannot change; add a new channel")]
    ChannelTypeChanged,
    #[error("rule {rule_id} already exists")]
    RuleIdTaken { rule_id: NotificationRuleId },
    #[error("no such notification rule")]
    UnknownRule { rule_id: NotificationRuleId },
    /// A rule names a channel the tenant does not have (`index` in `channels`).
    #[error("channels[{index}]: no such notification channel of this tenant")]
    RuleNamesUnknownChannel { index: usize },
}

/// One channel as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelRecord {
    pub name: ChannelName,
    pub settings: ChannelSettings,
    pub created_at: DateTime<Utc>,
}

/// One rule as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRecord {
    pub rule: RuleSpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A tenant's channels and rules, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotificationSetup {
    tenant_id: Option<TenantId>,
    channels: BTreeMap<NotificationChannelId, ChannelRecord>,
    #[serde(default)]
    rules: BTreeMap<NotificationRuleId, RuleRecord>,
    /// The tenant's coalescing interval, when it set one.
    #[serde(default)]
    coalesce_seconds: Option<u32>,
}

impl NotificationSetup {
    /// The tenant's current channels, oldest first (ids are v7).
    pub fn channels(&self) -> impl Iterator<Item = (NotificationChannelId, &ChannelRecord)> {
        self.channels.iter().map(|(id, record)| (*id, record))
    }

    /// One current channel.
    pub fn channel(&self, channel_id: NotificationChannelId) -> Option<&ChannelRecord> {
        self.channels.get(&channel_id)
    }

    /// The tenant's current rules, oldest first (ids are v7).
    pub fn rules(&self) -> impl Iterator<Item = (NotificationRuleId, &RuleRecord)> {
        self.rules.iter().map(|(id, record)| (*id, record))
    }

    /// One current rule.
    pub fn rule(&self, rule_id: NotificationRuleId) -> Option<&RuleRecord> {
        self.rules.get(&rule_id)
    }

    /// The tenant's coalescing interval in seconds; `None`: the process's.
    pub fn coalesce_seconds(&self) -> Option<u32> {
        self.coalesce_seconds
    }

    /// Refuses a rule naming a channel this set-up does not have.
    fn check_channels(&self, rule: &RuleSpec) -> Result<(), NotificationSetupError> {
        match rule
            .channels()
            .iter()
            .position(|id| !self.channels.contains_key(id))
        {
            Some(index) => Err(NotificationSetupError::RuleNamesUnknownChannel { index }),
            None => Ok(()),
        }
    }
}

impl Aggregate for NotificationSetup {
    const TYPE: &'static str = "NotificationSetup";
    type Command = NotificationSetupCommand;
    type Event = NotificationSetupEvent;
    type Error = NotificationSetupError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let at = services.now();
        let event = match command {
            NotificationSetupCommand::AddChannel {
                tenant_id,
                channel_id,
                name,
                settings,
                actor,
            } => {
                if self.tenant_id.is_some_and(|own| own != tenant_id) {
                    return Err(NotificationSetupError::WrongTenant);
                }
                if self.channels.contains_key(&channel_id) {
                    return Err(NotificationSetupError::ChannelIdTaken { channel_id });
                }
                NotificationSetupEvent::NotificationChannelAdded {
                    tenant_id,
                    channel_id,
                    name,
                    settings,
                    actor,
                    at,
                }
            }
            NotificationSetupCommand::RemoveChannel { channel_id, actor } => {
                let (Some(tenant_id), true) =
                    (self.tenant_id, self.channels.contains_key(&channel_id))
                else {
                    return Err(NotificationSetupError::UnknownChannel { channel_id });
                };
                NotificationSetupEvent::NotificationChannelRemoved {
                    tenant_id,
                    channel_id,
                    actor,
                    at,
                }
            }
            NotificationSetupCommand::UpdateChannel {
                channel_id,
                name,
                settings,
                actor,
            } => {
                let Some(tenant_id) = self.tenant_id else {
                    return Err(NotificationSetupError::UnknownChannel { channel_id });
                };
                let Some(current) = self.channels.get(&channel_id) else {
                    return Err(NotificationSetupError::UnknownChannel { channel_id });
                };
                if current.settings.channel_type() != settings.channel_type() {
                    return Err(NotificationSetupError::ChannelTypeChanged);
                }
                NotificationSetupEvent::NotificationChannelUpdated {
                    tenant_id,
                    channel_id,
                    name,
                    settings,
                    actor,
                    at,
                }
            }
            NotificationSetupCommand::AddRule {
                tenant_id,
                rule_id,
                rule,
                actor,
            } => {
                if self.tenant_id.is_some_and(|own| own != tenant_id) {
                    return Err(NotificationSetupError::WrongTenant);
                }
                if self.rules.contains_key(&rule_id) {
                    return Err(NotificationSetupError::RuleIdTaken { rule_id });
                }
                self.check_channels(&rule)?;
                NotificationSetupEvent::NotificationRuleAdded {
                    tenant_id,
                    rule_id,
                    rule,
                    actor,
                    at,
                }
            }
            NotificationSetupCommand::ChangeRule {
                rule_id,
                rule,
                actor,
            } => {
                let (Some(tenant_id), true) = (self.tenant_id, self.rules.contains_key(&rule_id))
                else {
                    return Err(NotificationSetupError::UnknownRule { rule_id });
                };
                self.check_channels(&rule)?;
                NotificationSetupEvent::NotificationRuleChanged {
                    tenant_id,
                    rule_id,
                    rule,
                    actor,
                    at,
                }
            }
            NotificationSetupCommand::RemoveRule { rule_id, actor } => {
                let (Some(tenant_id), true) = (self.tenant_id, self.rules.contains_key(&rule_id))
                else {
                    return Err(NotificationSetupError::UnknownRule { rule_id });
                };
                NotificationSetupEvent::NotificationRuleRemoved {
                    tenant_id,
                    rule_id,
                    actor,
                    at,
                }
            }
            NotificationSetupCommand::ChangeSettings {
                tenant_id,
                coalesce_seconds,
                actor,
            } => {
                if self.tenant_id.is_some_and(|own| own != tenant_id) {
                    return Err(NotificationSetupError::WrongTenant);
                }
                // Setting what is already set is still recorded: the audit
                // trail shows who confirmed it and when.
                NotificationSetupEvent::NotificationSettingsChanged {
                    tenant_id,
                    coalesce_seconds: coalesce_seconds.map(CoalesceSeconds::seconds),
                    actor,
                    at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            NotificationSetupEvent::NotificationChannelAdded {
                tenant_id,
                channel_id,
                name,
                settings,
                at,
                ..
            } => {
                self.tenant_id = Some(tenant_id);
                self.channels.insert(
                    channel_id,
                    ChannelRecord {
                        name,
                        settings,
                        created_at: at,
                    },
                );
            }
            NotificationSetupEvent::NotificationChannelRemoved { channel_id, .. } => {
                self.channels.remove(&channel_id);
            }
            NotificationSetupEvent::NotificationChannelUpdated {
                channel_id,
                name,
                settings,
                ..
            } => {
                if let Some(record) = self.channels.get_mut(&channel_id) {
                    record.name = name;
                    record.settings = settings;
                }
            }
            NotificationSetupEvent::NotificationRuleAdded {
                tenant_id,
                rule_id,
                rule,
                at,
                ..
            } => {
                self.tenant_id = Some(tenant_id);
                self.rules.insert(
                    rule_id,
                    RuleRecord {
                        rule,
                        created_at: at,
                        updated_at: at,
                    },
                );
            }
            NotificationSetupEvent::NotificationRuleChanged {
                rule_id, rule, at, ..
            } => {
                if let Some(record) = self.rules.get_mut(&rule_id) {
                    record.rule = rule;
                    record.updated_at = at;
                }
            }
            NotificationSetupEvent::NotificationRuleRemoved { rule_id, .. } => {
                self.rules.remove(&rule_id);
            }
            NotificationSetupEvent::NotificationSettingsChanged {
                tenant_id,
                coalesce_seconds,
                ..
            } => {
                self.tenant_id = Some(tenant_id);
                self.coalesce_seconds = coalesce_seconds;
            }
        }
    }
}
