//! Connected accounts on the wire: the account, its capabilities, requirements, payout
//! schedule and external accounts, and account links.

use super::charges::{ChargeObject, TransferObject};
use crate::domain::charges::{Charge, Transfer};
use async_graphql::connection::Connection;
use async_graphql::{Context, Object, SimpleObject, Union, ID};

use super::account_enums::{
    AccountTypeEnum, BusinessTypeEnum, CapabilityNameEnum, CapabilityStatusEnum,
    ExternalAccountStatusEnum, PayoutIntervalEnum, WeekdayEnum,
};
use super::balance_transactions::{BalanceTransactionObject, BalanceTransactionTypeEnum};
use super::money::BalanceObject;
use crate::domain::account_record::AccountRecord;
use crate::domain::capabilities::Capability;
use crate::domain::external_account_records::{BankAccount, DebitCard, ExternalAccount};
use crate::domain::payout_schedule::PayoutSchedule;
use crate::domain::requirement_fields::RequirementField;
use crate::domain::requirements::RequirementsView;
use crate::graphql::context::{caller, connection, page_request, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{CountryCodeScalar, CurrencyScalar, DateTimeScalar, MetadataScalar};
use crate::ledger::Holder;
use crate::service::account_links::CreatedAccountLink;

pub struct AccountObject(pub AccountRecord);

#[Object(name = "Account")]
impl AccountObject {
    /// acct_…
    pub async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }

    #[graphql(name = "type")]
    async fn account_type(&self) -> AccountTypeEnum {
        self.0.account_type().into()
    }

    async fn country(&self) -> CountryCodeScalar {
        CountryCodeScalar::output(self.0.country().code())
    }

    async fn email(&self) -> Option<&str> {
        self.0.email().map(|email| email.as_str())
    }

    async fn business_type(&self) -> Option<BusinessTypeEnum> {
        self.0.business_type().map(Into::into)
    }

    async fn default_currency(&self) -> CurrencyScalar {
        CurrencyScalar::output(self.0.default_currency())
    }

    async fn charges_enabled(&self) -> bool {
        self.0.charges_enabled()
    }

    async fn payouts_enabled(&self) -> bool {
        self.0.payouts_enabled()
    }

    async fn details_submitted(&self) -> bool {
        self.0.details_submitted()
    }

    async fn capabilities(&self) -> Vec<CapabilityObject> {
        self.0
            .capabilities()
            .into_iter()
            .map(CapabilityObject::from)
            .collect()
    }

    async fn requirements(&self) -> RequirementsObject {
        self.0.requirements().into()
    }

    async fn payout_schedule(&self) -> PayoutScheduleObject {
        (*self.0.payout_schedule()).into()
    }

    async fn external_accounts(&self) -> Vec<ExternalAccountUnion> {
        self.0
            .external_accounts()
            .iter()
            .cloned()
            .map(ExternalAccountUnion::from)
            .collect()
    }

    async fn balance(&self, ctx: &Context<'_>) -> async_graphql::Result<BalanceObject> {
        services(ctx)
            .balance(&Holder::Account(self.0.id().clone()))
            .map(BalanceObject::from)
            .gql()
    }

    async fn balance_transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(name = "type")] transaction_type: Option<BalanceTransactionTypeEnum>,
    ) -> async_graphql::Result<Connection<String, BalanceTransactionObject>> {
        let request = page_request(first, after)?;
        let holder = Holder::Account(self.0.id().clone());
        let page = services(ctx)
            .balance_transactions(
                caller(ctx)?,
                &holder,
                transaction_type.map(Into::into),
                &request,
            )
            .gql()?;
        Ok(connection(page, BalanceTransactionObject))
    }

    /// Charges on the account (direct) or paying it (destination), newest first.
    async fn charges(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, ChargeObject>> {
        let request = page_request(first, after)?;
        let index = format!("charges_acct:{}", self.0.id());
        let page = services(ctx)
            .page::<Charge>(caller(ctx)?, &index, &request)
            .gql()?;
        Ok(connection(page, ChargeObject))
    }

    /// Transfers to the account, newest first.
    async fn transfers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, TransferObject>> {
        let request = page_request(first, after)?;
        let index = format!("transfers_dest:{}", self.0.id());
        let page = services(ctx)
            .page::<Transfer>(caller(ctx)?, &index, &request)
            .gql()?;
        Ok(connection(page, TransferObject))
    }

    /// Payouts of the account, newest first, optionally in one status.
    async fn payouts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<super::payouts::PayoutStatusEnum>,
    ) -> async_graphql::Result<Connection<String, super::payouts::PayoutObject>> {
        let request = page_request(first, after)?;
        let holder = Holder::Account(self.0.id().clone());
        let page = services(ctx)
            .payouts(
                caller(ctx)?,
                Some(&holder),
                status.map(Into::into),
                &request,
            )
            .gql()?;
        Ok(connection(page, super::payouts::PayoutObject))
    }

    async fn metadata(&self) -> MetadataScalar {
        MetadataScalar::output(self.0.metadata().as_map())
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.created())
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "Capability")]
pub struct CapabilityObject {
    pub name: CapabilityNameEnum,
    pub requested: bool,
    pub status: CapabilityStatusEnum,
}

