//! Policy backtests on the wire: the totals, the replayed charges largest differences
//! first, and the kept record of a named policy's backtest.

use async_graphql::connection::Connection;
use async_graphql::{Context, Object, SimpleObject, ID};
use serde_json::json;

use super::charges::ChargeObject;
use super::money::MoneyObject;
use crate::config::DEFAULT_PAGE_SIZE;
use crate::domain::charges::{Charge, PricedSplit};
use crate::domain::policy_backtests::{PolicyBacktestRun, ReplayError, ReplayedCharge};
use crate::graphql::context::{caller, connection, page_request, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTimeScalar, JsonScalar};
use crate::money::{MinorUnits, Money};
use crate::service::backtests::Backtest;
use crate::service::pagination::encode_cursor;
use crate::service::{Page, ServiceError};

/// What a candidate policy would have done to recorded charges.
pub struct PolicyBacktestObject(pub Backtest);

fn money_list(moneys: &[Money]) -> Vec<MoneyObject> {
    moneys.iter().copied().map(MoneyObject::from).collect()
}

fn count(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

#[Object(name = "PolicyBacktest")]
impl PolicyBacktestObject {
    /// How many captured charges were replayed.
    async fn charges(&self) -> i32 {
        count(self.0.charges)
    }

    /// How many of them the candidate could not price (see each result's error).
    async fn errors(&self) -> i32 {
        count(self.0.errors)
    }

    /// Application fees per currency, as charged.
    async fn current_fees(&self) -> Vec<MoneyObject> {
        money_list(&self.0.current_fees)
    }

    /// Application fees per currency as the candidate would charge them; a charge it
    /// cannot price earns it nothing.
    async fn candidate_fees(&self) -> Vec<MoneyObject> {
        money_list(&self.0.candidate_fees)
    }

    /// Candidate minus current, per currency.
    async fn difference(&self) -> Vec<MoneyObject> {
        money_list(&self.0.difference)
    }

    /// Replayed charges recorded before pricing kept its facts: the candidate saw facts
    /// rebuilt from the charge and today's account (each such result has factsRebuilt).
    async fn rebuilt_facts(&self) -> i32 {
        count(self.0.rebuilt_facts)
    }

    /// Largest differences first.
    #[graphql(
        complexity = "first.map_or(DEFAULT_PAGE_SIZE, |first| usize::try_from(first).unwrap_or(0)) * child_complexity"
    )]
    async fn results(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, PolicyBacktestResultObject>> {
        let request = page_request(first, after)?;
        let start = match &request.after {
            None => 0,
            Some(after) => self
                .0
                .results
                .iter()
                .position(|result| result.charge.as_ref() == after)
                .map(|position| position + 1)
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "after",
                        "after is not a cursor of this backtest's results",
                    )
                })
                .gql()?,
        };
        let rest = self.0.results.get(start..).unwrap_or_default();
        let items = rest
            .iter()
            .take(request.first)
            .map(|result| (encode_cursor(result.charge.as_ref()), result.clone()))
            .collect();
        let page = Page {
            items,
            has_next_page: rest.len() > request.first,
            has_previous_page: start > 0,
        };
        Ok(connection(page, PolicyBacktestResultObject))
    }

    /// The kept record, when a policy of the policies folder was backtested by name.
    async fn run(&self) -> Option<PolicyBacktestRunObject> {
        self.0.run.clone().map(PolicyBacktestRunObject)
    }
}

/// One replayed charge: its fee and route as charged and as the candidate would decide.
pub struct PolicyBacktestResultObject(pub ReplayedCharge);

fn fee(amount: Option<MinorUnits>, replayed: &ReplayedCharge) -> Option<MoneyObject> {
    amount.map(|amount| Money::new(amount, replayed.currency).into())
}

