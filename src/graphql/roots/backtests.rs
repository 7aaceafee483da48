//! Policy backtests: what a candidate policy would have done to the charges already recorded.

use async_graphql::{Context, InputObject, Object, ID};

use super::core::optional_account;
use crate::graphql::context::caller;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::DateTimeScalar;
use crate::graphql::types::backtests::PolicyBacktestObject;
use crate::policy::MAX_POLICY_NAME_LENGTH;
use crate::service::backtests::{BacktestRequest, Candidate, CANDIDATE_POLICY_NAME};
use crate::service::{AppState, ServiceError};

#[derive(InputObject)]
pub struct BacktestPolicyInput {
    /// Rhai source of the candidate; or name a policy in the policies folder.
    pub source: Option<String>,
    pub policy: Option<String>,
    /// Charges created at or after this time, on the platform's clock.
    pub from: Option<DateTimeScalar>,
    /// Charges created before this time.
    pub to: Option<DateTimeScalar>,
    /// Only charges on this connected account, or with it as their destination.
    pub account: Option<ID>,
}

fn parse_backtest(input: BacktestPolicyInput) -> Result<BacktestRequest, ServiceError> {
    let BacktestPolicyInput {
        source,
        policy,
        from,
        to,
        account,
    } = input;
    let candidate = match (source, policy) {
        (Some(source), None) => Candidate::Source {
            name: CANDIDATE_POLICY_NAME.to_owned(),
            source,
        },
        (None, Some(policy)) if policy.chars().count() > MAX_POLICY_NAME_LENGTH => {
            return Err(ServiceError::invalid(
                "input.policy",
                format!("Invalid input.policy: a policy name has at most {MAX_POLICY_NAME_LENGTH} characters"),
            ))
        }
        (None, Some(policy)) => Candidate::Named(policy),
        (Some(_), Some(_)) => {
            return Err(ServiceError::invalid(
                "input.policy",
                "Give either input.source or input.policy, not both",
            ))
        }
        (None, None) => {
            return Err(ServiceError::invalid(
                "input.source",
                "Give the candidate as input.source (Rhai text) or input.policy (a policy's name)",
            ))
        }
    };
    Ok(BacktestRequest {
        candidate,
        from: from.map(|from| from.to_time("input.from")).transpose()?,
        to: to.map(|to| to.to_time("input.to")).transpose()?,
        account: optional_account("input.account", account.as_ref())?,
    })
}

#[derive(Default)]
pub struct BacktestsMutation;

#[Object]
impl BacktestsMutation {
    /// Replays the platform's captured charges of a window under a candidate policy, in the
    /// policy sandbox. Nothing is written, except the run's record for a policy named.
    async fn backtest_policy(
        &self,
        ctx: &Context<'_>,
        input: BacktestPolicyInput,
    ) -> async_graphql::Result<PolicyBacktestObject> {
        let request = parse_backtest(input).gql()?;
        let caller = caller(ctx)?;
        ctx.data_unchecked::<AppState>()
            .backtest_policy(caller, request)
            .await
            .map(PolicyBacktestObject)
            .gql()
    }
}