impl From<Capability> for CapabilityObject {
    fn from(capability: Capability) -> Self {
        let Capability {
            name,
            requested,
            status,
        } = capability;
        CapabilityObject {
            name: name.into(),
            requested,
            status: status.into(),
        }
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "Requirements")]
pub struct RequirementsObject {
    pub currently_due: Vec<String>,
    pub eventually_due: Vec<String>,
    pub past_due: Vec<String>,
    pub pending_verification: Vec<String>,
    pub current_deadline: Option<DateTimeScalar>,
    /// E.g. requirements.past_due, requirements.pending_verification, rejected.fraud.
    pub disabled_reason: Option<String>,
}

fn field_names(fields: Vec<RequirementField>) -> Vec<String> {
    fields
        .into_iter()
        .map(|field| field.as_str().to_owned())
        .collect()
}

impl From<RequirementsView> for RequirementsObject {
    fn from(view: RequirementsView) -> Self {
        let RequirementsView {
            currently_due,
            eventually_due,
            past_due,
            pending_verification,
            current_deadline,
            disabled_reason,
        } = view;
        RequirementsObject {
            currently_due: field_names(currently_due),
            eventually_due: field_names(eventually_due),
            past_due: field_names(past_due),
            pending_verification: field_names(pending_verification),
            current_deadline: current_deadline.map(DateTimeScalar::output),
            disabled_reason: disabled_reason.map(|reason| reason.as_str().to_owned()),
        }
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "PayoutSchedule")]
pub struct PayoutScheduleObject {
    pub interval: PayoutIntervalEnum,
    pub delay_days: i32,
    pub weekly_anchor: Option<WeekdayEnum>,
    pub monthly_anchor: Option<i32>,
}

impl From<PayoutSchedule> for PayoutScheduleObject {
    fn from(schedule: PayoutSchedule) -> Self {
        PayoutScheduleObject {
            interval: schedule.interval().into(),
            delay_days: i32::from(schedule.delay_days()),
            weekly_anchor: schedule.weekly_anchor().map(Into::into),
            monthly_anchor: schedule.monthly_anchor().map(i32::from),
        }
    }
}

pub struct BankAccountObject(pub BankAccount);

#[Object(name = "BankAccount")]
impl BankAccountObject {
    /// ba_…
    pub async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }

    async fn country(&self) -> CountryCodeScalar {
        CountryCodeScalar::output(self.0.country().code())
    }

    async fn currency(&self) -> CurrencyScalar {
        CurrencyScalar::output(self.0.currency())
    }

    async fn bank_name(&self) -> Option<&str> {
        self.0.bank_name()
    }

    async fn last4(&self) -> &str {
        self.0.last4()
    }

    async fn routing_number(&self) -> Option<&str> {
        self.0.routing_number()
    }

    async fn status(&self) -> ExternalAccountStatusEnum {
        self.0.status().into()
    }

    /// Set with updateExternalAccount.
    async fn account_holder_name(&self) -> Option<&str> {
        self.0.account_holder_name()
    }

    async fn default_for_currency(&self) -> bool {
        self.0.default_for_currency()
    }
}

pub struct DebitCardObject(pub DebitCard);

#[Object(name = "DebitCard")]
impl DebitCardObject {
    /// card_…
    pub async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }

    async fn brand(&self) -> &str {
        self.0.brand().as_str()
    }

    async fn last4(&self) -> &str {
        self.0.last4()
    }

    async fn exp_month(&self) -> i32 {
        i32::from(self.0.exp_month())
    }

    async fn exp_year(&self) -> i32 {
        self.0.exp_year()
    }

    async fn currency(&self) -> CurrencyScalar {
        CurrencyScalar::output(self.0.currency())
    }

    async fn instant_payout_eligible(&self) -> bool {
        self.0.instant_payout_eligible()
    }

    async fn default_for_currency(&self) -> bool {
        self.0.default_for_currency()
    }
}

#[derive(Union)]
#[graphql(name = "ExternalAccount")]
pub enum ExternalAccountUnion {
    BankAccount(BankAccountObject),
    DebitCard(DebitCardObject),
}

impl From<ExternalAccount> for ExternalAccountUnion {
    fn from(account: ExternalAccount) -> Self {
        match account {
            ExternalAccount::BankAccount(bank) => {
                ExternalAccountUnion::BankAccount(BankAccountObject(bank))
            }
            ExternalAccount::DebitCard(card) => {
                ExternalAccountUnion::DebitCard(DebitCardObject(card))
            }
        }
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "AccountLink")]
pub struct AccountLinkObject {
    /// The hosted onboarding page; single use, until expiresAt.
    pub url: String,
    pub expires_at: DateTimeScalar,
}

impl From<CreatedAccountLink> for AccountLinkObject {
    fn from(link: CreatedAccountLink) -> Self {
        let CreatedAccountLink { url, expires_at } = link;
        AccountLinkObject {
            url,
            expires_at: DateTimeScalar::output(expires_at),
        }
    }
}
