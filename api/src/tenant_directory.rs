//! What the request path must know about tenants at once, kept in memory and
//! fed from the log: which API key belongs to which tenant, and each tenant's
//! name, signing settings, active webhook secrets, rate limit, severity
//! words, pinned SNS topics and assets.
//!
//! It is loaded from the log at start-up and then follows it, so a change made
//! by any process takes effect here within a tail interval. After a command of
//! its own, a process refreshes the tenant from its aggregate at once
//! ([`TenantDirectory::refresh`]). Each tenant's entry carries the aggregate
//! sequence it reflects, and the follower skips events at or below it, so an
//! older event can never undo a newer state (for one aggregate, log order is
//! sequence order).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use alertledger_domain::tenant::{Tenant, TenantEvent};
use alertledger_domain::values::{
    ApiKeyHash, ApiKeyId, RateLimit, SeverityMap, SnsTopicArn, TenantId, WebhookSecretId,
};
use alertledger_eventstore::log::{LogCursor, LogEvent, LogFilter, LogReader, LogTailer};
use futures_util::StreamExt;
use tokio::sync::Mutex;

/// The tenant events the directory folds.
const FOLDED_EVENTS: [&str; 10] = [
    TenantEvent::REGISTERED,
    TenantEvent::API_KEY_ISSUED,
    TenantEvent::API_KEY_REVOKED,
    TenantEvent::WEBHOOK_SECRET_ADDED,
    TenantEvent::WEBHOOK_SECRET_REVOKED,
    TenantEvent::SIGNING_REQUIREMENT_CHANGED,
    TenantEvent::RATE_LIMIT_CHANGED,
    TenantEvent::ASSET_UPSERTED,
    TenantEvent::SEVERITY_MAP_CHANGED,
    TenantEvent::SNS_TOPICS_PINNED,
];

/// The tenant behind an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOwner {
    pub tenant_id: TenantId,
    pub key_id: ApiKeyId,
}

/// A tenant as the request path sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantProfile {
    pub name: String,
    pub slug: String,
    pub signing_required: bool,
    pub active_secrets: BTreeSet<WebhookSecretId>,
    pub rate_limit: RateLimit,
    /// The tenant's own severity words (the built-in words apply after them).
    pub severity_map: SeverityMap,
    /// The SNS topics notifications are accepted from (empty: any).
    pub sns_topics: BTreeSet<SnsTopicArn>,
    assets: HashSet<String>,
}

#[derive(Default)]
struct Directory {
    keys: HashMap<ApiKeyHash, KeyOwner>,
    key_hashes: HashMap<ApiKeyId, ApiKeyHash>,
    tenants: HashMap<TenantId, TenantProfile>,
    /// The `Tenant` aggregate sequence each entry reflects.
    versions: HashMap<TenantId, i64>,
}

/// Shared, in-memory tenant lookups. Cheap to clone.
#[derive(Clone)]
pub struct TenantDirectory {
    directory: Arc<RwLock<Directory>>,
    reader: LogReader,
    /// How far the directory has folded the log; one folder at a time.
    cursor: Arc<Mutex<LogCursor>>,
}

impl TenantDirectory {
    /// Loads everything the log holds now, then follows the log in the background.
    pub async fn load_and_follow(
        reader: &LogReader,
        tailer: &LogTailer,
    ) -> Result<Self, sqlx::Error> {
        let directory = Self {
            directory: Arc::default(),
            reader: reader.clone(),
            cursor: Arc::new(Mutex::new(LogCursor::START)),
        };
        directory.catch_up().await?;
        let start = *directory.cursor.lock().await;
        let follower = directory.clone();
        let mut stream = Box::pin(tailer.batches(start, filter()));
        tokio::spawn(async move {
            while let Some(batch) = stream.next().await {
                match batch {
                    Ok(events) => follower.apply_new(&events).await,
                    Err(error) => tracing::warn!(%error, "tenant directory could not read the log"),
                }
            }
        });
        Ok(directory)
    }

