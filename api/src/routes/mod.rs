//! HTTP routes, one module per area of API.md.

pub(crate) mod analyst_query;
pub mod audit;
pub mod events;
pub mod health;
pub mod kpis;
pub mod tenants;
pub mod webhooks;
