//! Heartbeats (issue 19): a source that beats (`POST /heartbeats/{name}`)
//! and is expected to beat again within its timeout. The aggregate records
//! what is worth remembering forever — registration, a change of settings,
//! and each state change (missed, recovered) — but never a beat: the last
//! beat is operational state (the `heartbeats` table), updated once per
//! beat. [`settings`] holds the checked name and settings.

mod aggregate;
mod commands;
mod errors;
mod events;
pub mod settings;

#[cfg(test)]
mod tests;

pub use aggregate::Heartbeat;
pub use commands::HeartbeatCommand;
pub use errors::HeartbeatError;
pub use events::HeartbeatEvent;
pub use settings::{HeartbeatName, HeartbeatSettings, HeartbeatStatus};

/// The signature of the alert a missed heartbeat raises (API.md).
pub const MISSED_SIGNATURE: &str = "heartbeat_missed";

/// The fingerprint every alert of one heartbeat shares (missed and
/// resolved), so a recovery or a deletion finds the open ones.
pub fn alert_fingerprint(
    heartbeat_id: crate::values::HeartbeatId,
) -> Result<crate::values::Fingerprint, crate::values::ValueError> {
    crate::values::Fingerprint::parse(&format!("heartbeat:{heartbeat_id}"))
}
