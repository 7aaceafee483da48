//! The query, mutation and subscription roots, merged from one root per domain.

pub mod account_inputs;
pub mod accounts;
pub mod api_keys;
pub mod backtests;
pub mod charges;
pub mod connect;
pub mod core;
pub mod disputes;
pub mod external_accounts;
pub mod login_links;
pub mod payouts;
pub mod refunds;
pub mod subscription;
pub mod webhooks;
