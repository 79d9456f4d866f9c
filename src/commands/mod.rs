//! One module per subcommand. `incidents`, `alerts`, `approvals`,
//! `runbooks` and `events tail` are clients of the HTTP API
//! ([`crate::client`]) and never open the database.

pub mod alerts;
pub mod approvals;
pub mod audit;
pub mod demo;
pub mod events;
mod events_import;
pub mod incidents;
pub mod migrate;
pub mod projections;
pub mod runbooks;
pub mod serve;
pub mod tenant;
pub mod token;

use crate::cli::PageArgs;

/// The query of a list command's paging flags.
fn page_query(page: &PageArgs) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    push(&mut query, "tenant", page.tenant.map(|t| t.to_string()));
    push(&mut query, "limit", page.limit.map(|l| l.to_string()));
    push(&mut query, "cursor", page.cursor.clone());
    query
}

/// Adds `name=value` when a value was given.
fn push(query: &mut Vec<(&'static str, String)>, name: &'static str, value: Option<String>) {
    if let Some(value) = value {
        query.push((name, value));
    }
}
