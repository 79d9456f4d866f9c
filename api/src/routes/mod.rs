//! HTTP routes, one module per area of API.md.

pub mod alert_views;
pub mod events;
pub mod health;
pub mod incident_views;
mod list_params;
pub mod tenants;
pub mod webhooks;
