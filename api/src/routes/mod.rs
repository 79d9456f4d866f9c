//! HTTP routes, one module per area of API.md.

pub mod alert_views;
pub mod alerts;
pub(crate) mod analyst_query;
pub mod approvals;
pub mod audit;
pub mod audit_seal;
pub mod correlation;
pub mod dashboard;
pub mod deliveries;
pub mod events;
pub mod executions;
pub mod health;
pub mod incident_views;
pub mod incidents;
pub mod kpis;
mod list_params;
pub mod metrics;
mod operate;
pub mod patch_compliance;
pub mod runbooks;
pub mod severity_map;
pub mod stream;
pub mod tenants;
pub mod webhooks;
pub mod ws;
