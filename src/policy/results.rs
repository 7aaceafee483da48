//! The typed results of hooks: fee payer, payout schedule, resolved splits, and the directory that vets split destinations.

use chrono::Weekday;

use super::facts::AccountType;
use crate::money::MinorUnits;

/// The longest a policy may hold a charge's funds beyond the gateway's own delay.
pub const MAX_HOLD_DAYS: u32 = 365;
/// The longest payout delay a schedule may ask for.
pub const MAX_PAYOUT_DELAY_DAYS: u32 = 365;
/// The payout delay when a schedule gives none, and the default schedule's.
pub const DEFAULT_PAYOUT_DELAY_DAYS: u32 = 2;
/// The most transfers `route` may ask for on one charge.
pub const MAX_SPLITS_PER_CHARGE: usize = 16;
/// Whether money may be sent to an account: the caller answers "is this one of this
/// platform's accounts, with TRANSFERS active?". `Err` carries the reason, for the author.
pub trait SplitDirectory {
    fn check_destination(&self, account_id: &str) -> Result<(), String>;
}

/// One transfer `route` asked for, resolved to whole minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub destination: String,
    pub amount: MinorUnits,
}

/// Who pays the processing fee of a direct charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeePayer {
    Account,
    Platform,
}

impl FeePayer {
    pub fn as_str(self) -> &'static str {
        match self {
            FeePayer::Account => "account",
            FeePayer::Platform => "platform",
        }
    }

    /// The default when a policy has no `processing_fee_payer` hook: Standard accounts pay
    /// their own fees; the platform pays for Express and Custom accounts.
    pub fn default_for(account_type: AccountType) -> FeePayer {
        match account_type {
            AccountType::Standard => FeePayer::Account,
            AccountType::Express | AccountType::Custom => FeePayer::Platform,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutInterval {
    Manual,
    Daily,
    Weekly {
        anchor: Weekday,
    },
    /// `anchor_day` is 1..=31; months without that day pay on their last day.
    Monthly {
        anchor_day: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutSchedule {
    pub interval: PayoutInterval,
    pub delay_days: u32,
}

impl Default for PayoutSchedule {
    /// Daily, two days after the funds become available.
    fn default() -> Self {
        PayoutSchedule {
            interval: PayoutInterval::Daily,
            delay_days: DEFAULT_PAYOUT_DELAY_DAYS,
        }
    }
}
