//! Alarms: a worker of this process that stopped on purpose because going on
//! would be unsafe (the checkpointer finding the seal rewritten) raises one;
//! `/readyz` answers 503 naming it and `/metrics` shows it. Shared in memory
//! by the workers and the API of one process; cleared only by a restart
//! after an operator looked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

/// One raised alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// The component that stopped, e.g. `checkpointer`.
    pub component: &'static str,
    /// What it found, for the operator.
    pub message: String,
    pub since: DateTime<Utc>,
}

/// The alarms of one process; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Alarms {
    raised: Arc<Mutex<BTreeMap<&'static str, Alarm>>>,
}

impl Alarms {
    /// Raises (or replaces) `component`'s alarm.
    pub fn raise(&self, component: &'static str, message: impl Into<String>) {
        let alarm = Alarm {
            component,
            message: message.into(),
            since: Utc::now(),
        };
        self.raised
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(component, alarm);
    }

    /// Clears `component`'s alarm (a condition that went away by itself).
    pub fn clear(&self, component: &str) {
        self.raised
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(component);
    }

    /// Every raised alarm, by component name.
    pub fn raised(&self) -> Vec<Alarm> {
        self.raised
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Whether `component` raised one.
    pub fn is_raised(&self, component: &str) -> bool {
        self.raised
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(component)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_their_alarms() {
        let alarms = Alarms::default();
        let seen_by_api = alarms.clone();
        assert!(seen_by_api.raised().is_empty());
        alarms.raise("checkpointer", "the seal was rewritten");
        assert!(seen_by_api.is_raised("checkpointer"));
        assert_eq!(seen_by_api.raised()[0].message, "the seal was rewritten");
    }
}
