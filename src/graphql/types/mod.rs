//! GraphQL object types, one file per domain.

pub mod balance_transactions;
pub mod money;
pub mod node;
pub mod platform;
