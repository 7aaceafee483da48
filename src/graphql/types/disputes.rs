//! Disputes on the wire.

use async_graphql::{Context, Enum, Object, ID};

use super::balance_transactions::balance_transactions_of;
use super::balance_transactions::BalanceTransactionObject;
use super::charges::ChargeObject;
use super::money::MoneyObject;
use crate::domain::disputes::{Dispute, DisputeOutcome, DisputeStatus};
use crate::graphql::context::{caller, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::DateTimeScalar;
use crate::money::Money;

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "DisputeStatus")]
pub enum DisputeStatusEnum {
    NeedsResponse,
    UnderReview,
    Won,
    Lost,
}

impl From<DisputeStatusEnum> for DisputeStatus {
    fn from(value: DisputeStatusEnum) -> Self {
        match value {
            DisputeStatusEnum::NeedsResponse => DisputeStatus::NeedsResponse,
            DisputeStatusEnum::UnderReview => DisputeStatus::UnderReview,
            DisputeStatusEnum::Won => DisputeStatus::Won,
            DisputeStatusEnum::Lost => DisputeStatus::Lost,
        }
    }
}

impl From<DisputeStatus> for DisputeStatusEnum {
    fn from(value: DisputeStatus) -> Self {
        match value {
            DisputeStatus::NeedsResponse => DisputeStatusEnum::NeedsResponse,
            DisputeStatus::UnderReview => DisputeStatusEnum::UnderReview,
            DisputeStatus::Won => DisputeStatusEnum::Won,
            DisputeStatus::Lost => DisputeStatusEnum::Lost,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "DisputeOutcome")]
pub enum DisputeOutcomeEnum {
    Won,
    Lost,
}

impl From<DisputeOutcomeEnum> for DisputeOutcome {
    fn from(value: DisputeOutcomeEnum) -> Self {
        match value {
            DisputeOutcomeEnum::Won => DisputeOutcome::Won,
            DisputeOutcomeEnum::Lost => DisputeOutcome::Lost,
        }
    }
}

pub struct DisputeObject(pub Dispute);

#[Object(name = "Dispute")]
impl DisputeObject {
    /// dp_…
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn amount(&self) -> MoneyObject {
        Money::new(self.0.amount, self.0.currency).into()
    }

    /// The gateway's dispute fee: withdrawn with the amount, never returned.
    async fn fee(&self) -> MoneyObject {
        Money::new(self.0.fee, self.0.currency).into()
    }

    async fn charge(&self, ctx: &Context<'_>) -> async_graphql::Result<ChargeObject> {
        services(ctx)
            .charge(caller(ctx)?, self.0.charge.as_ref())
            .map(ChargeObject)
            .gql()
    }

    async fn status(&self) -> DisputeStatusEnum {
        self.0.status.into()
    }

    async fn reason(&self) -> &str {
        &self.0.reason
    }

    /// The evidence last submitted, if any.
    async fn evidence(&self) -> Option<&str> {
        self.0.evidence.as_deref()
    }

    async fn evidence_due_by(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.evidence_due_by)
    }

    /// The withdrawal, then the reinstatement if the dispute was won.
    async fn balance_transactions(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<BalanceTransactionObject>> {
        balance_transactions_of(ctx, &self.0.balance_transactions)
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.created)
    }
}
