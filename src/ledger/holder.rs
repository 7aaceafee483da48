//! Who holds money in the ledger, in which bucket, and how a ledger account is keyed.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::LedgerError;
use crate::ids::{AccountId, PlatformId, TypedId};
use crate::money::Currency;

/// A party whose money the ledger tracks.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Holder {
    Platform(PlatformId),
    Account(AccountId),
    /// The processor's fee revenue.
    Gateway,
    /// Money in from customers' cards, and back on refunds and disputes.
    CardNetwork,
    /// Money out on payouts, in on top-ups.
    Bank,
}

impl Holder {
    pub const GATEWAY: &'static str = "gateway";
    pub const CARD_NETWORK: &'static str = "card_network";
    pub const BANK: &'static str = "bank";

    pub fn parse(text: &str) -> Result<Holder, LedgerError> {
        match text {
            Holder::GATEWAY => Ok(Holder::Gateway),
            Holder::CARD_NETWORK => Ok(Holder::CardNetwork),
            Holder::BANK => Ok(Holder::Bank),
            _ if text.starts_with("plat_") => PlatformId::parse(text)
                .map(Holder::Platform)
                .map_err(|_| LedgerError::UnknownHolder(text.to_owned())),
            _ => AccountId::parse(text)
                .map(Holder::Account)
                .map_err(|_| LedgerError::UnknownHolder(text.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Holder::Platform(id) => TypedId::as_str(id),
            Holder::Account(id) => TypedId::as_str(id),
            Holder::Gateway => Holder::GATEWAY,
            Holder::CardNetwork => Holder::CARD_NETWORK,
            Holder::Bank => Holder::BANK,
        }
    }

    /// System holders are shared by every platform; they never get balance transactions.
    pub fn is_system(&self) -> bool {
        matches!(self, Holder::Gateway | Holder::CardNetwork | Holder::Bank)
    }
}

impl TryFrom<String> for Holder {
    type Error = LedgerError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Holder::parse(&value)
    }
}

impl From<Holder> for String {
    fn from(value: Holder) -> String {
        value.as_str().to_owned()
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Available,
    Pending,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Available => "available",
            Bucket::Pending => "pending",
        }
    }

    pub fn parse(text: &str) -> Option<Bucket> {
        match text {
            "available" => Some(Bucket::Available),
            "pending" => Some(Bucket::Pending),
            _ => None,
        }
    }
}

/// One balance: (holder, currency, bucket).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LedgerAccount {
    pub holder: Holder,
    pub currency: Currency,
    pub bucket: Bucket,
}

impl LedgerAccount {
    pub fn new(holder: Holder, currency: Currency, bucket: Bucket) -> LedgerAccount {
        LedgerAccount {
            holder,
            currency,
            bucket,
        }
    }

    /// The storage key: `<holder>/<currency>/<bucket>`, so one holder's balances are one
    /// contiguous range.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.holder.as_str(),
            self.currency.code(),
            self.bucket.as_str()
        )
    }

    pub fn parse_key(key: &str) -> Result<LedgerAccount, LedgerError> {
        let unknown = || LedgerError::UnknownHolder(key.to_owned());
        let mut parts = key.split('/');
        let holder = Holder::parse(parts.next().ok_or_else(unknown)?)?;
        let currency = crate::money::Currency::parse(parts.next().ok_or_else(unknown)?)
            .map_err(|_| unknown())?;
        let bucket = Bucket::parse(parts.next().ok_or_else(unknown)?).ok_or_else(unknown)?;
        Ok(LedgerAccount::new(holder, currency, bucket))
    }

    /// The key prefix of all of one holder's balances.
    pub fn holder_prefix(holder: &Holder) -> String {
        format!("{}/", holder.as_str())
    }
}
