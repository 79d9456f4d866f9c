//! What the aggregates need from outside: only the time, injected so tests are
//! exact.

use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// The source of "now" for event timestamps and time rules (approval expiry).
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock, for production.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that says what it is told, for tests (here and in other crates).
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<DateTime<Utc>>,
}

impl FixedClock {
    /// A clock stopped at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(at),
        }
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.lock() = at;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A panic while holding this lock cannot leave a half-written time behind.
        self.now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

/// The services every aggregate takes (`Aggregate::Services`), one struct for
/// all so the application wires them once.
#[derive(Clone)]
pub struct DomainServices {
    /// Where event timestamps and time rules get "now" from.
    pub clock: Arc<dyn Clock>,
}

impl DomainServices {
    /// Services over the given clock.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }

    /// Services over the system clock, for production.
    pub fn system() -> Self {
        Self::new(Arc::new(SystemClock))
    }

    /// The current time according to the clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl fmt::Debug for DomainServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainServices")
            .field("now", &self.clock.now())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::now;

    #[test]
    fn a_fixed_clock_says_what_it_is_told() {
        let clock = Arc::new(FixedClock::new(now()));
        let services = DomainServices::new(clock.clone());
        assert_eq!(services.now(), now());
        clock.advance(Duration::minutes(5));
        assert_eq!(services.now(), now() + Duration::minutes(5));
        clock.set(now());
        assert_eq!(services.now(), now());
    }
}
