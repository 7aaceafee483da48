//! A top-up: money from the platform's bank into its tollgate balance.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{BalanceTransactionId, TopupId};
use crate::money::Money;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Topup {
    pub id: TopupId,
    pub amount: Money,
    pub status: TopupStatus,
    pub description: Option<String>,
    pub balance_transaction: BalanceTransactionId,
    pub created: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopupStatus {
    /// The bank transfer is on its way; the funds are in the pending balance.
    Pending,
    /// The funds are available.
    Succeeded,
}

impl TopupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TopupStatus::Pending => "pending",
            TopupStatus::Succeeded => "succeeded",
        }
    }
}
