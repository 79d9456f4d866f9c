//! Failed authentications per client address (`ALERTLEDGER_AUTH_FAILURES_PER_MINUTE`,
//! `ALERTLEDGER_AUTH_FAILURE_BURST`): every 401 the API answers to a request
//! that presented a credential (a key or token that is wrong, revoked or
//! expired; a request with none guesses nothing) takes a token
//! from the bucket of the client's address ([`super::ClientIp`], so behind
//! trusted proxies the real client, not the proxy); while that bucket is
//! empty, every request from the address is answered 429 with
//! `Retry-After` before any credential is looked at, so a client guessing
//! keys or replaying an expired token is slowed to the refill rate.
//!
//! Memory is bounded: at most `max_tracked` addresses are remembered; when
//! the table is full, addresses whose bucket has refilled (they have nothing
//! against them) are forgotten first, and if that frees too little the
//! table is cleared (an attacker with that many addresses gets fresh
//! buckets, which is the price of the bound).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::ClientIp;
use crate::error::ApiError;

/// How many failed authentications an address may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFailureLimit {
    /// Sustained failures per minute (0: no limit).
    pub per_minute: u32,
    /// Failures allowed at once after a quiet period.
    pub burst: u32,
    /// Addresses remembered at most.
    pub max_tracked: usize,
}

impl Default for AuthFailureLimit {
    fn default() -> Self {
        Self {
            per_minute: 60,
            burst: 30,
            max_tracked: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets of every address with recent failures, and counts for
/// `/metrics`.
#[derive(Debug)]
pub struct AuthFailureLimiter {
    limit: AuthFailureLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    failures: AtomicU64,
    refused: AtomicU64,
}

impl AuthFailureLimiter {
    pub fn new(limit: AuthFailureLimit) -> Arc<Self> {
        Arc::new(Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
            failures: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    fn enabled(&self) -> bool {
        self.limit.per_minute > 0 && self.limit.burst > 0
    }

    /// Tokens per second.
    fn rate(&self) -> f64 {
        f64::from(self.limit.per_minute) / 60.0
    }

    fn capacity(&self) -> f64 {
        f64::from(self.limit.burst)
    }

    /// `bucket`'s tokens at `now`.
    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.rate()).min(self.capacity())
    }

    /// How long `client` must wait before it may try again (`None`: it may
    /// now).
    pub fn blocked(&self, client: IpAddr) -> Option<Duration> {
        if !self.enabled() {
            return None;
        }
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.get(&client)?;
        let tokens = self.refilled(bucket, Instant::now());
        (tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - tokens) / self.rate()))
    }

    /// `client` failed to authenticate.
    pub fn failed(&self, client: IpAddr) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(&client) && buckets.len() >= self.limit.max_tracked.max(1) {
            let before = buckets.len();
            buckets.retain(|_, bucket| self.refilled(bucket, now) < self.capacity());
            if buckets.len() > before - before / 10 {
                buckets.clear();
            }
        }
        let capacity = self.capacity();
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        bucket.tokens = (self.refilled(bucket, now) - 1.0).max(0.0);
        bucket.updated = now;
    }

    /// Addresses remembered now.
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// 401s answered since the start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Requests refused (429) because their address had failed too often.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Middleware: refuses an address out of failures, and charges every 401.
pub async fn limit(
    State(limiter): State<Arc<AuthFailureLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(client) = request
        .extensions()
        .get::<ClientIp>()
        .and_then(|client| client.0)
    else {
        return next.run(request).await;
    };
    if let Some(wait) = limiter.blocked(client) {
        limiter.refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%client, "refused: too many failed authentications");
        return ApiError::limit_exceeded(
            "auth_failures",
            "too many failed authentications from this address",
            wait,
        )
        .into_response();
    }
    let presented = presents_credentials(&request);
    let response = next.run(request).await;
    if presented && response.status() == StatusCode::UNAUTHORIZED {
        limiter.failed(client);
    }
    response
}

/// Whether the request carries a credential (a bearer token or API key in a
/// header, `?token=` or `?api_key=`): a request with none is refused
/// cheaply and guesses nothing, so its 401 is not a failed attempt.
fn presents_credentials(request: &Request) -> bool {
    let headers = request.headers();
    if headers.contains_key(AUTHORIZATION) || headers.contains_key("x-api-key") {
        return true;
    }
    request.uri().query().is_some_and(|query| {
        query.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            name == "token" || name == "api_key"
        })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_failures_blocks_until_a_token_refills() {
        let limiter = AuthFailureLimiter::new(AuthFailureLimit {
            per_minute: 60,
            burst: 3,
            max_tracked: 10,
        });
        let client = ip("198.51.100.7");
        for _ in 0..3 {
            assert_eq!(limiter.blocked(client), None);
            limiter.failed(client);
        }
        let wait = limiter.blocked(client).unwrap();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert_eq!(limiter.blocked(ip("198.51.100.8")), None, "its own bucket");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(limiter.blocked(client), None, "one token back");
        assert_eq!(limiter.failures(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_stays_bounded() {
        let limiter = AuthFailureLimiter::new(AuthFailureLimit {
            per_minute: 60,
            burst: 1,
            max_tracked: 100,
        });
        for n in 0..1000_u32 {
            limiter.failed(IpAddr::from(n.to_be_bytes()));
            assert!(limiter.tracked() <= 100);
        }
    }

    #[test]
    fn zero_is_no_limit() {
        let limiter = AuthFailureLimiter::new(AuthFailureLimit {
            per_minute: 0,
            ..AuthFailureLimit::default()
        });
        let client = ip("198.51.100.7");
        for _ in 0..1000 {
            limiter.failed(client);
        }
        assert_eq!(limiter.blocked(client), None);
    }
}
