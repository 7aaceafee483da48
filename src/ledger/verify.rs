//! The trial balance: recomputes balances from postings and compares them with the stored
//! ones; and the running totals the writer keeps as it applies postings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Entry, LedgerAccount};
use crate::money::Currency;

/// One currency's running totals: what left balances, what arrived, and the net that landed
/// on platforms and connected accounts (the rest is on the system holders).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyTotals {
    pub debits_minor: i128,
    pub credits_minor: i128,
    pub holders_minor: i128,
}

/// Totals kept by the writer as it applies entries, for one platform or the whole ledger.
/// They are updated in the same atomic batch as the balances, so one read of them is a
/// consistent snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningTotals {
    /// Moves with every commit that adds entries, so a reader can tell whether other reads
    /// it made straddled a commit.
    pub revision: u64,
    pub entries: u64,
    pub currencies: BTreeMap<Currency, CurrencyTotals>,
}

impl RunningTotals {
    pub fn add_entry(&mut self, entry: &Entry) {
        self.entries += 1;
        for posting in entry.postings() {
            let amount = i128::from(posting.amount.get());
            let totals = self.currencies.entry(posting.account.currency).or_default();
            if amount < 0 {
                totals.debits_minor -= amount;
            } else {
                totals.credits_minor += amount;
            }
            if !posting.account.holder.is_system() {
                totals.holders_minor += amount;
            }
        }
    }

    /// What is wrong with these totals on their own: a currency whose debits and credits
    /// differ.
    pub fn violations(&self) -> Vec<String> {
        self.currencies
            .iter()
            .filter(|(_, totals)| totals.debits_minor != totals.credits_minor)
            .map(|(currency, totals)| {
                format!(
                    "{currency}: debits {} differ from credits {}",
                    totals.debits_minor, totals.credits_minor
                )
            })
            .collect()
    }

    /// Equal in everything but the revision, which only says when they last moved.
    pub fn same_sums(&self, other: &RunningTotals) -> bool {
        self.entries == other.entries && self.currencies == other.currencies
    }
}

/// Debits (money leaving balances) and credits (money arriving) per currency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    pub debits_minor: i128,
    pub credits_minor: i128,
}

/// Accumulates entries and stored balances, then reports every violation it found.
#[derive(Debug, Default)]
pub struct LedgerAudit {
    pub entries: u64,
    pub totals: BTreeMap<Currency, LedgerTotals>,
    computed: BTreeMap<LedgerAccount, i128>,
    stored: BTreeMap<LedgerAccount, i128>,
    pub violations: Vec<String>,
}

impl LedgerAudit {
    pub fn new() -> LedgerAudit {
        LedgerAudit::default()
    }

    pub fn add_entry(&mut self, entry: &Entry) {
        self.entries += 1;
        if let Err(error) = entry.check_balanced() {
            self.violations.push(error.to_string());
        }
        for posting in entry.postings() {
            let amount = i128::from(posting.amount.get());
            let totals = self.totals.entry(posting.account.currency).or_default();
            if amount < 0 {
                totals.debits_minor -= amount;
            } else {
                totals.credits_minor += amount;
            }
            *self.computed.entry(posting.account).or_default() += amount;
        }
    }

    pub fn add_stored_balance(&mut self, account: LedgerAccount, amount_minor: i64) {
        self.stored.insert(account, i128::from(amount_minor));
    }

    /// Compares only the ledger accounts `include` accepts (a platform's own holders, or all).
    pub fn finish(mut self, include: impl Fn(&LedgerAccount) -> bool) -> LedgerAudit {
        for (currency, totals) in &self.totals {
            if totals.debits_minor != totals.credits_minor {
                self.violations.push(format!(
                    "{currency}: debits {} differ from credits {}",
                    totals.debits_minor, totals.credits_minor
                ));
            }
        }
        let accounts: Vec<LedgerAccount> = self
            .computed
            .keys()
            .chain(self.stored.keys())
            .filter(|account| include(account))
            .cloned()
            .collect();
        for account in accounts {
            let computed = self.computed.get(&account).copied().unwrap_or(0);
            let stored = self.stored.get(&account).copied().unwrap_or(0);
            if computed != stored {
                self.violations.push(format!(
                    "balance {} is {stored} but its postings sum to {computed}",
                    account.key()
                ));
            }
        }
        self.violations.sort();
        self.violations.dedup();
        self
    }

    pub fn is_balanced(&self) -> bool {
        self.violations.is_empty()
    }
}
