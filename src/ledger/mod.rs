//! The double-entry ledger: holders, buckets, journal entries, postings and balance math.
//!
//! A journal entry is a list of *lines* (one holder's view of the movement, which becomes
//! that holder's balance transaction) plus *system postings* (the gateway's, the card
//! network's and the bank's side). Postings are derived from both and must sum to zero in
//! every currency; `EntryBuilder::build` refuses an entry that does not.

mod entry;
pub mod flows;
mod holder;
pub mod payout_flows;
mod verify;

pub use entry::{
    BalanceTransactionType, Entry, EntryBuilder, EntryKind, FeeDetail, FeeType, Line, LineSpec,
    Posting,
};
pub use holder::{Bucket, Holder, LedgerAccount};
pub use verify::{CurrencyTotals, LedgerAudit, LedgerTotals, RunningTotals};

use crate::money::MoneyError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("journal entry {entry} does not balance: {currency} postings sum to {sum}")]
    Unbalanced {
        entry: String,
        currency: String,
        sum: i64,
    },
    #[error("journal entry {0} has no postings")]
    Empty(String),
    #[error("arithmetic on the ledger overflowed: {0}")]
    Arithmetic(#[from] MoneyError),
    #[error("'{0}' is not a ledger holder")]
    UnknownHolder(String),
}

/// Adds a posting to a stored balance with checked arithmetic. The store's writer calls
/// this for every posting it applies; nothing else changes a balance.
pub fn apply_posting(balance_minor: i64, posting_minor: i64) -> Result<i64, LedgerError> {
    balance_minor
        .checked_add(posting_minor)
        .ok_or(LedgerError::Arithmetic(MoneyError::Overflow))
}
