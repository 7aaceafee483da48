//! External accounts in general: their status after payouts, the default per currency, the limit
//! per account, and which one automatic payouts go to.
//!
//! The first external account in a currency becomes that currency's default whatever was asked;
//! a later one becomes the default only with `default_for_currency: true`, and the old default
//! then stops being one. A payout failure makes the account ERRORED, and automatic payouts skip
//! an ERRORED default until another account is made the default.

use serde::{Deserialize, Serialize};

use crate::money::Currency;

pub const MAX_EXTERNAL_ACCOUNTS_PER_ACCOUNT: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalAccountError {
    #[error("an account may have at most {MAX_EXTERNAL_ACCOUNTS_PER_ACCOUNT} external accounts")]
    TooManyExternalAccounts,
}

impl ExternalAccountError {
    /// The input parameter at fault, for the API error's `param` (GraphQL input naming).
    pub fn param(&self) -> &'static str {
        "account"
    }
}

/// Serialized as the contract's enum values: NEW, VERIFIED, ERRORED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExternalAccountStatus {
    /// Added; no payout has reached it yet.
    New,
    /// A payout reached it.
    Verified,
    /// A payout to it failed; automatic payouts skip it until it is replaced.
    Errored,
}

impl ExternalAccountStatus {
    pub fn after_payout_paid(self) -> ExternalAccountStatus {
        ExternalAccountStatus::Verified
    }
    pub fn after_payout_failed(self) -> ExternalAccountStatus {
        ExternalAccountStatus::Errored
    }
}

/// What the default-per-currency rules need to know about an existing external account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAccountSummary<Id> {
    pub id: Id,
    pub currency: Currency,
    pub default_for_currency: bool,
    pub status: ExternalAccountStatus,
}

/// The outcome of adding an external account: whether it becomes its currency's default, and
/// which existing one stops being the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultAssignment<Id> {
    pub new_is_default: bool,
    pub no_longer_default: Option<Id>,
}

/// Refuses a new external account once the account holds the maximum.
pub fn check_room_for_external_account(existing_count: usize) -> Result<(), ExternalAccountError> {
    if existing_count >= MAX_EXTERNAL_ACCOUNTS_PER_ACCOUNT {
        return Err(ExternalAccountError::TooManyExternalAccounts);
    }
    Ok(())
}

/// The first external account in a currency becomes its default whatever was asked;
/// `default_for_currency: true` makes a later one the default and the old one not.
pub fn assign_default_for_currency<Id: Clone>(
    existing: &[ExternalAccountSummary<Id>],
    currency: Currency,
    default_for_currency_requested: Option<bool>,
) -> DefaultAssignment<Id> {
    let current_default = existing
        .iter()
        .find(|account| account.currency == currency && account.default_for_currency);
    match (current_default, default_for_currency_requested) {
        (None, _) => DefaultAssignment {
            new_is_default: true,
            no_longer_default: None,
        },
        (Some(current), Some(true)) => DefaultAssignment {
            new_is_default: true,
            no_longer_default: Some(current.id.clone()),
        },
        (Some(_), _) => DefaultAssignment {
            new_is_default: false,
            no_longer_default: None,
        },
    }
}

/// Where automatic payouts in `currency` go: the currency's default, unless it is ERRORED.
pub fn automatic_payout_destination<Id: Clone>(
    existing: &[ExternalAccountSummary<Id>],
    currency: Currency,
) -> Option<Id> {
    existing
        .iter()
        .find(|account| account.currency == currency && account.default_for_currency)
        .filter(|account| account.status != ExternalAccountStatus::Errored)
        .map(|account| account.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExternalAccountStatus::{Errored, New, Verified};

    fn currency(code: &str) -> Currency {
        Currency::parse(code).expect(code)
    }

    fn summary(
        id: &'static str,
        code: &str,
        default_for_currency: bool,
        status: ExternalAccountStatus,
    ) -> ExternalAccountSummary<&'static str> {
        ExternalAccountSummary {
            id,
            currency: currency(code),
            default_for_currency,
            status,
        }
    }

    #[test]
    fn default_per_currency() {
        let existing = [
            summary("ba_usd", "usd", true, New),
            summary("ba_usd2", "usd", false, New),
        ];
        let assignment = |new_is_default, no_longer_default| DefaultAssignment {
            new_is_default,
            no_longer_default,
        };
        // (existing, currency, requested, expected)
        let cases = [
            (&existing[..0], "usd", None, assignment(true, None)),
            (&existing[..0], "usd", Some(false), assignment(true, None)),
            (&existing[..], "eur", None, assignment(true, None)),
            (&existing[..], "usd", None, assignment(false, None)),
            (&existing[..], "usd", Some(false), assignment(false, None)),
            (
                &existing[..],
                "usd",
                Some(true),
                assignment(true, Some("ba_usd")),
            ),
        ];
        for (accounts, code, requested, expected) in cases {
            assert_eq!(
                assign_default_for_currency(accounts, currency(code), requested),
                expected,
                "{code} {requested:?}"
            );
        }
    }

    #[test]
    fn automatic_payouts_skip_an_errored_default() {
        let cases = [
            (vec![summary("ba_1", "usd", true, New)], Some("ba_1")),
            (vec![summary("ba_1", "usd", true, Verified)], Some("ba_1")),
            (
                vec![
                    summary("ba_1", "usd", true, Errored),
                    summary("ba_2", "usd", false, New),
                ],
                None,
            ),
            (
                vec![
                    summary("ba_1", "usd", false, Errored),
                    summary("ba_2", "usd", true, New),
                ],
                Some("ba_2"),
            ),
            (vec![summary("ba_1", "eur", true, New)], None),
        ];
        for (accounts, expected) in cases {
            assert_eq!(
                automatic_payout_destination(&accounts, currency("usd")),
                expected,
                "{accounts:?}"
            );
        }
    }

    #[test]
    fn status_follows_payouts_and_the_limit_holds() {
        assert_eq!(New.after_payout_paid(), Verified);
        assert_eq!(New.after_payout_failed(), Errored);
        assert_eq!(Verified.after_payout_failed(), Errored);
        assert_eq!(check_room_for_external_account(19), Ok(()));
        assert_eq!(
            check_room_for_external_account(20),
            Err(ExternalAccountError::TooManyExternalAccounts)
        );
        assert_eq!(
            serde_json::to_string(&Errored).expect("json"),
            r#""ERRORED""#
        );
    }
}
