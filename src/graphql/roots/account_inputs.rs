//! The accounts' input objects and their conversion into domain and service inputs; a bad
//! value is an INVALID_REQUEST naming its path (`input.country`, `input.individual.dobDay`).

use async_graphql::{InputObject, ID};

use super::core::optional_idempotency_key;
use crate::domain::account_links::AccountLinkType;
use crate::domain::accounts::NewAccountInput;
use crate::domain::bank_accounts::BankAccountInput;
use crate::domain::countries::Country;
use crate::domain::details::{AddressInput, CompanyInput, DetailsInput, IndividualInput};
use crate::domain::email::Email;
use crate::domain::payout_schedule::PayoutScheduleInput;
use crate::graphql::scalars::{CountryCodeScalar, CurrencyScalar, MetadataScalar};
use crate::graphql::types::account_enums::{
    AccountTypeEnum, BusinessTypeEnum, CapabilityNameEnum, PayoutIntervalEnum, WeekdayEnum,
};
use crate::ids::AccountId;
use crate::service::accounts::{AccountUpdate, CreateAccount};
use crate::service::external_accounts::{NewBankAccountRequest, NewDebitCardRequest};
use crate::service::ServiceError;

#[derive(InputObject)]
pub struct CreateAccountInput {
    #[graphql(name = "type")]
    pub account_type: AccountTypeEnum,
    pub country: CountryCodeScalar,
    pub email: Option<String>,
    pub business_type: Option<BusinessTypeEnum>,
    pub default_currency: Option<CurrencyScalar>,
    pub requested_capabilities: Option<Vec<CapabilityNameEnum>>,
    pub metadata: Option<MetadataScalar>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateAccountInput {
    pub account: ID,
    pub email: Option<String>,
    pub metadata: Option<MetadataScalar>,
}

#[derive(InputObject)]
#[graphql(name = "AddressInput")]
pub struct AddressInputObject {
    pub line1: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
    pub country: Option<CountryCodeScalar>,
}

#[derive(InputObject)]
#[graphql(name = "IndividualInput")]
pub struct IndividualInputObject {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub dob_day: Option<i32>,
    pub dob_month: Option<i32>,
    pub dob_year: Option<i32>,
    #[graphql(name = "ssnLast4")]
    pub ssn_last_4: Option<String>,
    pub id_number: Option<String>,
    pub address: Option<AddressInputObject>,
}

#[derive(InputObject)]
#[graphql(name = "CompanyInput")]
pub struct CompanyInputObject {
    pub name: Option<String>,
    pub tax_id: Option<String>,
    pub address: Option<AddressInputObject>,
}

/// Onboarding details; each accepted field leaves requirements.currentlyDue.
#[derive(InputObject)]
pub struct SubmitAccountDetailsInput {
    pub account: ID,
    /// For a STANDARD account created without one; fixed once given.
    pub business_type: Option<BusinessTypeEnum>,
    pub individual: Option<IndividualInputObject>,
    pub company: Option<CompanyInputObject>,
    pub business_url: Option<String>,
    pub mcc: Option<String>,
    pub tos_acceptance: Option<bool>,
}

#[derive(InputObject)]
pub struct CreateAccountLinkInput {
    pub account: ID,
    pub refresh_url: String,
    pub return_url: String,
    /// ACCOUNT_ONBOARDING (STANDARD and EXPRESS) asks for what is still needed;
    /// ACCOUNT_UPDATE (EXPRESS and CUSTOM) opens the current details for changes.
    /// (null is taken as the default).
    #[graphql(
        name = "type",
        default_with = "Some(AccountLinkTypeEnum::AccountOnboarding)"
    )]
    pub link_type: Option<AccountLinkTypeEnum>,
}

/// What an account link's hosted page is for.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[graphql(name = "AccountLinkType")]
pub enum AccountLinkTypeEnum {
    #[default]
    AccountOnboarding,
    AccountUpdate,
}

impl From<AccountLinkTypeEnum> for AccountLinkType {
    fn from(value: AccountLinkTypeEnum) -> Self {
        match value {
            AccountLinkTypeEnum::AccountOnboarding => AccountLinkType::AccountOnboarding,
            AccountLinkTypeEnum::AccountUpdate => AccountLinkType::AccountUpdate,
        }
    }
}

#[derive(InputObject)]
pub struct AddBankAccountInput {
    pub account: ID,
    pub country: CountryCodeScalar,
    pub currency: CurrencyScalar,
    pub routing_number: Option<String>,
    pub account_number: String,
    pub default_for_currency: Option<bool>,
}

#[derive(InputObject)]
pub struct AddDebitCardInput {
    pub account: ID,
    /// A test card token, e.g. tok_visa_debit.
    pub token: String,
    pub default_for_currency: Option<bool>,
}

#[derive(InputObject)]
pub struct UpdatePayoutScheduleInput {
    pub account: ID,
    pub interval: PayoutIntervalEnum,
    pub delay_days: Option<i32>,
    pub weekly_anchor: Option<WeekdayEnum>,
    pub monthly_anchor: Option<i32>,
}

pub fn account_id(param: &str, id: &ID) -> Result<AccountId, ServiceError> {
    AccountId::parse(id).map_err(|error| ServiceError::id(param, error))
}

