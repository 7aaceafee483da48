//! Debit cards as payout destinations, made from test card tokens.
//!
//! | token | brand | last4 | debit | instant payouts |
//! |---|---|---|---|---|
//! | tok_visa_debit | visa | 5556 | yes | yes |
//! | tok_mastercard_debit | mastercard | 8210 | yes | yes |
//! | tok_visa_debit_instant_unsupported | visa | 0077 | yes | no |
//! | tok_visa, tok_mastercard | (credit cards) | | refused | |
//!
//! Any other token is refused. Test cards expire in December three years after they are added.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::money::Currency;

/// Test cards expire in December, this many years after the year they are added.
pub const TEST_CARD_VALIDITY_YEARS: i32 = 3;
pub const TEST_CARD_EXPIRY_MONTH: u8 = 12;
/// The longest piece of a refused token echoed back in an error message.
const MAX_ECHOED_TOKEN_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DebitCardError {
    #[error("'{token}' is not a test card token; use tok_visa_debit or tok_mastercard_debit")]
    UnknownCardToken { token: String },
    #[error("{token} is a credit card; payouts can only go to debit cards such as tok_visa_debit")]
    NotADebitCard { token: String },
}

impl DebitCardError {
    /// The input parameter at fault, for the API error's `param` (GraphQL input naming).
    pub fn param(&self) -> &'static str {
        "token"
    }
}

/// A debit card brand. Serialized in lowercase, as the contract's `brand` string shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardBrand {
    Visa,
    Mastercard,
}

impl CardBrand {
    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
        }
    }
}

/// One test card token: what it stands for.
struct TestCard {
    token: &'static str,
    brand: CardBrand,
    last4: &'static str,
    debit: bool,
    instant_payout_eligible: bool,
}

#[rustfmt::skip]
const TEST_CARDS: &[TestCard] = &[
    TestCard { token: "tok_visa_debit", brand: CardBrand::Visa, last4: "5556", debit: true, instant_payout_eligible: true },
    TestCard { token: "tok_mastercard_debit", brand: CardBrand::Mastercard, last4: "8210", debit: true, instant_payout_eligible: true },
    TestCard { token: "tok_visa_debit_instant_unsupported", brand: CardBrand::Visa, last4: "0077", debit: true, instant_payout_eligible: false },
    TestCard { token: "tok_visa", brand: CardBrand::Visa, last4: "4242", debit: false, instant_payout_eligible: false },
    TestCard { token: "tok_mastercard", brand: CardBrand::Mastercard, last4: "4444", debit: false, instant_payout_eligible: false },
];

/// A debit card made from a test token, ready to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDebitCard {
    brand: CardBrand,
    last4: String,
    exp_month: u8,
    exp_year: i32,
    currency: Currency,
    instant_payout_eligible: bool,
}

impl NewDebitCard {
    /// `currency` is the account's default currency; `today` sets the expiry year.
    pub fn from_test_token(
        token: &str,
        currency: Currency,
        today: NaiveDate,
    ) -> Result<NewDebitCard, DebitCardError> {
        let echoed = || {
            token
                .chars()
                .take(MAX_ECHOED_TOKEN_CHARS)
                .collect::<String>()
        };
        let card = TEST_CARDS
            .iter()
            .find(|card| card.token == token)
            .ok_or_else(|| DebitCardError::UnknownCardToken { token: echoed() })?;
        if !card.debit {
            return Err(DebitCardError::NotADebitCard { token: echoed() });
        }
        Ok(NewDebitCard {
            brand: card.brand,
            last4: card.last4.to_owned(),
            exp_month: TEST_CARD_EXPIRY_MONTH,
            exp_year: today.year() + TEST_CARD_VALIDITY_YEARS,
            currency,
            instant_payout_eligible: card.instant_payout_eligible,
        })
    }

    pub fn brand(&self) -> CardBrand {
        self.brand
    }
    pub fn last4(&self) -> &str {
        &self.last4
    }
    pub fn exp_month(&self) -> u8 {
        self.exp_month
    }
    pub fn exp_year(&self) -> i32 {
        self.exp_year
    }
    pub fn currency(&self) -> Currency {
        self.currency
    }
    pub fn instant_payout_eligible(&self) -> bool {
        self.instant_payout_eligible
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).expect("date")
    }

    #[test]
    fn test_tokens() {
        let usd = Currency::parse("usd").expect("usd");
        // (token, expected brand, last4, instant eligible)
        let cases = [
            ("tok_visa_debit", Ok(("visa", "5556", true))),
            ("tok_mastercard_debit", Ok(("mastercard", "8210", true))),
            (
                "tok_visa_debit_instant_unsupported",
                Ok(("visa", "0077", false)),
            ),
            (
                "tok_visa",
                Err(DebitCardError::NotADebitCard {
                    token: "tok_visa".into(),
                }),
            ),
            (
                "tok_mastercard",
                Err(DebitCardError::NotADebitCard {
                    token: "tok_mastercard".into(),
                }),
            ),
            (
                "tok_nope",
                Err(DebitCardError::UnknownCardToken {
                    token: "tok_nope".into(),
                }),
            ),
            (
                "",
                Err(DebitCardError::UnknownCardToken { token: "".into() }),
            ),
        ];
        for (token, expected) in cases {
            let result = NewDebitCard::from_test_token(token, usd, today());
            let summary = result.as_ref().map(|card| {
                (
                    card.brand().as_str(),
                    card.last4(),
                    card.instant_payout_eligible(),
                )
            });
            assert_eq!(summary.map_err(Clone::clone), expected, "{token}");
        }
    }

    #[test]
    fn cards_expire_in_december_three_years_on() {
        let eur = Currency::parse("eur").expect("eur");
        let card = NewDebitCard::from_test_token("tok_visa_debit", eur, today()).expect("card");
        assert_eq!((card.exp_month(), card.exp_year()), (12, 2029));
        assert_eq!(card.currency(), eur);
    }

    #[test]
    fn refusals_say_why() {
        let usd = Currency::parse("usd").expect("usd");
        let error = NewDebitCard::from_test_token("tok_visa", usd, today()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "tok_visa is a credit card; payouts can only go to debit cards such as tok_visa_debit"
        );
        assert_eq!(error.param(), "token");
    }
}