/// A route as `[{destination, amount}]`.
fn route(splits: Option<&Vec<PricedSplit>>) -> Option<JsonScalar> {
    splits.map(|splits| {
        let list: Vec<serde_json::Value> = splits
            .iter()
            .map(|split| json!({"destination": split.destination.as_ref(), "amount": split.amount.get()}))
            .collect();
        JsonScalar::output(&serde_json::Value::Array(list))
    })
}

#[Object(name = "PolicyBacktestResult")]
impl PolicyBacktestResultObject {
    async fn charge(&self, ctx: &Context<'_>) -> async_graphql::Result<ChargeObject> {
        let id = self.0.charge.as_ref();
        services(ctx)
            .find::<Charge>(caller(ctx)?, id)
            .gql()?
            .map(|found| ChargeObject(found.value))
            .ok_or_else(|| ServiceError::internal("backtest", format!("{id} missing")))
            .gql()
    }

    /// The application fee as charged; null when the charge had none.
    async fn current_fee(&self) -> Option<MoneyObject> {
        fee(self.0.current_fee, &self.0)
    }

    /// The candidate's application fee; null when it has none or could not price the charge.
    async fn candidate_fee(&self) -> Option<MoneyObject> {
        fee(self.0.candidate_fee, &self.0)
    }

    /// A separate charge's transfers as charged, `[{destination, amount}]`; null for other flows.
    async fn current_route(&self) -> Option<JsonScalar> {
        route(self.0.current_route.as_ref())
    }

    async fn candidate_route(&self) -> Option<JsonScalar> {
        route(self.0.candidate_route.as_ref())
    }

    /// Why the candidate could not price this charge.
    async fn error(&self) -> Option<PolicyBacktestErrorObject> {
        self.0.error.clone().map(PolicyBacktestErrorObject::from)
    }

    /// The charge predates recorded facts: the candidate saw facts rebuilt from the charge
    /// and today's account.
    async fn facts_rebuilt(&self) -> bool {
        self.0.facts_rebuilt
    }
}

#[derive(SimpleObject)]
#[graphql(name = "PolicyBacktestError")]
pub struct PolicyBacktestErrorObject {
    pub message: String,
    pub hook: Option<String>,
    pub line: Option<i32>,
    pub column: Option<i32>,
}

impl From<ReplayError> for PolicyBacktestErrorObject {
    fn from(error: ReplayError) -> Self {
        let ReplayError {
            message,
            hook,
            line,
            column,
        } = error;
        let position = |value: Option<u32>| value.and_then(|value| i32::try_from(value).ok());
        PolicyBacktestErrorObject {
            message,
            hook,
            line: position(line),
            column: position(column),
        }
    }
}

/// The kept record of a backtest of a named policy.
pub struct PolicyBacktestRunObject(pub PolicyBacktestRun);

#[Object(name = "PolicyBacktestRun")]
impl PolicyBacktestRunObject {
    /// pbt_…
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The candidate policy's name.
    async fn policy(&self) -> &str {
        &self.0.policy
    }

    /// The version of the platform's policy it was compared with.
    async fn current_version(&self) -> &str {
        &self.0.current_version
    }

    async fn candidate_version(&self) -> &str {
        &self.0.candidate_version
    }

    async fn from(&self) -> Option<DateTimeScalar> {
        self.0.from.map(DateTimeScalar::output)
    }

    async fn to(&self) -> Option<DateTimeScalar> {
        self.0.to.map(DateTimeScalar::output)
    }

    async fn charges(&self) -> i32 {
        i32::try_from(self.0.charges).unwrap_or(i32::MAX)
    }

    /// How many charges the candidate could not price.
    async fn errors(&self) -> i32 {
        i32::try_from(self.0.errors).unwrap_or(i32::MAX)
    }

    async fn current_fees(&self) -> Vec<MoneyObject> {
        money_list(&self.0.current_fees)
    }

    async fn candidate_fees(&self) -> Vec<MoneyObject> {
        money_list(&self.0.candidate_fees)
    }

    /// Candidate minus current application fees, per currency.
    async fn difference(&self) -> Vec<MoneyObject> {
        money_list(&self.0.difference)
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.created)
    }
}
