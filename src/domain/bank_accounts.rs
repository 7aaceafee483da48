//! Bank accounts as payout destinations: account and routing number rules, the test numbers whose
//! payouts fail, and what is stored (last four digits and a salted hash, never the number).
//!
//! Test numbers: 000123456789 succeeds, 000111111116 fails with `no_account`, 000111111113 with
//! `account_closed`; any other well-formed number succeeds. Whether payouts fail is decided from
//! the number when it is added and kept as `payout_failure`, since the number is not stored.
//! A US account needs a nine-digit routing number passing the ABA checksum (the test routing
//! number is 110000000); elsewhere the routing number is optional.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::countries::Country;
use crate::money::Currency;

pub const MIN_ACCOUNT_NUMBER_DIGITS: usize = 4;
pub const MAX_ACCOUNT_NUMBER_DIGITS: usize = 17;
pub const US_ROUTING_NUMBER_DIGITS: usize = 9;
pub const MIN_ROUTING_NUMBER_CHARS: usize = 3;
pub const MAX_ROUTING_NUMBER_CHARS: usize = 20;
/// The US test routing number.
pub const TEST_ROUTING_NUMBER: &str = "110000000";
pub const TEST_BANK_NAME: &str = "TOLLGATE TEST BANK";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankAccountError {
    #[error(
        "accountNumber must be {MIN_ACCOUNT_NUMBER_DIGITS} to {MAX_ACCOUNT_NUMBER_DIGITS} digits"
    )]
    AccountNumberFormat,
    #[error("a US bank account needs routingNumber, nine digits (the test routing number is {TEST_ROUTING_NUMBER})")]
    RoutingNumberRequired,
    #[error("routingNumber must be nine digits for a US bank account")]
    UsRoutingNumberFormat,
    #[error("routingNumber {given} fails the ABA checksum (the test routing number is {TEST_ROUTING_NUMBER})")]
    UsRoutingNumberChecksum { given: String },
    #[error("routingNumber must be {MIN_ROUTING_NUMBER_CHARS} to {MAX_ROUTING_NUMBER_CHARS} letters, digits or hyphens")]
    RoutingNumberFormat,
}

impl BankAccountError {
    /// The input parameter at fault, for the API error's `param` (GraphQL input naming).
    pub fn param(&self) -> &'static str {
        match self {
            BankAccountError::AccountNumberFormat => "accountNumber",
            BankAccountError::RoutingNumberRequired
            | BankAccountError::UsRoutingNumberFormat
            | BankAccountError::UsRoutingNumberChecksum { .. }
            | BankAccountError::RoutingNumberFormat => "routingNumber",
        }
    }
}

/// Why payouts to a test bank account fail. Serialized as its failure code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutFailure {
    NoAccount,
    AccountClosed,
}

impl PayoutFailure {
    /// The payout's `failureCode`.
    pub fn code(self) -> &'static str {
        match self {
            PayoutFailure::NoAccount => "no_account",
            PayoutFailure::AccountClosed => "account_closed",
        }
    }
    /// The payout's `failureMessage`.
    pub fn message(self) -> &'static str {
        match self {
            PayoutFailure::NoAccount => {
                "The bank account details on file do not match an open account at the bank."
            }
            PayoutFailure::AccountClosed => "The bank account has been closed.",
        }
    }
}

/// How payouts to an account number behave: the failing test numbers, else success.
pub fn payout_failure_for_account_number(account_number: &str) -> Option<PayoutFailure> {
    match account_number {
        "000111111116" => Some(PayoutFailure::NoAccount),
        "000111111113" => Some(PayoutFailure::AccountClosed),
        _ => None,
    }
}

/// The stored fingerprint of an account number: hex SHA-256 of the salt followed by the digits.
pub fn account_number_hash(salt: &[u8], account_number: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(account_number.as_bytes());
    hex::encode(hasher.finalize())
}

