//! HTTP routes, one module per area of API.md.

pub mod alert_views;
pub mod alerts;
pub(crate) mod analyst_query;
pub mod audit;
pub mod correlation;
pub mod dashboard;
pub mod events;
pub mod health;
pub mod incident_views;
pub mod incidents;
pub mod kpis;
mod list_params;
pub mod metrics;
mod operate;
pub mod stream;
pub mod tenants;
pub mod webhooks;
pub mod ws;
