//! HTTP routes, one module per area of API.md.

pub mod alerts;
pub mod correlation;
pub mod events;
pub mod health;
pub mod incidents;
mod operate;
pub mod tenants;
pub mod webhooks;
