//! Pure rules and records: no I/O, no async, no storage or wire formats.

pub mod balance_transactions;
pub mod countries;
pub mod events;
pub mod platforms;
pub mod text;
pub mod topups;