    /// Folds whatever the log holds beyond what the directory has seen.
    async fn catch_up(&self) -> Result<(), sqlx::Error> {
        let mut cursor = self.cursor.lock().await;
        loop {
            let batch = self.reader.read(*cursor, 5_000, &filter()).await?;
            let drained = batch.events.len() < 5_000;
            self.apply_all(&batch.events);
            *cursor = batch.next;
            if drained {
                return Ok(());
            }
        }
    }

    /// Applies tailed events not yet folded by a catch-up.
    async fn apply_new(&self, events: &[LogEvent]) {
        let mut cursor = self.cursor.lock().await;
        let fresh: Vec<LogEvent> = events
            .iter()
            .filter(|e| e.cursor() > *cursor)
            .cloned()
            .collect();
        if let Some(last) = fresh.last() {
            *cursor = last.cursor();
        }
        self.apply_all(&fresh);
    }

    /// Replaces `tenant_id`'s entry with `tenant`, the aggregate's state at
    /// sequence `version` (unless the directory already reflects a later one).
    pub fn refresh(&self, tenant_id: TenantId, tenant: &Tenant, version: i64) {
        let mut directory = self
            .directory
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if directory
            .versions
            .get(&tenant_id)
            .is_some_and(|seen| *seen >= version)
        {
            return;
        }
        directory.versions.insert(tenant_id, version);
        let stale: Vec<ApiKeyId> = directory
            .keys
            .values()
            .filter(|owner| owner.tenant_id == tenant_id)
            .map(|owner| owner.key_id)
            .collect();
        for key_id in stale {
            if let Some(hash) = directory.key_hashes.remove(&key_id) {
                directory.keys.remove(&hash);
            }
        }
        for (key_id, hash) in tenant.active_api_keys() {
            directory.key_hashes.insert(key_id, hash.clone());
            directory
                .keys
                .insert(hash.clone(), KeyOwner { tenant_id, key_id });
        }
        let profile = TenantProfile {
            name: tenant
                .name()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            slug: tenant
                .slug()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            signing_required: tenant.signing_required(),
            active_secrets: tenant.active_webhook_secrets().collect(),
            rate_limit: tenant.rate_limit(),
            severity_map: tenant.severity_map().clone(),
            sns_topics: tenant.sns_topics().clone(),
            assets: tenant
                .assets()
                .map(|(name, _)| name.as_str().to_owned())
                .collect(),
        };
        directory.tenants.insert(tenant_id, profile);
    }

    /// The owner of the key with this hash, if the key is active.
    pub fn key_owner(&self, hash: &ApiKeyHash) -> Option<KeyOwner> {
        self.read(|d| d.keys.get(hash).copied())
    }

    /// The tenant's profile, if it is registered.
    pub fn tenant(&self, tenant: &TenantId) -> Option<TenantProfile> {
        self.read(|d| d.tenants.get(tenant).cloned())
    }

    /// Whether `tenant` requires signed webhooks.
    pub fn signing_required(&self, tenant: &TenantId) -> bool {
        self.read(|d| d.tenants.get(tenant).is_some_and(|t| t.signing_required))
    }

    /// The ids of `tenant`'s active webhook secrets.
    pub fn active_secrets(&self, tenant: &TenantId) -> BTreeSet<WebhookSecretId> {
        self.read(|d| {
            d.tenants
                .get(tenant)
                .map(|t| t.active_secrets.clone())
                .unwrap_or_default()
        })
    }

    /// The tenant's rate limit (the default for an unknown tenant).
    pub fn rate_limit(&self, tenant: &TenantId) -> RateLimit {
        self.read(|d| {
            d.tenants
                .get(tenant)
                .map(|t| t.rate_limit)
                .unwrap_or_default()
        })
    }

    /// The tenant's own severity words (empty for an unknown tenant).
    pub fn severity_map(&self, tenant: &TenantId) -> SeverityMap {
        self.read(|d| {
            d.tenants
                .get(tenant)
                .map(|t| t.severity_map.clone())
                .unwrap_or_default()
        })
    }

    /// The SNS topics `tenant` pinned (empty: any topic, or an unknown tenant).
    pub fn sns_topics(&self, tenant: &TenantId) -> BTreeSet<SnsTopicArn> {
        self.read(|d| {
            d.tenants
                .get(tenant)
                .map(|t| t.sns_topics.clone())
                .unwrap_or_default()
        })
    }

