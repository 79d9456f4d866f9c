//! Who is calling: people and dashboards by JWT ([`jwt`], [`Caller`]),
//! monitoring tools by tenant API key ([`api_key`]).

pub mod api_key;
pub mod caller;
pub mod jwt;
pub mod policy;

pub use caller::{Caller, TenantScope};
pub use policy::Action;
