//! How many live streams (SSE and WebSocket together) one user and one tenant
//! may hold open at once in this process.
//!
//! Every stream holds a database connection while it catches up, a broadcast
//! receiver and a task; without a cap one stolen token could open thousands.
//! A stream takes a [`StreamPermit`] before it starts and gives its slots back
//! when the permit is dropped, i.e. whenever the stream ends, however it ends
//! (client gone, token expired, resync, shutdown).
//!
//! The user is the token's `sub` (tokens carry no `jti`; counting per user is
//! the stricter of the two). A stream counts against every tenant it follows;
//! an `msp_admin` stream over every tenant counts against one shared
//! "every tenant" slot set with the same cap, so it cannot be used to exhaust
//! a single tenant's slots either.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

/// Caps on concurrent streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Streams one user (token `sub`) may hold open.
    pub per_user: usize,
    /// Streams that may follow one tenant at once.
    pub per_tenant: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            per_user: 8,
            per_tenant: 64,
        }
    }
}

/// Which cap refused a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRefused {
    User { limit: usize },
    Tenant { tenant: Option<Uuid>, limit: usize },
}

impl std::fmt::Display for StreamRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User { limit } => write!(
                f,
                "this user already has {limit} live streams open (the most allowed); close one first"
            ),
            Self::Tenant {
                tenant: Some(tenant),
                limit,
            } => write!(
                f,
                "tenant {tenant} already has {limit} live streams open (the most allowed); close one first"
            ),
            Self::Tenant { tenant: None, limit } => write!(
                f,
                "{limit} live streams over every tenant are already open (the most allowed); close one first"
            ),
        }
    }
}

/// Counts open streams per user and per tenant. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StreamCounter {
    inner: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    limits: StreamLimits,
    open: Mutex<Open>,
    refused: AtomicU64,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    users: HashMap<String, usize>,
    /// `None`: streams over every tenant.
    tenants: HashMap<Option<Uuid>, usize>,
}

impl StreamCounter {
    pub fn new(limits: StreamLimits) -> Self {
        Self {
            inner: Arc::new(Counts {
                limits,
                ..Counts::default()
            }),
        }
    }

    pub fn limits(&self) -> StreamLimits {
        self.inner.limits
    }

    /// A slot for one more stream of `user` following `tenants` (`None`:
    /// every tenant), or which cap is full. Check and count are one step
    /// under one lock, so concurrent opens cannot overshoot the cap.
    pub fn admit(
        &self,
        user: &str,
        tenants: Option<&[Uuid]>,
    ) -> Result<StreamPermit, StreamRefused> {
        let limits = self.limits();
        let mut keys: Vec<Option<Uuid>> = match tenants {
            Some(tenants) => tenants.iter().copied().map(Some).collect(),
            None => vec![None],
        };
        keys.sort_unstable();
        keys.dedup();
        let mut open = lock(&self.inner.open);
        let refused = if open.users.get(user).copied().unwrap_or(0) >= limits.per_user {
            Some(StreamRefused::User {
                limit: limits.per_user,
            })
        } else {
            keys.iter()
                .find(|key| open.tenants.get(key).copied().unwrap_or(0) >= limits.per_tenant)
                .map(|key| StreamRefused::Tenant {
                    tenant: *key,
                    limit: limits.per_tenant,
                })
        };
        if let Some(refused) = refused {
            drop(open);
            self.inner.refused.fetch_add(1, Ordering::Relaxed);
            return Err(refused);
        }
        open.total += 1;
        *open.users.entry(user.to_owned()).or_default() += 1;
        for key in &keys {
            *open.tenants.entry(*key).or_default() += 1;
        }
        Ok(StreamPermit {
            counts: Arc::clone(&self.inner),
            user: user.to_owned(),
            tenants: keys,
        })
    }

    /// Streams open now (holding a permit).
    pub fn open(&self) -> usize {
        lock(&self.inner.open).total
    }

    /// Streams refused by a cap since the process started.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }
}

/// One open stream's slots; dropping it frees them.
#[derive(Debug)]
pub struct StreamPermit {
    counts: Arc<Counts>,
    user: String,
    tenants: Vec<Option<Uuid>>,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = lock(&self.counts.open);
        open.total = open.total.saturating_sub(1);
        release(&mut open.users, &self.user);
        for key in &self.tenants {
            release(&mut open.tenants, key);
        }
    }
}

/// Takes one from `key`'s count, forgetting keys that reach zero (so the maps
/// hold only what is open).
fn release<K: std::hash::Hash + Eq + Clone>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = counts.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_user_cap_refuses_one_more_and_a_dropped_permit_frees_its_slot() {
        let counter = StreamCounter::new(StreamLimits {
            per_user: 2,
            per_tenant: 10,
        });
        let tenant = [Uuid::new_v4()];
        let first = counter.admit("u", Some(&tenant)).unwrap();
        let _second = counter.admit("u", Some(&tenant)).unwrap();
        assert_eq!(
            counter.admit("u", Some(&tenant)).unwrap_err(),
            StreamRefused::User { limit: 2 }
        );
        // Another user is not affected.
        let _other = counter.admit("v", Some(&tenant)).unwrap();
        assert_eq!((counter.open(), counter.refused()), (3, 1));
        drop(first);
        let _third = counter.admit("u", Some(&tenant)).unwrap();
        assert_eq!(counter.open(), 3);
    }

    #[test]
    fn the_tenant_cap_counts_every_user_and_every_tenant_a_stream_follows() {
        let counter = StreamCounter::new(StreamLimits {
            per_user: 10,
            per_tenant: 2,
        });
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let _both = counter.admit("u", Some(&[a, b])).unwrap();
        let _a = counter.admit("v", Some(&[a])).unwrap();
        assert_eq!(
            counter.admit("w", Some(&[b, a])).unwrap_err(),
            StreamRefused::Tenant {
                tenant: Some(a),
                limit: 2
            }
        );
        // b has one slot left.
        let _b = counter.admit("w", Some(&[b])).unwrap();
        // Streams over every tenant have their own count.
        let _all = counter.admit("admin", None).unwrap();
        let _all2 = counter.admit("admin2", None).unwrap();
        assert!(matches!(
            counter.admit("admin3", None),
            Err(StreamRefused::Tenant { tenant: None, .. })
        ));
    }

    #[test]
    fn released_keys_are_forgotten() {
        let counter = StreamCounter::new(StreamLimits::default());
        let permit = counter.admit("u", Some(&[Uuid::new_v4()])).unwrap();
        drop(permit);
        let open = lock(&counter.inner.open);
        assert!(open.users.is_empty() && open.tenants.is_empty());
        assert_eq!(open.total, 0);
    }
}
