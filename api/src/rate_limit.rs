//! Per-tenant token buckets for webhooks (governor's GCRA limiter), each sized
//! by the tenant's configured `RateLimit` and rebuilt when that changes.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use alertledger_domain::values::{RateLimit, TenantId};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

/// The webhook rate limiters of every tenant seen so far. Cheap to clone.
#[derive(Clone, Default)]
pub struct TenantRateLimiter {
    buckets: Arc<RwLock<HashMap<TenantId, Bucket>>>,
    clock: DefaultClock,
}

struct Bucket {
    limit: RateLimit,
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl TenantRateLimiter {
    /// Takes one request from `tenant`'s bucket, or says how long until one is
    /// available.
    pub fn check(&self, tenant: TenantId, limit: RateLimit) -> Result<(), Duration> {
        let limiter = self.limiter(tenant, limit);
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Takes `count` more tokens (the alerts of a delivery beyond the one its
    /// request already took), or says how long until they are available;
    /// `None` inside the error when they never can be (more than the burst).
    pub fn check_more(
        &self,
        tenant: TenantId,
        limit: RateLimit,
        count: u32,
    ) -> Result<(), Option<Duration>> {
        let Some(count) = NonZeroU32::new(count) else {
            return Ok(());
        };
        match self.limiter(tenant, limit).check_n(count) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Some(not_until.wait_time_from(self.clock.now()))),
            Err(_) => Err(None),
        }
    }

    fn limiter(&self, tenant: TenantId, limit: RateLimit) -> Arc<DefaultDirectRateLimiter> {
        let current = self
            .buckets
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&tenant)
            .filter(|bucket| bucket.limit == limit)
            .map(|bucket| Arc::clone(&bucket.limiter));
        if let Some(limiter) = current {
            return limiter;
        }
        // New tenant or a changed limit: a fresh, full bucket.
        let limiter = Arc::new(DefaultDirectRateLimiter::direct(quota(limit)));
        self.buckets
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(
                tenant,
                Bucket {
                    limit,
                    limiter: Arc::clone(&limiter),
                },
            );
        limiter
    }
}

fn quota(limit: RateLimit) -> Quota {
    // RateLimit guarantees both are at least 1.
    let per_minute = NonZeroU32::new(limit.requests_per_minute()).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limit.burst()).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_a_wait() {
        let limiter = TenantRateLimiter::default();
        let tenant = TenantId::new_v7();
        let limit = RateLimit::new(60, 3).unwrap();
        for _ in 0..3 {
            assert!(limiter.check(tenant, limit).is_ok());
        }
        let wait = limiter.check(tenant, limit).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
    }

    #[test]
    fn tenants_have_separate_buckets_and_a_new_limit_starts_full() {
        let limiter = TenantRateLimiter::default();
        let (a, b) = (TenantId::new_v7(), TenantId::new_v7());
        let tight = RateLimit::new(1, 1).unwrap();
        assert!(limiter.check(a, tight).is_ok());
        assert!(limiter.check(a, tight).is_err());
        assert!(limiter.check(b, tight).is_ok(), "b's bucket is its own");
        assert!(
            limiter.check(a, RateLimit::new(1, 2).unwrap()).is_ok(),
            "a changed limit refills"
        );
    }
}
