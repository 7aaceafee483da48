//! The platform, its top-ups, events and ledger check on the wire.

use async_graphql::connection::Connection;
use async_graphql::{Context, Object, SimpleObject, ID};

use super::accounts::AccountObject;
use super::backtests::PolicyBacktestRunObject;
use super::money::{BalanceObject, MoneyObject};
use crate::domain::account_record::AccountRecord;
use crate::domain::events::Event;
use crate::domain::platforms::Platform;
use crate::domain::topups::Topup;
use crate::graphql::context::{caller, connection, page_request, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{
    CountryCodeScalar, CurrencyScalar, DateTimeScalar, JsonScalar, MinorUnitsScalar,
};
use crate::money::MinorUnits;
use crate::policy::PolicyStatus;
use crate::service::ledger_check::LedgerReport;

pub struct PlatformObject(pub Platform);

#[Object(name = "Platform")]
impl PlatformObject {
    /// plat_… (acct_… when the key is a standalone account's)
    pub async fn id(&self) -> ID {
        match &self.0.standalone {
            Some(profile) => ID(profile.account.to_string()),
            None => ID(self.0.id.to_string()),
        }
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn country(&self) -> CountryCodeScalar {
        CountryCodeScalar::output(&self.0.country)
    }

    async fn default_currency(&self) -> CurrencyScalar {
        CurrencyScalar::output(self.0.default_currency)
    }

    /// The policy that prices this platform's charges.
    async fn policy(&self, ctx: &Context<'_>) -> async_graphql::Result<PolicyObject> {
        Ok(PolicyObject(services(ctx).policy_status(caller(ctx)?)))
    }

    async fn balance(&self, ctx: &Context<'_>) -> async_graphql::Result<BalanceObject> {
        services(ctx)
            .platform_balance(caller(ctx)?)
            .map(BalanceObject::from)
            .gql()
    }

    /// The connected accounts whose available balance is below zero, newest first, one
    /// entry per currency; those the platform is liable for make up `balance.reserved`.
    async fn negative_accounts(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::refunds::NegativeBalanceObject>> {
        let negative = services(ctx)
            .negative_accounts_in_scope(caller(ctx)?)
            .gql()?;
        Ok(negative
            .into_iter()
            .map(super::refunds::NegativeBalanceObject)
            .collect())
    }

    /// Where connect-by-authorization may send an account holder back (registered with updatePlatform).
    async fn oauth_redirect_uris(&self) -> &[String] {
        &self.0.oauth_redirect_uris
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.created)
    }
}

pub struct TopupObject(pub Topup);

#[Object(name = "Topup")]
impl TopupObject {
    /// tu_…
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn amount(&self) -> MoneyObject {
        self.0.amount.into()
    }

    async fn status(&self) -> &str {
        self.0.status.as_str()
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.created)
    }
}

pub struct EventObject(pub Event);

#[Object(name = "Event")]
impl EventObject {
    /// evt_…
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// E.g. account.updated, charge.succeeded, payout.failed.
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }

    /// The connected account the event is about, if any.
    async fn account(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccountObject>> {
        let Some(account) = &self.0.account else {
            return Ok(None);
        };
        let found = services(ctx)
            .find::<AccountRecord>(caller(ctx)?, account.as_ref())
            .gql()?;
        Ok(found.map(|found| AccountObject(found.value)))
    }

    async fn data(&self) -> EventDataObject<'_> {
        EventDataObject(&self.0)
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.created)
    }

    /// How many enabled endpoints have not yet acknowledged this event.
    async fn pending_webhooks(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let pending = services(ctx)
            .pending_webhooks(caller(ctx)?, &self.0)
            .gql()?;
        Ok(i32::try_from(pending).unwrap_or(i32::MAX))
    }
}

pub struct EventDataObject<'a>(&'a Event);

#[Object(name = "EventData")]
impl EventDataObject<'_> {
    /// The object as it was when the event happened, with the field names of its GraphQL type.
    async fn object(&self) -> JsonScalar {
        JsonScalar::output(&self.0.data)
    }

    /// For updates: the fields that changed, with their values before the change.
    async fn previous_attributes(&self) -> Option<JsonScalar> {
        self.0.previous_attributes.as_ref().map(JsonScalar::output)
    }
}

#[derive(SimpleObject)]
#[graphql(name = "LedgerCurrencyTotal")]
pub struct LedgerCurrencyTotalObject {
    pub currency: CurrencyScalar,
    pub debits: MinorUnitsScalar,
    pub credits: MinorUnitsScalar,
}

/// A trial balance: every journal entry's debits equal its credits.
#[derive(SimpleObject)]
#[graphql(name = "LedgerCheck")]
pub struct LedgerCheckObject {
    pub balanced: bool,
    pub entries: i32,
    pub totals: Vec<LedgerCurrencyTotalObject>,
    /// What is wrong, when not balanced.
    pub violations: Vec<String>,
}

fn clamp_total(value: i128) -> MinorUnitsScalar {
    let clamped = i64::try_from(value).unwrap_or(i64::MAX);
    MinorUnitsScalar::output(MinorUnits::new(clamped).unwrap_or(MinorUnits::ZERO))
}

impl From<LedgerReport> for LedgerCheckObject {
    fn from(report: LedgerReport) -> Self {
        let LedgerReport {
            balanced,
            entries,
            totals,
            violations,
        } = report;
        LedgerCheckObject {
            balanced,
            entries: i32::try_from(entries).unwrap_or(i32::MAX),
            totals: totals
                .into_iter()
                .map(|(currency, debits, credits)| LedgerCurrencyTotalObject {
                    currency: CurrencyScalar::output(currency),
                    debits: clamp_total(debits),
                    credits: clamp_total(credits),
                })
                .collect(),
            violations,
        }
    }
}

/// A platform's fee and routing policy, loaded from a Rhai script in the policies folder.
pub struct PolicyObject(pub PolicyStatus);

#[Object(name = "Policy")]
impl PolicyObject {
    /// The file's name without .rhai.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// A hash of the script's source: every charge records the version that priced it.
    async fn version(&self) -> &str {
        self.0.version.as_deref().unwrap_or_default()
    }

    /// The hook functions the script defines, e.g. application_fee, route.
    async fn hooks(&self) -> Vec<&'static str> {
        self.0.hooks.iter().map(|hook| hook.name()).collect()
    }

    async fn loaded_at(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.loaded_at.unwrap_or_default())
    }

    /// Set when the file on disk failed to load; the version above is still the one in force.
    /// With no version (empty), the policy never loaded and its platforms' charges fail
    /// with POLICY_ERROR until it does.
    async fn last_error(&self) -> Option<String> {
        self.0.last_error.as_ref().map(ToString::to_string)
    }

    async fn source(&self) -> String {
        self.0.source.as_deref().unwrap_or_default().to_owned()
    }

    /// Backtests run against this policy by name, newest first.
    async fn backtests(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, PolicyBacktestRunObject>> {
        let request = page_request(first, after)?;
        let page = services(ctx)
            .backtest_runs(caller(ctx)?, &self.0.name, &request)
            .gql()?;
        Ok(connection(page, PolicyBacktestRunObject))
    }
}
