//! Policy backtests: one charge's replay, the totals per currency, the order of the
//! changes, and the kept record of a backtest of a named policy.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::charges::PricedSplit;
use crate::ids::{AccountId, ChargeId, PolicyBacktestRunId};
use crate::money::{Currency, MinorUnits, Money, MoneyError};

/// Why the candidate could not price a charge, and where in its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayError {
    pub message: String,
    pub hook: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

/// One charge replayed: its fee and route as charged, and as the candidate would decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayedCharge {
    pub charge: ChargeId,
    pub currency: Currency,
    /// The application fee as charged; `None` when the charge had none.
    pub current_fee: Option<MinorUnits>,
    /// The candidate's application fee; `None` when it has none, or when it failed.
    pub candidate_fee: Option<MinorUnits>,
    /// A separate charge's transfers as charged; `None` for other flows.
    pub current_route: Option<Vec<PricedSplit>>,
    pub candidate_route: Option<Vec<PricedSplit>>,
    pub error: Option<ReplayError>,
    /// The charge predates recorded facts: the candidate saw facts rebuilt from its fields.
    pub facts_rebuilt: bool,
}

impl ReplayedCharge {
    /// Candidate minus current fee. A charge the candidate refuses earns it nothing.
    pub fn fee_difference(&self) -> Result<MinorUnits, MoneyError> {
        let candidate = self.candidate_fee.unwrap_or(MinorUnits::ZERO);
        candidate.checked_sub(self.current_fee.unwrap_or(MinorUnits::ZERO))
    }

    pub fn route_changed(&self) -> bool {
        self.error.is_none() && self.current_route != self.candidate_route
    }

    /// Whether the candidate decides anything differently from what was charged.
    pub fn changed(&self) -> bool {
        self.error.is_some()
            || self.current_fee != self.candidate_fee
            || self.current_route != self.candidate_route
    }
}

/// The order results are listed in, largest differences first: charges the candidate
/// refuses, then by the size of the fee difference (either way), then changed routes,
/// then newest first. Every charge id is distinct, so the order is total.
pub fn largest_difference_first(a: &ReplayedCharge, b: &ReplayedCharge) -> Ordering {
    let size = |replayed: &ReplayedCharge| {
        replayed
            .fee_difference()
            .map_or(i64::MAX, |difference| difference.get().saturating_abs())
    };
    b.error
        .is_some()
        .cmp(&a.error.is_some())
        .then_with(|| size(b).cmp(&size(a)))
        .then_with(|| b.route_changed().cmp(&a.route_changed()))
        .then_with(|| b.charge.cmp(&a.charge))
}

/// Application fees per currency as charged and as the candidate would charge them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeeTotals {
    per_currency: BTreeMap<Currency, (MinorUnits, MinorUnits)>,
}

impl FeeTotals {
    pub fn add(&mut self, replayed: &ReplayedCharge) -> Result<(), MoneyError> {
        let (current, candidate) = self
            .per_currency
            .entry(replayed.currency)
            .or_insert((MinorUnits::ZERO, MinorUnits::ZERO));
        *current = current.checked_add(replayed.current_fee.unwrap_or(MinorUnits::ZERO))?;
        *candidate = candidate.checked_add(replayed.candidate_fee.unwrap_or(MinorUnits::ZERO))?;
        Ok(())
    }

    /// Every currency of the replayed charges, in currency order.
    pub fn current(&self) -> Vec<Money> {
        self.per_currency
            .iter()
            .map(|(currency, (current, _))| Money::new(*current, *currency))
            .collect()
    }

    pub fn candidate(&self) -> Vec<Money> {
        self.per_currency
            .iter()
            .map(|(currency, (_, candidate))| Money::new(*candidate, *currency))
            .collect()
    }

    /// Candidate minus current, per currency.
    pub fn difference(&self) -> Result<Vec<Money>, MoneyError> {
        self.per_currency
            .iter()
            .map(|(currency, (current, candidate))| {
                Ok(Money::new(candidate.checked_sub(*current)?, *currency))
            })
            .collect()
    }
}

/// The kept record of a backtest of a policy named in the policies folder, so a team can
/// show what it checked before a change.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolicyBacktestRun {
    pub id: PolicyBacktestRunId,
    /// The candidate policy's name.
    pub policy: String,
    /// The platform's policy the candidate was compared with.
    pub current_policy: String,
    pub current_version: String,
    pub candidate_version: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub account: Option<AccountId>,
    pub charges: u64,
    pub errors: u64,
    pub current_fees: Vec<Money>,
    pub candidate_fees: Vec<Money>,
    pub difference: Vec<Money>,
    pub created: DateTime<Utc>,
}

/// The index a platform's backtests are listed under: by the policy they were compared with.
pub fn backtest_runs_index(current_policy: &str) -> String {
    format!("policy_backtests:{current_policy}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("usd").expect("usd")
    }

    fn units(value: i64) -> MinorUnits {
        MinorUnits::new(value).expect("units")
    }

    fn replayed(
        body: &str,
        current: Option<i64>,
        candidate: Option<i64>,
        error: bool,
    ) -> ReplayedCharge {
        ReplayedCharge {
            charge: ChargeId::parse(&format!("ch_{body}")).expect("id"),
            currency: usd(),
            current_fee: current.map(units),
            candidate_fee: candidate.map(units),
            current_route: None,
            candidate_route: None,
            error: error.then(|| ReplayError {
                message: "no".into(),
                hook: None,
                line: None,
                column: None,
            }),
            facts_rebuilt: false,
        }
    }

    #[test]
    fn refusals_come_first_then_the_largest_difference_either_way() {
        let small_rise = replayed("0000000000000aaaaaaaaaaaaa", Some(100), Some(101), false);
        let big_cut = replayed("0000000000000bbbbbbbbbbbbb", Some(500), Some(200), false);
        let refused = replayed("0000000000000ccccccccccccc", Some(100), None, true);
        let same = replayed("0000000000000ddddddddddddd", Some(100), Some(100), false);
        let mut all = vec![
            same.clone(),
            small_rise.clone(),
            refused.clone(),
            big_cut.clone(),
        ];
        all.sort_by(largest_difference_first);
        assert_eq!(all, vec![refused, big_cut, small_rise, same]);
    }

    #[test]
    fn totals_count_a_refused_charge_as_earning_nothing() {
        let mut totals = FeeTotals::default();
        for charge in [
            replayed("0000000000000aaaaaaaaaaaaa", Some(100), Some(101), false),
            replayed("0000000000000ccccccccccccc", Some(250), None, true),
        ] {
            totals.add(&charge).expect("add");
        }
        assert_eq!(totals.current(), vec![Money::new(units(350), usd())]);
        assert_eq!(totals.candidate(), vec![Money::new(units(101), usd())]);
        assert_eq!(
            totals.difference().expect("difference"),
            vec![Money::new(units(-249), usd())]
        );
    }
}
