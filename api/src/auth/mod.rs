//! Who is calling: people and dashboards by JWT ([`jwt`], [`Caller`]),
//! monitoring tools by tenant API key ([`api_key`]), and webhook request
//! signatures with their encrypted secrets ([`signing`]).

pub mod api_key;
pub mod caller;
pub mod jwt;
pub mod policy;
pub mod signing;

pub use caller::{Caller, TenantScope};
pub use policy::Action;
