//! Policy backtests: the platform's recorded charges replayed under a candidate policy in
//! the policy sandbox, writing nothing but the record of a named policy's run.
//!
//! Each charge is replayed with the facts recorded when it was priced, so the candidate
//! sees what the policy in force saw then, not today's accounts. The replay is blocking
//! work and runs off the async runtime, one backtest at a time, within a time budget.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::charge_facts::{facts_from_record, rebuilt_facts};
use super::pricing::PlatformDirectory;
use super::{Caller, Draft, ServiceError, Services};
use crate::domain::account_record::AccountRecord;
use crate::domain::charges::{charged_application_fee, Charge, ChargeFlowKind, PricedSplit};
use crate::domain::policy_backtests::{
    backtest_runs_index, largest_difference_first, FeeTotals, PolicyBacktestRun, ReplayError,
    ReplayedCharge,
};
use crate::ids::{AccountId, PolicyBacktestRunId};
use crate::money::Money;
use crate::policy::{ChargeRequest, LoadedPolicy, PolicyError, Split};
use crate::store::MAX_SCAN_ITEMS;

/// How far a refused backtest counts the charges of its window before it stops counting,
/// as a multiple of the most it replays (`Settings::max_backtest_charges`).
pub const BACKTEST_COUNTING_FACTOR: usize = 10;
/// How long one backtest may run (reading and replaying) before it is stopped; below the
/// request timeout, so the caller hears why.
pub const MAX_BACKTEST_SECONDS: u64 = 20;
/// Backtests running at once: each holds one core for up to its time budget.
pub const MAX_CONCURRENT_BACKTESTS: usize = 1;
/// The name a candidate given as source text compiles under (errors name `candidate.rhai`).
pub const CANDIDATE_POLICY_NAME: &str = "candidate";
/// Charges are listed in the order they were made, and their `created` comes from business
/// time read just before; business time never goes back, so a charge listed after one
/// created this long before `from` cannot be in the window, and the scan stops there.
pub const CREATED_ORDER_SLACK_SECONDS: i64 = 3600;

/// The candidate: Rhai source, or a policy of the policies folder by name.
#[derive(Clone, Debug)]
pub enum Candidate {
    /// Rhai text, compiled as the policy `name` (errors name `<name>.rhai`).
    Source {
        name: String,
        source: String,
    },
    Named(String),
}

/// A parsed `backtestPolicy` input.
#[derive(Clone, Debug)]
pub struct BacktestRequest {
    pub candidate: Candidate,
    /// Inclusive, on business time.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive, on business time.
    pub to: Option<DateTime<Utc>>,
    pub account: Option<AccountId>,
}

/// What a candidate would have done to the charges of a window.
#[derive(Clone, Debug)]
pub struct Backtest {
    pub charges: usize,
    pub errors: usize,
    /// Replayed charges that predate recorded facts (see [`ReplayedCharge::facts_rebuilt`]).
    pub rebuilt_facts: usize,
    pub current_fees: Vec<Money>,
    pub candidate_fees: Vec<Money>,
    pub difference: Vec<Money>,
    /// Largest differences first ([`largest_difference_first`]).
    pub results: Vec<ReplayedCharge>,
    pub current_policy: String,
    pub current_version: String,
    pub candidate_policy: String,
    pub candidate_version: String,
    /// The kept record, for a backtest of a named policy.
    pub run: Option<PolicyBacktestRun>,
}

/// Stops the blocking replay when the request that started it goes away.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// When the replay must give up: the request is gone, or the time budget is spent.
struct Budget {
    stopped: Arc<AtomicBool>,
    deadline: Instant,
}

impl Budget {
    fn check(&self) -> Result<(), ServiceError> {
        if self.stopped.load(Ordering::Relaxed) {
            return Err(ServiceError::invalid(
                "input",
                "The backtest was stopped: its request ended",
            ));
        }
        if Instant::now() > self.deadline {
            return Err(ServiceError::invalid(
                "input.from",
                format!(
                    "The backtest ran for more than {MAX_BACKTEST_SECONDS} seconds and was stopped; narrow it with from, to or account"
                ),
            ));
        }
        Ok(())
    }
}

