//! The decrypted active secrets of each tenant, kept in memory so that
//! verifying a signature costs no database round trip. An entry is reloaded
//! whenever the tenant's set of active secret ids (from the tenant directory,
//! which follows the log) differs from the one it was loaded for, so a new or
//! revoked secret takes effect as soon as the directory knows of it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use alertledger_domain::values::{TenantId, WebhookSecretId};

use super::{SecretBytes, SecretStoreError, WebhookSecretStore};

type Secrets = Arc<Vec<(WebhookSecretId, SecretBytes)>>;

/// The secrets of one tenant and the active ids they were loaded for.
type Loaded = (BTreeSet<WebhookSecretId>, Secrets);

/// Cache of active webhook secrets per tenant. Cheap to clone.
#[derive(Clone)]
pub struct ActiveSecrets {
    store: WebhookSecretStore,
    loaded: Arc<RwLock<HashMap<TenantId, Loaded>>>,
}

impl ActiveSecrets {
    pub fn new(store: WebhookSecretStore) -> Self {
        Self {
            store,
            loaded: Arc::default(),
        }
    }

    /// The store behind the cache (for adding secrets).
    pub fn store(&self) -> &WebhookSecretStore {
        &self.store
    }

    /// The secrets with ids `active` of `tenant`, decrypted.
    pub async fn get(
        &self,
        tenant: TenantId,
        active: &BTreeSet<WebhookSecretId>,
    ) -> Result<Secrets, SecretStoreError> {
        let cached = self
            .loaded
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&tenant)
            .filter(|(ids, _)| ids == active)
            .map(|(_, secrets)| Arc::clone(secrets));
        if let Some(secrets) = cached {
            return Ok(secrets);
        }
        let ids: Vec<WebhookSecretId> = active.iter().copied().collect();
        let secrets = Arc::new(self.store.load(tenant, &ids).await?);
        self.loaded
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(tenant, (active.clone(), Arc::clone(&secrets)));
        Ok(secrets)
    }
}