/// What `addBankAccount` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAccountInput {
    pub country: Country,
    pub currency: Currency,
    pub routing_number: Option<String>,
    pub account_number: String,
}

/// A validated bank account, ready to store. Holds no full account number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBankAccount {
    country: Country,
    currency: Currency,
    last4: String,
    account_number_hash: String,
    routing_number: Option<String>,
    bank_name: Option<String>,
    payout_failure: Option<PayoutFailure>,
}

impl NewBankAccount {
    pub fn parse(input: BankAccountInput, salt: &[u8]) -> Result<NewBankAccount, BankAccountError> {
        let BankAccountInput {
            country,
            currency,
            routing_number,
            account_number,
        } = input;
        let account_number = account_number.trim();
        let digit_count_fits =
            (MIN_ACCOUNT_NUMBER_DIGITS..=MAX_ACCOUNT_NUMBER_DIGITS).contains(&account_number.len());
        if !digit_count_fits || !account_number.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(BankAccountError::AccountNumberFormat);
        }
        let routing_number = parse_routing_number(routing_number.as_deref(), country)?;
        let bank_name = routing_number
            .as_deref()
            .filter(|number| *number == TEST_ROUTING_NUMBER)
            .map(|_| TEST_BANK_NAME.to_owned());
        Ok(NewBankAccount {
            country,
            currency,
            // At least four ASCII digits, checked above, so the slice is in bounds.
            last4: account_number[account_number.len() - 4..].to_owned(),
            account_number_hash: account_number_hash(salt, account_number),
            routing_number,
            bank_name,
            payout_failure: payout_failure_for_account_number(account_number),
        })
    }

    pub fn country(&self) -> Country {
        self.country
    }
    pub fn currency(&self) -> Currency {
        self.currency
    }
    pub fn last4(&self) -> &str {
        &self.last4
    }
    pub fn account_number_hash(&self) -> &str {
        &self.account_number_hash
    }
    pub fn routing_number(&self) -> Option<&str> {
        self.routing_number.as_deref()
    }
    pub fn bank_name(&self) -> Option<&str> {
        self.bank_name.as_deref()
    }
    /// Whether payouts to this account fail, and how: `(code, message)` via `PayoutFailure`.
    pub fn payout_failure(&self) -> Option<PayoutFailure> {
        self.payout_failure
    }
}