fn country(param: &str, given: &CountryCodeScalar) -> Result<Country, ServiceError> {
    Country::parse(&given.to_text(param)?)
        .map_err(|error| ServiceError::invalid(param, error.to_string()))
}

fn email(given: Option<String>) -> Result<Option<Email>, ServiceError> {
    given
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|error| ServiceError::invalid("input.email", error.to_string()))
}

fn metadata(
    given: Option<MetadataScalar>,
) -> Result<Option<std::collections::BTreeMap<String, String>>, ServiceError> {
    given
        .map(|metadata| metadata.to_pairs("input.metadata"))
        .transpose()
}

pub fn parse_create_account(input: CreateAccountInput) -> Result<CreateAccount, ServiceError> {
    let CreateAccountInput {
        account_type,
        country: account_country,
        email: given_email,
        business_type,
        default_currency,
        requested_capabilities,
        metadata: given_metadata,
        idempotency_key,
    } = input;
    // Checked here for its param; the account keeps the raw text only through NewAccount.
    email(given_email.clone())?;
    Ok(CreateAccount {
        input: NewAccountInput {
            account_type: account_type.into(),
            country: country("input.country", &account_country)?,
            email: given_email,
            business_type: business_type.map(Into::into),
            default_currency: default_currency
                .map(|currency| currency.to_currency("input.defaultCurrency"))
                .transpose()?,
            requested_capabilities: requested_capabilities
                .map(|names| names.into_iter().map(Into::into).collect()),
            metadata: metadata(given_metadata)?,
        },
        idempotency_key: optional_idempotency_key(idempotency_key.as_deref())?,
    })
}

pub fn parse_update_account(input: UpdateAccountInput) -> Result<AccountUpdate, ServiceError> {
    let UpdateAccountInput {
        account,
        email: given_email,
        metadata: given_metadata,
    } = input;
    Ok(AccountUpdate {
        account: account_id("input.account", &account)?,
        email: email(given_email)?,
        metadata: metadata(given_metadata)?,
    })
}

fn address(prefix: &str, given: AddressInputObject) -> Result<AddressInput, ServiceError> {
    let AddressInputObject {
        line1,
        city,
        postal_code,
        state,
        country,
    } = given;
    Ok(AddressInput {
        line1,
        city,
        postal_code,
        state,
        country: country
            .map(|code| code.to_text(&format!("{prefix}.address.country")))
            .transpose()?,
    })
}

pub fn parse_details(
    input: SubmitAccountDetailsInput,
) -> Result<(AccountId, DetailsInput), ServiceError> {
    let SubmitAccountDetailsInput {
        account,
        business_type,
        individual,
        company,
        business_url,
        mcc,
        tos_acceptance,
    } = input;
    let individual = individual
        .map(|given| -> Result<IndividualInput, ServiceError> {
            let IndividualInputObject {
                first_name,
                last_name,
                dob_day,
                dob_month,
                dob_year,
                ssn_last_4,
                id_number,
                address: given_address,
            } = given;
            Ok(IndividualInput {
                first_name,
                last_name,
                dob_day: dob_day.map(i64::from),
                dob_month: dob_month.map(i64::from),
                dob_year: dob_year.map(i64::from),
                ssn_last_4,
                id_number,
                address: given_address
                    .map(|given| address("input.individual", given))
                    .transpose()?,
            })
        })
        .transpose()?;
    let company = company
        .map(|given| -> Result<CompanyInput, ServiceError> {
            let CompanyInputObject {
                name,
                tax_id,
                address: given_address,
            } = given;
            Ok(CompanyInput {
                name,
                tax_id,
                address: given_address
                    .map(|given| address("input.company", given))
                    .transpose()?,
            })
        })
        .transpose()?;
    let details = DetailsInput {
        business_type: business_type.map(Into::into),
        individual,
        company,
        business_url,
        mcc,
        tos_acceptance,
    };
    Ok((account_id("input.account", &account)?, details))
}

pub fn parse_bank_account(
    input: AddBankAccountInput,
) -> Result<NewBankAccountRequest, ServiceError> {
    let AddBankAccountInput {
        account,
        country: bank_country,
        currency,
        routing_number,
        account_number,
        default_for_currency,
    } = input;
    Ok(NewBankAccountRequest {
        account: account_id("input.account", &account)?,
        bank: BankAccountInput {
            country: country("input.country", &bank_country)?,
            currency: currency.to_currency("input.currency")?,
            routing_number,
            account_number,
        },
        default_for_currency,
    })
}

pub fn parse_debit_card(input: AddDebitCardInput) -> Result<NewDebitCardRequest, ServiceError> {
    let AddDebitCardInput {
        account,
        token,
        default_for_currency,
    } = input;
    Ok(NewDebitCardRequest {
        account: account_id("input.account", &account)?,
        token,
        default_for_currency,
    })
}

pub fn parse_payout_schedule(
    input: UpdatePayoutScheduleInput,
) -> Result<(AccountId, PayoutScheduleInput), ServiceError> {
    let UpdatePayoutScheduleInput {
        account,
        interval,
        delay_days,
        weekly_anchor,
        monthly_anchor,
    } = input;
    let schedule = PayoutScheduleInput {
        interval: interval.into(),
        delay_days: delay_days.map(i64::from),
        weekly_anchor: weekly_anchor.map(Into::into),
        monthly_anchor: monthly_anchor.map(i64::from),
    };
    Ok((account_id("input.account", &account)?, schedule))
}
