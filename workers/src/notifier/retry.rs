//! When to try a notification again: exponential backoff with jitter
//! ("equal jitter": half the exponential delay is kept, half is random, so
//! retries of many notifications after one outage spread out without ever
//! retrying at once). Computed here with `rand` rather than through a retry
//! crate: the attempts are rows in the outbox, not a loop in memory, so only
//! the delay is needed.

use std::time::Duration;

/// How many attempts and how far apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt (before jitter).
    pub base: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
    /// Attempts in all before the notification is recorded as failed.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based), given a
    /// uniform random `unit` in [0, 1): between half and all of
    /// `min(max_delay, base * 2^(attempt-1))`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let full = self
            .base
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let unit = unit.clamp(0.0, 1.0);
        full / 2 + full.mul_f64(unit / 2.0)
    }

    /// Whether another attempt may follow attempt number `attempt`.
    pub fn allows_after(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_ceiling_and_jitter_stays_within_half() {
        let policy = RetryPolicy {
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            max_attempts: 5,
        };
        assert_eq!(policy.delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(policy.delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(policy.delay(3, 1.0), Duration::from_secs(4));
        assert_eq!(policy.delay(9, 1.0), Duration::from_secs(10));
        assert_eq!(policy.delay(9, 0.0), Duration::from_secs(5));
        assert!(policy.allows_after(4));
        assert!(!policy.allows_after(5));
    }
}
