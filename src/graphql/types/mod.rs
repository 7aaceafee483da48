//! GraphQL object types, one file per domain.

pub mod account_enums;
pub mod accounts;
pub mod backtests;
pub mod balance_transactions;
pub mod batches;
pub mod charge_links;
pub mod charges;
pub mod disputes;
pub mod money;
pub mod node;
pub mod payouts;
pub mod platform;
pub mod refunds;
