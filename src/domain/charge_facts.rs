//! The facts a charge's policy hooks were given, as recorded on the charge when it was priced.
//!
//! A replay (a policy backtest) feeds a candidate policy exactly these facts, not today's
//! account state. The record carries its own version: a reader accepts every version up
//! to [`CHARGE_FACTS_VERSION`], and charges priced before facts were recorded have none
//! (their facts are rebuilt from the charge's other fields, and the replay says so).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::accounts::AccountType;
use crate::domain::charges::ChargeFlowKind;
use crate::money::{Currency, MinorUnits};

/// The version of [`RecordedChargeFacts`] this build writes. A later version may only add
/// fields with defaults, so older records keep reading.
pub const CHARGE_FACTS_VERSION: u32 = 1;

/// Everything the `charge` map of a hook held, field for field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedChargeFacts {
    pub version: u32,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub flow: ChargeFlowKind,
    pub payment_method: String,
    pub card: RecordedCard,
    /// The connected account as it was then: the one charged (direct), or the destination.
    pub account: Option<RecordedAccount>,
    pub on_behalf_of: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub description: Option<String>,
    pub transfer_group: Option<String>,
    pub platform: RecordedPlatform,
    pub created_unix_seconds: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCard {
    pub brand: String,
    pub country: String,
    pub funding: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedAccount {
    pub id: String,
    pub account_type: AccountType,
    pub country: String,
    pub default_currency: Currency,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedPlatform {
    pub id: String,
    pub name: String,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordedFactsError {
    #[error("the charge's facts are version {found}, newer than this build reads ({CHARGE_FACTS_VERSION})")]
    NewerVersion { found: u32 },
}

impl RecordedChargeFacts {
    /// The record as this build reads it: a version from the future is refused rather than
    /// misread.
    pub fn readable(&self) -> Result<&RecordedChargeFacts, RecordedFactsError> {
        if self.version > CHARGE_FACTS_VERSION {
            return Err(RecordedFactsError::NewerVersion {
                found: self.version,
            });
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RecordedChargeFacts {
        RecordedChargeFacts {
            version: CHARGE_FACTS_VERSION,
            amount: MinorUnits::new(1999).expect("amount"),
            currency: Currency::parse("usd").expect("usd"),
            flow: ChargeFlowKind::Destination,
            payment_method: "pm_card_visa".into(),
            card: RecordedCard {
                brand: "visa".into(),
                country: "US".into(),
                funding: "credit".into(),
            },
            account: Some(RecordedAccount {
                id: "acct_1".into(),
                account_type: AccountType::Express,
                country: "US".into(),
                default_currency: Currency::parse("usd").expect("usd"),
                metadata: BTreeMap::from([("tier".into(), "gold".into())]),
            }),
            on_behalf_of: None,
            metadata: BTreeMap::new(),
            description: None,
            transfer_group: None,
            platform: RecordedPlatform {
                id: "plat_1".into(),
                name: "P".into(),
                country: "US".into(),
            },
            created_unix_seconds: 1_800_000_000,
        }
    }

    #[test]
    fn recorded_facts_round_trip_and_refuse_a_newer_version() {
        let facts = sample();
        let json = serde_json::to_string(&facts).expect("encode");
        let back: RecordedChargeFacts = serde_json::from_str(&json).expect("decode");
        assert_eq!(back, facts);
        assert_eq!(back.readable(), Ok(&facts));
        let newer = RecordedChargeFacts {
            version: CHARGE_FACTS_VERSION + 1,
            ..facts
        };
        assert_eq!(
            newer.readable(),
            Err(RecordedFactsError::NewerVersion {
                found: CHARGE_FACTS_VERSION + 1
            })
        );
    }
}
