//! Connected-account types and business types, and the rules for creating an account.
//!
//! Who may create what:
//! - STANDARD: an account in any supported country, for a platform in any supported country.
//! - EXPRESS: only an account in the US (individual, company or non-profit), for a platform in
//!   any supported country; elsewhere the gateway must be contacted.
//! - CUSTOM: any supported account country, but only for platforms located in a country the
//!   country table marks as allowed.
//!
//! The business type is optional at creation for every type: left out, it is the first
//! currently-due requirement (`business_type`), given later with the account's details
//! (submitAccountDetails or the hosted page), and the rest of the requirements follow from it.
//! The type is fixed at creation: `NewAccount` has no setter and nothing here changes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::capabilities::CapabilityName;
use crate::domain::countries::Country;
use crate::domain::email::{Email, EmailError};
use crate::domain::metadata::{Metadata, MetadataError};
use crate::money::Currency;

/// Serialized as the contract's enum values: STANDARD, EXPRESS, CUSTOM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountType {
    Standard,
    Express,
    Custom,
}

impl AccountType {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Standard => "STANDARD",
            AccountType::Express => "EXPRESS",
            AccountType::Custom => "CUSTOM",
        }
    }
}

impl fmt::Display for AccountType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serialized as the contract's enum values: INDIVIDUAL, COMPANY, NON_PROFIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BusinessType {
    Individual,
    Company,
    NonProfit,
}

impl BusinessType {
    pub fn as_str(self) -> &'static str {
        match self {
            BusinessType::Individual => "INDIVIDUAL",
            BusinessType::Company => "COMPANY",
            BusinessType::NonProfit => "NON_PROFIT",
        }
    }

    /// Companies and non-profits are described by company details, individuals by personal ones.
    pub fn uses_company_details(self) -> bool {
        !matches!(self, BusinessType::Individual)
    }
}

impl fmt::Display for BusinessType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("EXPRESS accounts can only be created for individuals, companies and non-profits in the US, not in {country}; contact the gateway for support outside the U.S.")]
    ExpressOutsideUnitedStates { country: Country },
    #[error("CUSTOM accounts can only be created by platforms located in {allowed}; this platform is located in {platform_country}", allowed = custom_platform_country_list())]
    CustomNotAvailableForPlatformCountry { platform_country: Country },
    #[error(transparent)]
    Email(#[from] EmailError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl AccountError {
    /// The input parameter at fault, for the API error's `param` (GraphQL input naming).
    pub fn param(&self) -> &'static str {
        match self {
            AccountError::ExpressOutsideUnitedStates { .. } => "country",
            AccountError::CustomNotAvailableForPlatformCountry { .. } => "type",
            AccountError::Email(_) => "email",
            AccountError::Metadata(error) => error.param(),
        }
    }
}

fn custom_platform_country_list() -> String {
    let codes: Vec<&str> = Country::all()
        .filter(|country| country.custom_accounts_allowed_for_platform())
        .map(Country::code)
        .collect();
    codes.join(", ")
}

/// What `createAccount` asks for, already in domain types where the API layer can parse them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewAccountInput {
    pub account_type: AccountType,
    pub country: Country,
    pub email: Option<String>,
    pub business_type: Option<BusinessType>,
    pub default_currency: Option<Currency>,
    /// None means both capabilities. STANDARD accounts always request both.
    pub requested_capabilities: Option<Vec<CapabilityName>>,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// An account that passed every creation rule. Only `NewAccount::parse` makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    account_type: AccountType,
    country: Country,
    email: Option<Email>,
    business_type: Option<BusinessType>,
    default_currency: Currency,
    requested_capabilities: BTreeSet<CapabilityName>,
    metadata: Metadata,
}

impl NewAccount {
    /// Applies the creation rules for a platform located in `platform_country`.
    pub fn parse(
        input: NewAccountInput,
        platform_country: Country,
    ) -> Result<NewAccount, AccountError> {
        let NewAccountInput {
            account_type,
            country,
            email,
            business_type,
            default_currency,
            requested_capabilities,
            metadata,
        } = input;
        check_type_and_country(account_type, country, platform_country)?;
        let requested_capabilities = match (account_type, requested_capabilities) {
            (AccountType::Standard, _) | (_, None) => CapabilityName::ALL.into_iter().collect(),
            (_, Some(names)) => names.into_iter().collect(),
        };
        Ok(NewAccount {
            account_type,
            country,
            email: email.as_deref().map(Email::parse).transpose()?,
            business_type,
            default_currency: default_currency.unwrap_or_else(|| country.default_currency()),
            requested_capabilities,
            metadata: metadata
                .map(Metadata::parse)
                .transpose()?
                .unwrap_or_default(),
        })
    }

    pub fn account_type(&self) -> AccountType {
        self.account_type
    }
    pub fn country(&self) -> Country {
        self.country
    }
    pub fn email(&self) -> Option<&Email> {
        self.email.as_ref()
    }
    pub fn business_type(&self) -> Option<BusinessType> {
        self.business_type
    }
    pub fn default_currency(&self) -> Currency {
        self.default_currency
    }
    pub fn requested_capabilities(&self) -> &BTreeSet<CapabilityName> {
        &self.requested_capabilities
    }
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
}

