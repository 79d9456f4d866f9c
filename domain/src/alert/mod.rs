//! The alert aggregate: one alert as a monitoring tool delivered it, then its
//! acknowledgement, its correlation into an incident (with the reason) and its
//! resolution at the source. The aggregate id is [`AlertId::for_delivery`], so a
//! repeated delivery lands on the same aggregate.
//!
//! [`AlertId::for_delivery`]: crate::values::AlertId::for_delivery

mod aggregate;
mod commands;
mod errors;
mod events;

#[cfg(test)]
mod tests;

pub use aggregate::Alert;
pub use commands::AlertCommand;
pub use errors::AlertError;
pub use events::AlertEvent;
