//! One module per subcommand.

pub mod demo;
pub mod migrate;
pub mod projections;
pub mod serve;
pub mod tenant;
pub mod token;