fn parse_routing_number(
    given: Option<&str>,
    country: Country,
) -> Result<Option<String>, BankAccountError> {
    let given = given.map(str::trim);
    if !country.is_united_states() {
        let Some(number) = given else { return Ok(None) };
        let fits = (MIN_ROUTING_NUMBER_CHARS..=MAX_ROUTING_NUMBER_CHARS).contains(&number.len());
        if !fits
            || !number
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        {
            return Err(BankAccountError::RoutingNumberFormat);
        }
        return Ok(Some(number.to_owned()));
    }
    let number = given.ok_or(BankAccountError::RoutingNumberRequired)?;
    let digits: Vec<u32> = number
        .chars()
        .filter_map(|character| character.to_digit(10))
        .collect();
    if number.len() != US_ROUTING_NUMBER_DIGITS || digits.len() != US_ROUTING_NUMBER_DIGITS {
        return Err(BankAccountError::UsRoutingNumberFormat);
    }
    // ABA checksum: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) is a multiple of ten.
    let weighted_sum: u32 = digits
        .iter()
        .zip([3, 7, 1].iter().cycle())
        .map(|(digit, weight)| digit * weight)
        .sum();
    if weighted_sum % 10 != 0 {
        return Err(BankAccountError::UsRoutingNumberChecksum {
            given: number.to_owned(),
        });
    }
    Ok(Some(number.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: &[u8] = b"pepper";

    fn input(
        country_code: &str,
        routing_number: Option<&str>,
        account_number: &str,
    ) -> BankAccountInput {
        BankAccountInput {
            country: Country::parse(country_code).expect(country_code),
            currency: Country::parse(country_code)
                .expect(country_code)
                .default_currency(),
            routing_number: routing_number.map(str::to_owned),
            account_number: account_number.to_owned(),
        }
    }

    #[test]
    fn account_and_routing_number_rules() {
        use BankAccountError as E;
        // (country, routing number, account number, expected last4 and failure code)
        let cases = [
            ("US", Some("110000000"), "000123456789", Ok(("6789", None))),
            (
                "US",
                Some("110000000"),
                "000111111116",
                Ok(("1116", Some("no_account"))),
            ),
            (
                "US",
                Some("110000000"),
                "000111111113",
                Ok(("1113", Some("account_closed"))),
            ),
            ("US", Some("021000021"), "1234", Ok(("1234", None))),
            ("GB", None, "00012345", Ok(("2345", None))),
            ("GB", Some("10-88-00"), "00012345", Ok(("2345", None))),
            ("US", Some("110000000"), "123", Err(E::AccountNumberFormat)),
            (
                "US",
                Some("110000000"),
                "123456789012345678",
                Err(E::AccountNumberFormat),
            ),
            (
                "US",
                Some("110000000"),
                "0001234x6789",
                Err(E::AccountNumberFormat),
            ),
            ("US", None, "000123456789", Err(E::RoutingNumberRequired)),
            (
                "US",
                Some("11000000"),
                "000123456789",
                Err(E::UsRoutingNumberFormat),
            ),
            (
                "US",
                Some("11000000a"),
                "000123456789",
                Err(E::UsRoutingNumberFormat),
            ),
            (
                "US",
                Some("110000001"),
                "000123456789",
                Err(E::UsRoutingNumberChecksum {
                    given: "110000001".into(),
                }),
            ),
            ("GB", Some("10"), "00012345", Err(E::RoutingNumberFormat)),
            (
                "GB",
                Some("10 88 00"),
                "00012345",
                Err(E::RoutingNumberFormat),
            ),
        ];
        for (country_code, routing_number, account_number, expected) in cases {
            let result =
                NewBankAccount::parse(input(country_code, routing_number, account_number), SALT);
            let summary = result.as_ref().map(|account| {
                (
                    account.last4(),
                    account.payout_failure().map(PayoutFailure::code),
                )
            });
            assert_eq!(summary.map_err(Clone::clone), expected, "{account_number}");
        }
    }

    #[test]
    fn only_last4_and_a_salted_hash_are_kept() {
        let account = NewBankAccount::parse(input("US", Some("110000000"), "000123456789"), SALT)
            .expect("parse");
        assert_eq!(
            account.account_number_hash(),
            "438a429e0a42d715b966e030c110964be2ac00079aa73ba13239a66fd27c2282"
        );
        assert_ne!(
            account.account_number_hash(),
            account_number_hash(b"other", "000123456789")
        );
        assert_eq!(account.bank_name(), Some(TEST_BANK_NAME));
        assert_eq!(account.routing_number(), Some("110000000"));
        let json = serde_json::to_string(&account).expect("serialize");
        assert!(!json.contains("000123456789"), "{json}");
        let other_bank =
            NewBankAccount::parse(input("US", Some("021000021"), "000123456789"), SALT)
                .expect("parse");
        assert_eq!(other_bank.bank_name(), None);
    }

    #[test]
    fn failures_have_codes_and_messages() {
        let cases = [
            (
                "000111111116",
                Some((
                    "no_account",
                    "The bank account details on file do not match an open account at the bank.",
                )),
            ),
            (
                "000111111113",
                Some(("account_closed", "The bank account has been closed.")),
            ),
            ("000123456789", None),
        ];
        for (number, expected) in cases {
            let failure = payout_failure_for_account_number(number)
                .map(|failure| (failure.code(), failure.message()));
            assert_eq!(failure, expected, "{number}");
        }
        let error = NewBankAccount::parse(input("US", None, "000123456789"), SALT).unwrap_err();
        assert_eq!(error.param(), "routingNumber");
    }
}
