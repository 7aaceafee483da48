//! The operator API (`/operator/graphql`, guarded by the operator key): what the person
//! running the server does while it serves, without downtime — create platforms and prove
//! the ledger. It is a schema of its own, so platform keys never reach it.

use async_graphql::{Context, EmptySubscription, InputObject, Object, Schema, SimpleObject};

use crate::graphql::context::services;
use crate::graphql::errors::GqlResult;
use crate::service::ledger_check::LedgerReport;
use crate::service::platforms::NewPlatform;
use crate::service::{AppState, ServiceError};

pub type OperatorSchema = Schema<OperatorQuery, OperatorMutation, EmptySubscription>;

pub fn build_operator_schema(state: AppState) -> OperatorSchema {
    Schema::build(OperatorQuery, OperatorMutation, EmptySubscription)
        .data(state)
        .finish()
}

/// The operator API's SDL, for `tollgate schema --operator`.
pub fn operator_sdl() -> String {
    Schema::build(OperatorQuery, OperatorMutation, EmptySubscription)
        .finish()
        .sdl()
}

pub struct OperatorQuery;

/// Debits and credits of one currency over the whole ledger, in minor units.
#[derive(SimpleObject)]
pub struct CurrencyTotals {
    pub currency: String,
    /// Decimal text: sums over every entry may exceed 2^53.
    pub debits: String,
    pub credits: String,
}

/// The whole ledger proved: every entry sums to zero and every balance equals its postings.
#[derive(SimpleObject)]
pub struct LedgerVerification {
    pub balanced: bool,
    /// Decimal text, like the totals.
    pub entries: String,
    pub totals: Vec<CurrencyTotals>,
    pub violations: Vec<String>,
}

impl From<LedgerReport> for LedgerVerification {
    fn from(report: LedgerReport) -> LedgerVerification {
        let LedgerReport {
            balanced,
            entries,
            totals,
            violations,
        } = report;
        LedgerVerification {
            balanced,
            entries: entries.to_string(),
            totals: totals
                .into_iter()
                .map(|(currency, debits, credits)| CurrencyTotals {
                    currency: currency.to_string(),
                    debits: debits.to_string(),
                    credits: credits.to_string(),
                })
                .collect(),
            violations,
        }
    }
}

#[Object]
impl OperatorQuery {
    /// Proves every platform's ledger, with writes paused so it sees one consistent state.
    async fn verify_ledger(&self, ctx: &Context<'_>) -> async_graphql::Result<LedgerVerification> {
        let state = ctx.data_unchecked::<AppState>().clone();
        let report = tokio::task::spawn_blocking(move || state.verify_paused())
            .await
            .map_err(|error| ServiceError::internal("ledger verification", error))
            .and_then(|report| report)
            .gql()?;
        Ok(report.into())
    }
}

pub struct OperatorMutation;

#[derive(InputObject)]
pub struct CreatePlatformInput {
    pub name: String,
    /// ISO 3166-1 alpha-2, e.g. "US".
    pub country: String,
    /// ISO 4217, e.g. "usd"; the country's currency by default.
    pub default_currency: Option<String>,
    /// The policy (`<name>.rhai`) pricing its charges; `default` when omitted.
    pub policy: Option<String>,
}

#[derive(InputObject)]
pub struct CreateStandaloneAccountInput {
    pub email: String,
    /// ISO 3166-1 alpha-2, e.g. "US".
    pub country: String,
}

/// A new platform (or standalone account, `acct_…`) and its secret key, shown this once.
#[derive(SimpleObject)]
pub struct CreatedPlatform {
    pub id: String,
    pub secret_key: String,
}

#[Object]
impl OperatorMutation {
    /// Creates a platform while the server runs.
    async fn create_platform(
        &self,
        ctx: &Context<'_>,
        input: CreatePlatformInput,
    ) -> async_graphql::Result<CreatedPlatform> {
        let CreatePlatformInput {
            name,
            country,
            default_currency,
            policy,
        } = input;
        let created = services(ctx)
            .create_platform(NewPlatform {
                name,
                country,
                default_currency,
                policy,
            })
            .await
            .gql()?;
        Ok(CreatedPlatform {
            id: created.id,
            secret_key: created.secret_key,
        })
    }

    /// Creates a standalone account (an account holder without a platform) with its own
    /// secret key, while the server runs.
    async fn create_standalone_account(
        &self,
        ctx: &Context<'_>,
        input: CreateStandaloneAccountInput,
    ) -> async_graphql::Result<CreatedPlatform> {
        let CreateStandaloneAccountInput { email, country } = input;
        let created = services(ctx)
            .create_standalone_account(&email, &country)
            .await
            .gql()?;
        Ok(CreatedPlatform {
            id: created.id,
            secret_key: created.secret_key,
        })
    }
}
