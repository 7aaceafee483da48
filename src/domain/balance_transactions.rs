//! A holder's view of one ledger line: a balance transaction (`txn_…`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{BalanceTransactionId, EntryId};
use crate::ledger::{BalanceTransactionType, Bucket, FeeDetail, Holder, Line};
use crate::money::{Currency, MinorUnits};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceTransactionStatus {
    Pending,
    Available,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BalanceTransaction {
    pub id: BalanceTransactionId,
    pub entry: EntryId,
    pub holder: Holder,
    pub transaction_type: BalanceTransactionType,
    pub currency: Currency,
    pub amount: MinorUnits,
    pub fee: MinorUnits,
    pub net: MinorUnits,
    pub fee_details: Vec<FeeDetail>,
    pub status: BalanceTransactionStatus,
    pub available_on: DateTime<Utc>,
    pub source_id: String,
    pub description: Option<String>,
    pub created: DateTime<Utc>,
}

impl BalanceTransaction {
    /// The balance transaction a ledger line becomes.
    pub fn from_line(line: &Line, entry: &EntryId, created: DateTime<Utc>) -> BalanceTransaction {
        let Line {
            balance_transaction,
            holder,
            transaction_type,
            source_id,
            currency,
            amount,
            fee,
            net,
            fee_details,
            bucket,
            available_on,
            description,
        } = line.clone();
        BalanceTransaction {
            id: balance_transaction,
            entry: entry.clone(),
            holder,
            transaction_type,
            currency,
            amount,
            fee,
            net,
            fee_details,
            status: match bucket {
                Bucket::Pending => BalanceTransactionStatus::Pending,
                Bucket::Available => BalanceTransactionStatus::Available,
            },
            available_on,
            source_id,
            description,
            created,
        }
    }
}
