//! One module per subcommand.

pub mod audit;
pub mod demo;
pub mod events;
pub mod migrate;
pub mod projections;
pub mod serve;
pub mod tenant;
pub mod token;