impl Services {
    /// Replays the caller's captured charges of the window under the candidate. Only a
    /// backtest of a named policy writes anything: its [`PolicyBacktestRun`].
    pub async fn backtest_policy(
        self: &Arc<Self>,
        caller: &Caller,
        request: BacktestRequest,
    ) -> Result<Backtest, ServiceError> {
        caller.require_platform("Policy backtests replay every charge of the platform")?;
        if let (Some(from), Some(to)) = (request.from, request.to) {
            if from >= to {
                return Err(ServiceError::invalid(
                    "input.to",
                    format!("Invalid input.to: {to} is not after input.from {from}"),
                ));
            }
        }
        if let Some(account) = &request.account {
            self.account_named(caller, account, "input.account")?;
        }
        let candidate = self.candidate(&request.candidate)?;
        let current = self.policies.policy(&caller.platform.policy)?;
        let _slot = self
            .backtest_slots
            .acquire()
            .await
            .map_err(|error| ServiceError::internal("backtest slot", error))?;
        let stopped = Arc::new(AtomicBool::new(false));
        let _stop_on_drop = StopOnDrop(Arc::clone(&stopped));
        let budget = Budget {
            stopped,
            deadline: Instant::now() + Duration::from_secs(MAX_BACKTEST_SECONDS),
        };
        let services = Arc::clone(self);
        let replay_caller = caller.clone();
        let replay_request = request.clone();
        let replay_candidate = Arc::clone(&candidate);
        let (results, totals) = tokio::task::spawn_blocking(move || {
            services.replay_window(&replay_caller, &replay_request, &replay_candidate, &budget)
        })
        .await
        .map_err(|error| ServiceError::internal("backtest", error))??;
        let mut backtest = Backtest {
            charges: results.len(),
            errors: results
                .iter()
                .filter(|result| result.error.is_some())
                .count(),
            rebuilt_facts: results.iter().filter(|result| result.facts_rebuilt).count(),
            current_fees: totals.current(),
            candidate_fees: totals.candidate(),
            difference: totals.difference().map_err(|error| {
                ServiceError::invalid("input.from", format!("The totals overflow: {error}"))
            })?,
            results,
            current_policy: current.name().to_owned(),
            current_version: current.version().to_owned(),
            candidate_policy: candidate.name().to_owned(),
            candidate_version: candidate.version().to_owned(),
            run: None,
        };
        if matches!(request.candidate, Candidate::Named(_)) {
            backtest.run = Some(
                self.record_backtest_run(caller, &request, &backtest)
                    .await?,
            );
        }
        Ok(backtest)
    }

    /// The platform's backtests compared with the policy `current_policy`, newest first.
    pub fn backtest_runs(
        &self,
        caller: &Caller,
        current_policy: &str,
        request: &super::PageRequest,
    ) -> Result<super::Page<PolicyBacktestRun>, ServiceError> {
        self.page(caller, &backtest_runs_index(current_policy), request)
    }

    /// The candidate, one version for the whole backtest: a named policy's version in
    /// force now, even if its file is replaced while the backtest runs.
    fn candidate(&self, candidate: &Candidate) -> Result<Arc<LoadedPolicy>, ServiceError> {
        match candidate {
            Candidate::Source { name, source } => self
                .policies
                .compile_candidate(name, source.as_str())
                .map(Arc::new)
                .map_err(ServiceError::from),
            Candidate::Named(name) => self
                .policies
                .named(name)
                .ok_or_else(|| ServiceError::not_found("input.policy", "policy", name.as_str())),
        }
    }

    async fn record_backtest_run(
        &self,
        caller: &Caller,
        request: &BacktestRequest,
        backtest: &Backtest,
    ) -> Result<PolicyBacktestRun, ServiceError> {
        let now = self.clock.now(&caller.platform.id);
        let id: PolicyBacktestRunId = self.ids.next();
        let run = PolicyBacktestRun {
            id: id.clone(),
            policy: backtest.candidate_policy.clone(),
            current_policy: backtest.current_policy.clone(),
            current_version: backtest.current_version.clone(),
            candidate_version: backtest.candidate_version.clone(),
            from: request.from,
            to: request.to,
            account: request.account.clone(),
            charges: u64::try_from(backtest.charges).unwrap_or(u64::MAX),
            errors: u64::try_from(backtest.errors).unwrap_or(u64::MAX),
            current_fees: backtest.current_fees.clone(),
            candidate_fees: backtest.candidate_fees.clone(),
            difference: backtest.difference.clone(),
            created: now,
        };
        let mut draft = Draft::new(&caller.platform.id, now);
        draft.insert(
            id.as_ref(),
            &run,
            &[backtest_runs_index(&backtest.current_policy)],
        )?;
        self.store.commit(draft.commit).await?;
        Ok(run)
    }

    /// Selects the window's charges, then replays each: blocking, within `budget`.
    fn replay_window(
        &self,
        caller: &Caller,
        request: &BacktestRequest,
        candidate: &LoadedPolicy,
        budget: &Budget,
    ) -> Result<(Vec<ReplayedCharge>, FeeTotals), ServiceError> {
        let charges = self.window_charges(caller, request, budget)?;
        let directory = PlatformDirectory {
            store: self.store.clone(),
            platform: caller.platform_key(),
        };
        let mut results = Vec::with_capacity(charges.len());
        let mut totals = FeeTotals::default();
        for charge in &charges {
            budget.check()?;
            let replayed = self.replay_charge(caller, candidate, charge, &directory)?;
            totals.add(&replayed).map_err(|error| {
                ServiceError::invalid("input.from", format!("The totals overflow: {error}"))
            })?;
            results.push(replayed);
        }
        results.sort_by(largest_difference_first);
        Ok((results, totals))
    }

