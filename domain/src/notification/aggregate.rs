//! The `NotificationSetup` aggregate: a tenant's notification channels.
//! `handle` holds every rule, `apply` only folds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use super::{ChannelName, ChannelSettings};
use crate::services::DomainServices;
use crate::values::{Actor, NotificationChannelId, TenantId};

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
}

crate::event_types::event_type_names!(NotificationSetupEvent {
    NotificationChannelAdded => CHANNEL_ADDED,
    NotificationChannelRemoved => CHANNEL_REMOVED,
});

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
}

/// One channel as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelRecord {
    pub name: ChannelName,
    pub settings: ChannelSettings,
    pub created_at: DateTime<Utc>,
}

/// A tenant's channels, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotificationSetup {
    tenant_id: Option<TenantId>,
    channels: BTreeMap<NotificationChannelId, ChannelRecord>,
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
        }
    }
}
