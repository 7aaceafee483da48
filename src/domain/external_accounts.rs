//! External accounts in general: their status after payouts, the default per currency, the limit
//! per account, and which one automatic payouts go to.
//!
//! The first external account in a currency becomes that currency's default whatever was asked;
//! a later one becomes the default only with `default_for_currency: true`, and the old default
//! then stops being one. A payout failure makes the account ERRORED, and automatic payouts skip
//! an ERRORED default until another account is made the default.
//!
//! After onboarding, an external account can be made its currency's default (the old default
//! stops being one; a default cannot simply be unset) and deleted, except the default of a
//! currency that has others (make another the default first) and the only one of a currency
//! while payouts are automatic (they would have nowhere to go).

use serde::{Deserialize, Serialize};

use crate::money::Currency;

pub const MAX_EXTERNAL_ACCOUNTS_PER_ACCOUNT: usize = 20;
/// The longest account holder name accepted on a bank account.
pub const MAX_ACCOUNT_HOLDER_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalAccountError {
    #[error("an account may have at most {MAX_EXTERNAL_ACCOUNTS_PER_ACCOUNT} external accounts")]
    TooManyExternalAccounts,
    #[error("defaultForCurrency cannot be set to false on the {currency} default: make another {currency} external account the default instead")]
    DefaultCannotBeUnset { currency: Currency },
    #[error("{id} is the default {currency} external account: set another {currency} external account as the default first")]
    DeletingDefault { id: String, currency: Currency },
    #[error("{id} is the only {currency} external account and payouts are automatic: add another {currency} external account or set the payout schedule to MANUAL first")]
    DeletingLastWithAutomaticPayouts { id: String, currency: Currency },
    #[error("accountHolderName applies to bank accounts; a debit card has no account holder name")]
    HolderNameOnCard,
    #[error("accountHolderName must be 1 to {MAX_ACCOUNT_HOLDER_NAME_CHARS} characters without control characters")]
    BadHolderName,
}

impl ExternalAccountError {
    /// The input parameter at fault, for the API error's `param` (GraphQL input naming).
    pub fn param(&self) -> &'static str {
        match self {
            ExternalAccountError::TooManyExternalAccounts => "account",
            ExternalAccountError::DefaultCannotBeUnset { .. } => "defaultForCurrency",
            ExternalAccountError::DeletingDefault { .. }
            | ExternalAccountError::DeletingLastWithAutomaticPayouts { .. } => "externalAccount",
            ExternalAccountError::HolderNameOnCard | ExternalAccountError::BadHolderName => {
                "accountHolderName"
            }
        }
    }
}

/// An account holder name: trimmed, 1 to [`MAX_ACCOUNT_HOLDER_NAME_CHARS`] characters, no
/// control characters.
pub fn parse_account_holder_name(name: &str) -> Result<String, ExternalAccountError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_ACCOUNT_HOLDER_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ExternalAccountError::BadHolderName);
    }
    Ok(name.to_owned())
}

/// Whether `deleting` may be deleted from an account holding `existing` (which includes it):
/// a non-default one always; a default only when it is its currency's last and payouts are
/// manual.
pub fn check_deletion(
    existing: &[ExternalAccountSummary<String>],
    deleting: &ExternalAccountSummary<String>,
    automatic_payouts: bool,
) -> Result<(), ExternalAccountError> {
    if !deleting.default_for_currency {
        return Ok(());
    }
    let others_in_currency = existing
        .iter()
        .any(|other| other.currency == deleting.currency && other.id != deleting.id);
    if others_in_currency {
        return Err(ExternalAccountError::DeletingDefault {
            id: deleting.id.clone(),
            currency: deleting.currency,
        });
    }
    if automatic_payouts {
        return Err(ExternalAccountError::DeletingLastWithAutomaticPayouts {
            id: deleting.id.clone(),
            currency: deleting.currency,
        });
    }
    Ok(())
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

    #[test]
    fn only_a_lone_default_under_manual_payouts_or_a_non_default_may_be_deleted() {
        let owned = |id: &str, code: &str, default: bool| ExternalAccountSummary {
            id: id.to_owned(),
            currency: currency(code),
            default_for_currency: default,
            status: New,
        };
        let existing = vec![
            owned("ba_1", "usd", true),
            owned("ba_2", "usd", false),
            owned("ba_3", "eur", true),
        ];
        // (deleting, automatic payouts, the param of the refusal)
        let cases = [
            (&existing[1], true, None),
            (&existing[0], false, Some("externalAccount")),
            (&existing[2], true, Some("externalAccount")),
            (&existing[2], false, None),
        ];
        for (deleting, automatic, refused) in cases {
            let outcome = check_deletion(&existing, deleting, automatic);
            assert_eq!(
                outcome.as_ref().err().map(ExternalAccountError::param),
                refused,
                "{} {automatic}: {outcome:?}",
                deleting.id
            );
        }
        assert!(matches!(
            check_deletion(&existing, &existing[0], false),
            Err(ExternalAccountError::DeletingDefault { .. })
        ));
        assert!(matches!(
            check_deletion(&existing, &existing[2], true),
            Err(ExternalAccountError::DeletingLastWithAutomaticPayouts { .. })
        ));
    }

    #[test]
    fn holder_names_are_trimmed_and_bounded() {
        assert_eq!(
            parse_account_holder_name(" Jenny Rosen "),
            Ok("Jenny Rosen".to_owned())
        );
        let long = "n".repeat(MAX_ACCOUNT_HOLDER_NAME_CHARS + 1);
        for bad in ["", "  ", long.as_str(), "a\nb"] {
            assert_eq!(
                parse_account_holder_name(bad),
                Err(ExternalAccountError::BadHolderName),
                "{bad}"
            );
        }
    }
}
