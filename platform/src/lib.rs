//! Process plumbing shared by alertledger's binary, api and workers.
//!
//! # Layout
//!
//! - [`config`] — the environment (development/production) and [`config::Secret`],
//!   which keeps secrets out of logs.
//! - [`layers`] — the optional TOML file and the `*_FILE` secrets, as
//!   environment variables under the command line.
//! - [`telemetry`] — the one tracing subscriber set-up.
//! - [`embedded_postgres`] — a PostgreSQL of our own for zero set-up runs.

pub mod config;
pub mod embedded_postgres;
pub mod layers;
pub mod telemetry;
