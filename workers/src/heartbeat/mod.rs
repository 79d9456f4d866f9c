//! Time-driven side of heartbeats: the [`checker`] raises the alert of a
//! heartbeat past its deadline and resolves it at the next beat.

pub mod checker;

pub use checker::{CheckRound, HeartbeatChecker, CHECKER};
