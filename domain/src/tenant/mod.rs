//! The tenant aggregate: one client company of the MSP and its configuration
//! (API keys, webhook secrets, signing, correlation policy, rate limit, assets,
//! AWS role). Every configuration change is an event, so it is audited.

mod aggregate;
mod commands;
mod errors;
mod events;

#[cfg(test)]
mod tests;

pub use aggregate::{AssetSettings, Tenant, MAX_ACTIVE_WEBHOOK_SECRETS, MAX_INSTANCES_PER_ASSET};
pub use commands::TenantCommand;
pub use errors::TenantError;
pub use events::TenantEvent;
