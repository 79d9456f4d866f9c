//! Time-driven side of maintenance windows: the [`closer`] records the end
//! of every window occurrence that still holds alerts back, and with it the
//! [`boundaries`] recorder every occurrence's start and end (status changes
//! for the live feed).

pub mod boundaries;
pub mod closer;

pub use boundaries::BoundaryRecorder;
pub use closer::{WindowCloser, CLOSER};
