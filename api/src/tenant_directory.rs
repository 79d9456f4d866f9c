//! What the request path must know about tenants at once, kept in memory and
//! fed from the log: which API key belongs to which tenant, and which assets
//! each tenant has registered.
//!
//! It is loaded from the log at start-up and then follows it, so keys issued or
//! revoked by any process take effect here within a tail interval.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use alertledger_domain::tenant::TenantEvent;
use alertledger_domain::values::{ApiKeyHash, ApiKeyId, TenantId};
use alertledger_projections::log::{LogCursor, LogEvent, LogFilter, LogReader, LogTailer};
use futures_util::StreamExt;

/// The tenant events the directory folds.
const FOLDED_EVENTS: [&str; 3] = ["ApiKeyIssued", "ApiKeyRevoked", "AssetUpserted"];

/// The tenant behind an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOwner {
    pub tenant_id: TenantId,
    pub key_id: ApiKeyId,
}

#[derive(Default)]
struct Directory {
    keys: HashMap<ApiKeyHash, KeyOwner>,
    key_hashes: HashMap<ApiKeyId, ApiKeyHash>,
    assets: HashMap<TenantId, HashSet<String>>,
}

/// Shared, in-memory tenant lookups. Cheap to clone.
#[derive(Clone, Default)]
pub struct TenantDirectory {
    directory: Arc<RwLock<Directory>>,
}

impl TenantDirectory {
    /// Loads everything the log holds now, then follows the log in the background.
    pub async fn load_and_follow(
        reader: &LogReader,
        tailer: &LogTailer,
    ) -> Result<Self, sqlx::Error> {
        let directory = Self::default();
        let filter = LogFilter {
            tenants: None,
            event_types: Some(FOLDED_EVENTS.iter().map(|t| (*t).to_owned()).collect()),
        };
        let mut cursor = LogCursor::START;
        loop {
            let batch = reader.read(cursor, 5_000, &filter).await?;
            let drained = batch.events.len() < 5_000;
            directory.apply_all(&batch.events);
            cursor = batch.next;
            if drained {
                break;
            }
        }
        let follower = directory.clone();
        let mut stream = Box::pin(tailer.batches(cursor, filter));
        tokio::spawn(async move {
            while let Some(batch) = stream.next().await {
                match batch {
                    Ok(events) => follower.apply_all(&events),
                    Err(error) => tracing::warn!(%error, "tenant directory could not read the log"),
                }
            }
        });
        Ok(directory)
    }

    /// The owner of the key with this hash, if the key is active.
    pub fn key_owner(&self, hash: &ApiKeyHash) -> Option<KeyOwner> {
        self.read(|d| d.keys.get(hash).copied())
    }

    /// Whether `tenant` has registered `asset`.
    pub fn asset_known(&self, tenant: &TenantId, asset: &str) -> bool {
        self.read(|d| {
            d.assets
                .get(tenant)
                .is_some_and(|assets| assets.contains(asset))
        })
    }

    /// Folds events into the directory (events of other kinds are ignored).
    pub fn apply_all(&self, events: &[LogEvent]) {
        let mut directory = self
            .directory
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for event in events {
            match event.payload_as::<TenantEvent>() {
                Ok(TenantEvent::ApiKeyIssued {
                    tenant_id,
                    key_id,
                    key_hash,
                    ..
                }) => {
                    directory.key_hashes.insert(key_id, key_hash.clone());
                    directory
                        .keys
                        .insert(key_hash, KeyOwner { tenant_id, key_id });
                }
                Ok(TenantEvent::ApiKeyRevoked { key_id, .. }) => {
                    if let Some(hash) = directory.key_hashes.remove(&key_id) {
                        directory.keys.remove(&hash);
                    }
                }
                Ok(TenantEvent::AssetUpserted {
                    tenant_id, asset, ..
                }) => {
                    directory
                        .assets
                        .entry(tenant_id)
                        .or_default()
                        .insert(asset.as_str().to_owned());
                }
                Ok(_) => {}
                Err(error) => tracing::error!(
                    %error, position = event.position, event_type = %event.event_type,
                    "tenant directory cannot read an event"
                ),
            }
        }
    }

    fn read<T>(&self, f: impl FnOnce(&Directory) -> T) -> T {
        // A poisoned lock means a writer panicked between two map updates; every
        // map is still consistent on its own, so reading on is safe.
        let guard = self
            .directory
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&guard)
    }
}