    /// The captured charges of the window (and account), newest first, refusing a window
    /// of more than `Settings::max_backtest_charges` with how many it holds.
    fn window_charges(
        &self,
        caller: &Caller,
        request: &BacktestRequest,
        budget: &Budget,
    ) -> Result<Vec<Charge>, ServiceError> {
        let platform = caller.platform_key();
        let index = match &request.account {
            Some(account) => format!("charges_acct:{account}"),
            None => "charges".to_owned(),
        };
        let scan_stops_before = request
            .from
            .map(|from| from - chrono::Duration::seconds(CREATED_ORDER_SLACK_SECONDS));
        let max_charges = self.settings.max_backtest_charges;
        let max_counted = max_charges.saturating_mul(BACKTEST_COUNTING_FACTOR);
        let mut selected = Vec::new();
        let mut in_window = 0usize;
        let mut after: Option<String> = None;
        'scan: loop {
            budget.check()?;
            let ids = self
                .store
                .scan_index(&platform, &index, after.as_deref(), MAX_SCAN_ITEMS)?;
            for id in &ids {
                let charge = self
                    .store
                    .get_object::<Charge>(&platform, id)?
                    .ok_or_else(|| {
                        ServiceError::internal("index", format!("{id} is indexed but missing"))
                    })?
                    .value;
                if scan_stops_before.is_some_and(|stop| charge.created < stop) {
                    break 'scan;
                }
                let in_range = request.from.is_none_or(|from| charge.created >= from)
                    && request.to.is_none_or(|to| charge.created < to);
                // Only a captured charge was charged a fee; a declined charge or an
                // authorization never captured has nothing to compare.
                if !in_range || !charge.captured {
                    continue;
                }
                in_window += 1;
                if in_window >= max_counted {
                    break 'scan;
                }
                if in_window <= max_charges {
                    selected.push(charge);
                } else if !selected.is_empty() {
                    // The backtest will be refused: from here on it only counts.
                    selected = Vec::new();
                }
            }
            if ids.len() < MAX_SCAN_ITEMS {
                break;
            }
            after = ids.last().cloned();
        }
        if in_window > max_charges {
            let beyond = in_window - max_charges;
            let counted = if in_window >= max_counted {
                "at least "
            } else {
                ""
            };
            return Err(ServiceError::invalid(
                "input.from",
                format!(
                    "The window holds {counted}{in_window} charges, {counted}{beyond} more than the {max_charges} one backtest replays; narrow it with from, to or account"
                ),
            ));
        }
        Ok(selected)
    }

    /// One charge under the candidate, with the facts its policy saw.
    fn replay_charge(
        &self,
        caller: &Caller,
        candidate: &LoadedPolicy,
        charge: &Charge,
        directory: &PlatformDirectory,
    ) -> Result<ReplayedCharge, ServiceError> {
        let pricing = &charge.pricing;
        let (facts, facts_rebuilt) = match &pricing.facts {
            Some(recorded) => {
                let recorded = recorded
                    .readable()
                    .map_err(|error| ServiceError::internal("charge facts", error))?;
                (facts_from_record(recorded), false)
            }
            None => {
                let account = match charge.account.as_ref().or(charge.destination.as_ref()) {
                    Some(account) => self
                        .find::<AccountRecord>(caller, account.as_ref())?
                        .map(|found| found.value),
                    None => None,
                };
                (
                    rebuilt_facts(charge, account.as_ref(), &caller.platform),
                    true,
                )
            }
        };
        let request = ChargeRequest {
            facts,
            requested_application_fee: pricing
                .application_fee
                .filter(|_| pricing.application_fee_from_request),
            has_transfer_data: charge.destination.is_some(),
        };
        let separate = charge.flow == ChargeFlowKind::Separate;
        let mut replayed = ReplayedCharge {
            charge: charge.id.clone(),
            currency: charge.currency,
            current_fee: pricing.application_fee,
            candidate_fee: None,
            current_route: separate.then(|| pricing.splits.clone()),
            candidate_route: None,
            error: None,
            facts_rebuilt,
        };
        match self
            .policies
            .decide_charge_with(candidate, &request, directory)
        {
            Ok(decision) => {
                replayed.candidate_fee = charged_application_fee(
                    charge.flow,
                    charge.transfer_amount.is_some(),
                    decision.application_fee,
                );
                if separate {
                    replayed.candidate_route = Some(priced_splits(decision.splits)?);
                }
            }
            Err(error) => replayed.error = Some(replay_error(&error)),
        }
        Ok(replayed)
    }
}

fn priced_splits(splits: Vec<Split>) -> Result<Vec<PricedSplit>, ServiceError> {
    splits
        .into_iter()
        .map(|split| {
            // The directory accepted only this platform's accounts, so the id parses.
            let destination = AccountId::parse(&split.destination)
                .map_err(|error| ServiceError::internal("split destination", error))?;
            Ok(PricedSplit {
                destination,
                amount: split.amount,
            })
        })
        .collect()
}

fn replay_error(error: &PolicyError) -> ReplayError {
    ReplayError {
        message: error.message().to_owned(),
        hook: error.hook().map(str::to_owned),
        line: error.line().and_then(|line| u32::try_from(line).ok()),
        column: error.column().and_then(|column| u32::try_from(column).ok()),
    }
}
