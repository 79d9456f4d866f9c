//! Time-driven side of maintenance windows: the [`closer`] records the end
//! of every window occurrence that still holds alerts back.

pub mod closer;

pub use closer::{WindowCloser, CLOSER};
