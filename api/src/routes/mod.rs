//! HTTP routes, one module per area of API.md.

pub mod events;
pub mod health;
pub mod tenants;
pub mod webhooks;
