//! Who may receive an instant payout: the account type, the account's country, the destination and the currency.
//!
//! The checks run in this order and the first failure is reported: the platform may make
//! instant payouts for the account type (EXPRESS, CUSTOM; see `permissions`); the account's
//! country offers Instant Payouts (country table); the destination is a debit card; the card is
//! eligible; the payout is in the country's own currency. Limiting the amount to the
//! `instantAvailable` balance is the ledger's concern, not this module's.

use crate::domain::accounts::AccountType;
use crate::domain::countries::Country;
use crate::domain::permissions::{check_may_make_instant_payout, PermissionDenied};
use crate::money::Currency;

/// Where an instant payout would go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstantPayoutDestination {
    BankAccount,
    DebitCard { instant_payout_eligible: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstantPayoutError {
    /// Maps to FORBIDDEN; the others are INVALID_REQUEST.
    #[error(transparent)]
    NotPermitted(#[from] PermissionDenied),
    #[error("instant payouts are not available for accounts in {country}")]
    CountryNotSupported { country: Country },
    #[error("instant payouts can only go to a debit card, not a bank account")]
    DestinationIsBankAccount,
    #[error("this debit card is not eligible for instant payouts")]
    CardNotEligible,
    #[error(
        "instant payouts for an account in {country} must be in {local_currency}, not {currency}"
    )]
    CurrencyNotLocal {
        country: Country,
        local_currency: Currency,
        currency: Currency,
    },
}

impl InstantPayoutError {
    /// The input parameter at fault, for the API error's `param` (GraphQL input naming).
    pub fn param(&self) -> &'static str {
        match self {
            InstantPayoutError::NotPermitted(_)
            | InstantPayoutError::CountryNotSupported { .. } => "method",
            InstantPayoutError::DestinationIsBankAccount | InstantPayoutError::CardNotEligible => {
                "destination"
            }
            InstantPayoutError::CurrencyNotLocal { .. } => "currency",
        }
    }
}

pub fn check_instant_payout_eligibility(
    account_type: AccountType,
    account_country: Country,
    destination: InstantPayoutDestination,
    currency: Currency,
) -> Result<(), InstantPayoutError> {
    check_may_make_instant_payout(account_type)?;
    if !account_country.instant_payouts_supported() {
        return Err(InstantPayoutError::CountryNotSupported {
            country: account_country,
        });
    }
    match destination {
        InstantPayoutDestination::BankAccount => {
            return Err(InstantPayoutError::DestinationIsBankAccount)
        }
        InstantPayoutDestination::DebitCard {
            instant_payout_eligible: false,
        } => return Err(InstantPayoutError::CardNotEligible),
        InstantPayoutDestination::DebitCard {
            instant_payout_eligible: true,
        } => {}
    }
    let local_currency = account_country.default_currency();
    if currency != local_currency {
        return Err(InstantPayoutError::CurrencyNotLocal {
            country: account_country,
            local_currency,
            currency,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccountType::{Custom, Express, Standard};
    use InstantPayoutDestination::{BankAccount, DebitCard};

    fn country(code: &str) -> Country {
        Country::parse(code).expect(code)
    }

    fn currency(code: &str) -> Currency {
        Currency::parse(code).expect(code)
    }

    #[test]
    fn eligibility_rules() {
        let card = DebitCard {
            instant_payout_eligible: true,
        };
        let ineligible_card = DebitCard {
            instant_payout_eligible: false,
        };
        // (type, country, destination, currency, expected)
        let cases = [
            (Express, "US", card, "usd", Ok(())),
            (Custom, "GB", card, "gbp", Ok(())),
            (Custom, "DE", card, "eur", Ok(())),
            (Express, "SG", card, "sgd", Ok(())),
            (
                Standard,
                "US",
                card,
                "usd",
                Err(InstantPayoutError::NotPermitted(
                    PermissionDenied::InstantPayoutOfStandardAccount,
                )),
            ),
            (
                Custom,
                "JP",
                card,
                "jpy",
                Err(InstantPayoutError::CountryNotSupported {
                    country: country("JP"),
                }),
            ),
            (
                Custom,
                "BR",
                card,
                "brl",
                Err(InstantPayoutError::CountryNotSupported {
                    country: country("BR"),
                }),
            ),
            (
                Express,
                "US",
                BankAccount,
                "usd",
                Err(InstantPayoutError::DestinationIsBankAccount),
            ),
            (
                Express,
                "US",
                ineligible_card,
                "usd",
                Err(InstantPayoutError::CardNotEligible),
            ),
            (
                Express,
                "US",
                card,
                "eur",
                Err(InstantPayoutError::CurrencyNotLocal {
                    country: country("US"),
                    local_currency: currency("usd"),
                    currency: currency("eur"),
                }),
            ),
        ];
        for (account_type, code, destination, currency_code, expected) in cases {
            let result = check_instant_payout_eligibility(
                account_type,
                country(code),
                destination,
                currency(currency_code),
            );
            assert_eq!(
                result, expected,
                "{account_type} {code} {destination:?} {currency_code}"
            );
        }
    }

    #[test]
    fn refusals_say_why_and_name_the_param() {
        let cases = [
            (Standard, BankAccount, "instant payouts of a standard account are made by the account holder, not the platform", "method"),
            (Express, BankAccount, "instant payouts can only go to a debit card, not a bank account", "destination"),
        ];
        for (account_type, destination, message, param) in cases {
            let error = check_instant_payout_eligibility(
                account_type,
                country("US"),
                destination,
                currency("usd"),
            )
            .unwrap_err();
            assert_eq!(error.to_string(), message);
            assert_eq!(error.param(), param);
        }
    }
}