    /// Every registered tenant, by id.
    pub fn tenants(&self) -> Vec<(TenantId, TenantProfile)> {
        self.read(|d| d.tenants.iter().map(|(id, t)| (*id, t.clone())).collect())
    }

    /// Whether `tenant` has registered `asset`.
    pub fn asset_known(&self, tenant: &TenantId, asset: &str) -> bool {
        self.read(|d| {
            d.tenants
                .get(tenant)
                .is_some_and(|t| t.assets.contains(asset))
        })
    }

    fn apply_all(&self, events: &[LogEvent]) {
        if events.is_empty() {
            return;
        }
        let mut directory = self
            .directory
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for event in events {
            let tenant_id = TenantId::from_uuid(event.tenant_id);
            if directory
                .versions
                .get(&tenant_id)
                .is_some_and(|seen| *seen >= event.sequence)
            {
                continue;
            }
            directory.versions.insert(tenant_id, event.sequence);
            match event.payload_as::<TenantEvent>() {
                Ok(event) => directory.apply(event),
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

impl Directory {
    fn apply(&mut self, event: TenantEvent) {
        match event {
            TenantEvent::TenantRegistered {
                tenant_id,
                name,
                slug,
                ..
            } => {
                let profile = self.tenants.entry(tenant_id).or_default();
                profile.name = name.as_str().to_owned();
                profile.slug = slug.as_str().to_owned();
            }
            TenantEvent::ApiKeyIssued {
                tenant_id,
                key_id,
                key_hash,
                ..
            } => {
                self.key_hashes.insert(key_id, key_hash.clone());
                self.keys.insert(key_hash, KeyOwner { tenant_id, key_id });
            }
            TenantEvent::ApiKeyRevoked { key_id, .. } => {
                if let Some(hash) = self.key_hashes.remove(&key_id) {
                    self.keys.remove(&hash);
                }
            }
            TenantEvent::WebhookSecretAdded {
                tenant_id,
                secret_id,
                ..
            } => {
                self.tenants
                    .entry(tenant_id)
                    .or_default()
                    .active_secrets
                    .insert(secret_id);
            }
            TenantEvent::WebhookSecretRevoked {
                tenant_id,
                secret_id,
                ..
            } => {
                self.tenants
                    .entry(tenant_id)
                    .or_default()
                    .active_secrets
                    .remove(&secret_id);
            }
            TenantEvent::SigningRequirementChanged {
                tenant_id,
                required,
                ..
            } => {
                self.tenants.entry(tenant_id).or_default().signing_required = required;
            }
            TenantEvent::RateLimitChanged {
                tenant_id, limit, ..
            } => {
                self.tenants.entry(tenant_id).or_default().rate_limit = limit;
            }
            TenantEvent::AssetUpserted {
                tenant_id, asset, ..
            } => {
                self.tenants
                    .entry(tenant_id)
                    .or_default()
                    .assets
                    .insert(asset.as_str().to_owned());
            }
            TenantEvent::SeverityMapChanged { tenant_id, map, .. } => {
                self.tenants.entry(tenant_id).or_default().severity_map = map;
            }
            TenantEvent::SnsTopicsPinned {
                tenant_id,
                topic_arns,
                ..
            } => {
                self.tenants.entry(tenant_id).or_default().sns_topics =
                    topic_arns.into_iter().collect();
            }
            TenantEvent::CorrelationPolicyChanged { .. }
            | TenantEvent::FlappingPolicyChanged { .. }
            | TenantEvent::AwsExternalIdIssued { .. }
            | TenantEvent::AwsRoleConfigured { .. }
            | TenantEvent::SnsSubscriptionRequested { .. }
            | TenantEvent::CorrelationRequested { .. }
            // The ceiling bounds what an admin may set, not the bucket.
            | TenantEvent::RateLimitCeilingSet { .. } => {}
        }
    }
}

fn filter() -> LogFilter {
    LogFilter {
        tenants: None,
        event_types: Some(FOLDED_EVENTS.iter().map(|t| (*t).to_owned()).collect()),
    }
}