/// The type and country rules on their own, so they can be table-tested and reused.
pub fn check_type_and_country(
    account_type: AccountType,
    account_country: Country,
    platform_country: Country,
) -> Result<(), AccountError> {
    match account_type {
        AccountType::Standard => Ok(()),
        AccountType::Express if account_country.is_united_states() => Ok(()),
        AccountType::Express => Err(AccountError::ExpressOutsideUnitedStates {
            country: account_country,
        }),
        AccountType::Custom if platform_country.custom_accounts_allowed_for_platform() => Ok(()),
        AccountType::Custom => {
            Err(AccountError::CustomNotAvailableForPlatformCountry { platform_country })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(code: &str) -> Country {
        Country::parse(code).expect(code)
    }

    fn input(account_type: AccountType, code: &str) -> NewAccountInput {
        NewAccountInput {
            account_type,
            country: country(code),
            email: None,
            business_type: Some(BusinessType::Individual),
            default_currency: None,
            requested_capabilities: None,
            metadata: None,
        }
    }

    #[test]
    fn type_and_country_rules() {
        use AccountType::{Custom, Express, Standard};
        // (type, account country, platform country, accepted)
        let cases = [
            (Standard, "US", "US", true),
            (Standard, "FR", "JP", true),
            (Standard, "BR", "SG", true),
            (Express, "US", "US", true),
            (Express, "US", "BR", true),
            (Express, "US", "SG", true),
            (Express, "GB", "US", false),
            (Express, "CA", "CA", false),
            (Custom, "US", "BR", false),
            (Custom, "US", "SG", false),
            (Custom, "FR", "PL", false),
            (Custom, "US", "MX", false),
        ];
        for (account_type, account_country, platform_country, accepted) in cases {
            let result = check_type_and_country(
                account_type,
                country(account_country),
                country(platform_country),
            );
            assert_eq!(
                result.is_ok(),
                accepted,
                "{account_type} {account_country} for {platform_country}"
            );
        }
        for platform in [
            "AU", "AT", "BE", "CA", "DK", "FI", "FR", "DE", "HK", "IE", "IT", "JP", "LU", "NL",
            "NZ", "NO", "PT", "ES", "SE", "CH", "GB", "US",
        ] {
            assert_eq!(
                check_type_and_country(Custom, country("GB"), country(platform)),
                Ok(()),
                "{platform}"
            );
        }
    }

    #[test]
    fn refusals_say_why() {
        let express =
            NewAccount::parse(input(AccountType::Express, "GB"), country("US")).unwrap_err();
        assert_eq!(express.param(), "country");
        assert_eq!(
            express.to_string(),
            "EXPRESS accounts can only be created for individuals, companies and non-profits in the US, \
             not in GB; contact the gateway for support outside the U.S."
        );
        let custom =
            NewAccount::parse(input(AccountType::Custom, "US"), country("BR")).unwrap_err();
        assert_eq!(custom.param(), "type");
        assert_eq!(
            custom.to_string(),
            "CUSTOM accounts can only be created by platforms located in AT, AU, BE, CA, CH, DE, DK, ES, FI, FR, \
             GB, HK, IE, IT, JP, LU, NL, NO, NZ, PT, SE, US; this platform is located in BR"
        );
    }

    #[test]
    fn business_type_is_optional_for_every_type() {
        for account_type in [
            AccountType::Standard,
            AccountType::Express,
            AccountType::Custom,
        ] {
            let mut given = input(account_type, "US");
            given.business_type = None;
            let parsed = NewAccount::parse(given, country("US")).expect("no business type");
            assert_eq!(parsed.business_type(), None, "{account_type}");
        }
    }

    #[test]
    fn defaults_come_from_the_country_and_the_type() {
        let standard = NewAccount::parse(
            NewAccountInput {
                requested_capabilities: Some(vec![CapabilityName::Transfers]),
                ..input(AccountType::Standard, "JP")
            },
            country("US"),
        )
        .expect("standard");
        assert_eq!(standard.default_currency().code(), "jpy");
        assert_eq!(standard.requested_capabilities().len(), 2);
        let custom = NewAccount::parse(
            NewAccountInput {
                default_currency: Some(Currency::parse("usd").expect("usd")),
                requested_capabilities: Some(vec![
                    CapabilityName::Transfers,
                    CapabilityName::Transfers,
                ]),
                ..input(AccountType::Custom, "GB")
            },
            country("GB"),
        )
        .expect("custom");
        assert_eq!(custom.default_currency().code(), "usd");
        assert_eq!(
            custom
                .requested_capabilities()
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            [CapabilityName::Transfers]
        );
        assert_eq!(custom.account_type(), AccountType::Custom);
        assert_eq!(custom.country(), country("GB"));
    }

    #[test]
    fn enums_serialize_as_the_contract_spells_them() {
        let json =
            serde_json::to_string(&[BusinessType::NonProfit, BusinessType::Company]).expect("json");
        assert_eq!(json, r#"["NON_PROFIT","COMPANY"]"#);
        assert_eq!(
            serde_json::to_string(&AccountType::Express).expect("json"),
            r#""EXPRESS""#
        );
    }
}
