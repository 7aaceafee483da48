//! tollgate: a self-hosted, Connect-style payments gateway — GraphQL over a double-entry
//! ledger (embedded sled, or PostgreSQL), with each platform's fees and routing written as
//! Rhai policies.
//!
//! Modules in reading order: money and ids are the vocabulary; the clock gives business
//! time; `domain` holds the pure rules; `ledger` the double-entry bookkeeping; `store` the
//! only code that touches a storage engine; `service` the use cases; `graphql` and `http`
//! the wire; `backtest_report` prints a policy backtest for the command line.

pub mod app;
pub mod backtest_report;
pub mod clock;
pub mod config;
pub mod devtools;
pub mod domain;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod operator_client;
pub mod policy;
pub mod service;
pub mod sharded;
pub mod store;
