//! HTTP routes, one module per area of API.md.

pub mod alerts;
pub(crate) mod analyst_query;
pub mod audit;
pub mod correlation;
pub mod events;
pub mod health;
pub mod incidents;
pub mod kpis;
mod operate;
pub mod tenants;
pub mod webhooks;
