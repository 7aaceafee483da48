//! Payouts on the wire: the payout, its method and status.

use super::balance_transactions::balance_transaction_of;
use async_graphql::{Context, Enum, Object, ID};

use super::accounts::{AccountObject, ExternalAccountUnion};
use super::balance_transactions::BalanceTransactionObject;
use super::money::MoneyObject;
use crate::domain::account_record::AccountRecord;
use crate::domain::payouts::{Payout, PayoutMethod, PayoutStatus};
use crate::graphql::context::{caller, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::DateTimeScalar;

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "PayoutMethod")]
pub enum PayoutMethodEnum {
    Standard,
    Instant,
}

impl From<PayoutMethodEnum> for PayoutMethod {
    fn from(value: PayoutMethodEnum) -> Self {
        match value {
            PayoutMethodEnum::Standard => PayoutMethod::Standard,
            PayoutMethodEnum::Instant => PayoutMethod::Instant,
        }
    }
}

impl From<PayoutMethod> for PayoutMethodEnum {
    fn from(value: PayoutMethod) -> Self {
        match value {
            PayoutMethod::Standard => PayoutMethodEnum::Standard,
            PayoutMethod::Instant => PayoutMethodEnum::Instant,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "PayoutStatus")]
pub enum PayoutStatusEnum {
    Pending,
    InTransit,
    Paid,
    Failed,
    Canceled,
}

impl From<PayoutStatusEnum> for PayoutStatus {
    fn from(value: PayoutStatusEnum) -> Self {
        match value {
            PayoutStatusEnum::Pending => PayoutStatus::Pending,
            PayoutStatusEnum::InTransit => PayoutStatus::InTransit,
            PayoutStatusEnum::Paid => PayoutStatus::Paid,
            PayoutStatusEnum::Failed => PayoutStatus::Failed,
            PayoutStatusEnum::Canceled => PayoutStatus::Canceled,
        }
    }
}

impl From<PayoutStatus> for PayoutStatusEnum {
    fn from(value: PayoutStatus) -> Self {
        match value {
            PayoutStatus::Pending => PayoutStatusEnum::Pending,
            PayoutStatus::InTransit => PayoutStatusEnum::InTransit,
            PayoutStatus::Paid => PayoutStatusEnum::Paid,
            PayoutStatus::Failed => PayoutStatusEnum::Failed,
            PayoutStatus::Canceled => PayoutStatusEnum::Canceled,
        }
    }
}

pub struct PayoutObject(pub Payout);

#[Object(name = "Payout")]
impl PayoutObject {
    /// po_…
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn amount(&self) -> MoneyObject {
        self.0.money(self.0.amount).into()
    }

    /// Instant payout fees, taken from the balance on top of the amount.
    async fn fee(&self) -> MoneyObject {
        self.0.money(self.0.fee).into()
    }

    /// The connected account paid out; null for the platform's own payouts.
    async fn account(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccountObject>> {
        let Some(id) = &self.0.account else {
            return Ok(None);
        };
        let found = services(ctx)
            .find::<AccountRecord>(caller(ctx)?, id.as_ref())
            .gql()?;
        Ok(found.map(|found| AccountObject(found.value)))
    }

    async fn method(&self) -> PayoutMethodEnum {
        self.0.method.into()
    }

    async fn status(&self) -> PayoutStatusEnum {
        self.0.status.into()
    }

    /// True when the payout schedule made it.
    async fn automatic(&self) -> bool {
        self.0.automatic
    }

    async fn arrival_date(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.arrival_date)
    }

    /// The bank account or debit card, as it is now (the platform's bank of record for the
    /// platform's own payouts).
    async fn destination(&self, ctx: &Context<'_>) -> async_graphql::Result<ExternalAccountUnion> {
        let current = match &self.0.account {
            Some(id) => services(ctx)
                .find::<AccountRecord>(caller(ctx)?, id.as_ref())
                .gql()?
                .and_then(|found| {
                    found
                        .value
                        .external_account(self.0.destination.id())
                        .cloned()
                }),
            None => None,
        };
        Ok(current.unwrap_or_else(|| self.0.destination.clone()).into())
    }

    async fn failure_code(&self) -> Option<&str> {
        self.0.failure_code.as_deref()
    }

    async fn failure_message(&self) -> Option<&str> {
        self.0.failure_message.as_deref()
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The PAYOUT balance transaction that took the money (and any fees) from the balance.
    async fn balance_transaction(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<BalanceTransactionObject>> {
        balance_transaction_of(ctx, self.0.balance_transaction.as_ref())
    }

    /// The PAYOUT_FAILURE or PAYOUT_CANCEL balance transaction that brought the amount back.
    async fn return_balance_transaction(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<BalanceTransactionObject>> {
        balance_transaction_of(ctx, self.0.return_balance_transaction.as_ref())
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.created)
    }
}
