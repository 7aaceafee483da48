//! The trial balance: `ledgerCheck` for one platform, `tollgate verify` for the whole store.

use std::collections::BTreeMap;

use super::{Caller, ServiceError, Services};
use crate::ledger::{Holder, LedgerAudit};
use crate::money::Currency;
use crate::store::Store;

/// The result of a check: balanced or the list of violations, with per-currency totals.
#[derive(Debug, Clone)]
pub struct LedgerReport {
    pub balanced: bool,
    pub entries: u64,
    pub totals: Vec<(Currency, i128, i128)>,
    pub violations: Vec<String>,
}

pub(super) fn report(audit: LedgerAudit) -> LedgerReport {
    LedgerReport {
        balanced: audit.is_balanced(),
        entries: audit.entries,
        totals: audit
            .totals
            .iter()
            .map(|(currency, totals)| (*currency, totals.debits_minor, totals.credits_minor))
            .collect(),
        violations: audit.violations,
    }
}

impl Services {
    /// Recomputes the platform's ledger from its entries: every entry balances, debits equal
    /// credits, and every balance of the platform and its accounts equals its postings.
    pub fn ledger_check(&self, caller: &Caller) -> Result<LedgerReport, ServiceError> {
        let platform = caller.platform_key();
        let mut audit = LedgerAudit::new();
        let mut holders = BTreeMap::new();
        self.store.for_each_entry(Some(&platform), |entry| {
            for posting in entry.postings() {
                if !posting.account.holder.is_system() {
                    holders.insert(posting.account.holder.clone(), ());
                }
            }
            audit.add_entry(&entry);
        })?;
        holders.insert(Holder::Platform(caller.platform.id.clone()), ());
        for holder in holders.keys() {
            for (account, amount) in self.store.balances_of(holder)? {
                audit.add_stored_balance(account, amount);
            }
        }
        Ok(report(audit.finish(|account| !account.holder.is_system())))
    }

    /// Proves the whole store; see [`verify_store`].
    pub fn verify(&self) -> Result<LedgerReport, ServiceError> {
        verify_store(&self.store)
    }
}

/// Proves the whole store: every entry balances, every stored balance equals its
/// postings, and every currency's balances sum to zero.
pub fn verify_store(store: &Store) -> Result<LedgerReport, ServiceError> {
    let mut audit = LedgerAudit::new();
    store.for_each_entry(None, |entry| audit.add_entry(&entry))?;
    let mut sums: BTreeMap<Currency, i128> = BTreeMap::new();
    for (account, amount) in store.all_balances()? {
        *sums.entry(account.currency).or_default() += i128::from(amount);
        audit.add_stored_balance(account, amount);
    }
    let mut result = report(audit.finish(|_| true));
    for (currency, sum) in sums {
        if sum != 0 {
            result.balanced = false;
            result.violations.push(format!(
                "{currency}: stored balances sum to {sum}, not zero"
            ));
        }
    }
    Ok(result)
}
