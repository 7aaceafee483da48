//! The trial balance: `ledgerCheck` reads one platform's running totals (kept by the writer
//! in the same batch as the balances) and cross-checks them with its holders' balances;
//! `tollgate verify` recomputes the whole store from its entries.

use std::collections::BTreeMap;

use super::{Caller, ServiceError, Services};
use crate::ids::AccountId;
use crate::ledger::{Holder, LedgerAudit, RunningTotals};
use crate::money::Currency;
use crate::store::{Store, MAX_SCAN_ITEMS};

/// How often `ledgerCheck` reads the holders' balances again when a commit of the platform
/// landed while it was reading them.
pub const LEDGER_CHECK_ATTEMPTS: usize = 8;
/// The index listing every connected account of a platform.
const ACCOUNTS_INDEX: &str = "accounts";

/// The result of a check: balanced or the list of violations, with per-currency totals.
#[derive(Debug, Clone)]
pub struct LedgerReport {
    pub balanced: bool,
    pub entries: u64,
    pub totals: Vec<(Currency, i128, i128)>,
    pub violations: Vec<String>,
}

fn report(audit: LedgerAudit) -> LedgerReport {
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

/// A report from running totals and, when they were read in one quiet window, the sums of
/// the holders' stored balances.
fn report_from_totals(
    totals: &RunningTotals,
    held: Option<&BTreeMap<Currency, i128>>,
) -> LedgerReport {
    let mut violations = totals.violations();
    if let Some(held) = held {
        let currencies: std::collections::BTreeSet<Currency> = totals
            .currencies
            .keys()
            .chain(held.keys())
            .copied()
            .collect();
        for currency in currencies {
            let posted = totals
                .currencies
                .get(&currency)
                .map_or(0, |totals| totals.holders_minor);
            let stored = held.get(&currency).copied().unwrap_or(0);
            if posted != stored {
                violations.push(format!(
                    "{currency}: the balances of the platform and its accounts sum to {stored} \
                     but their postings sum to {posted}"
                ));
            }
        }
    }
    LedgerReport {
        balanced: violations.is_empty(),
        entries: totals.entries,
        totals: totals
            .currencies
            .iter()
            .map(|(currency, totals)| (*currency, totals.debits_minor, totals.credits_minor))
            .collect(),
        violations,
    }
}

impl Services {
    /// The platform's trial balance in O(holders): its running totals (one consistent read)
    /// must balance in every currency, and its holders' stored balances must add up to what
    /// was posted to them. The balances are read between two reads of the totals; when a
    /// commit of the platform landed in between they are read again, a bounded number of
    /// times, and when the platform never paused the totals alone are reported.
    pub fn ledger_check(&self, caller: &Caller) -> Result<LedgerReport, ServiceError> {
        let platform = caller.platform_key();
        for _ in 0..LEDGER_CHECK_ATTEMPTS {
            let before = self.store.running_totals(Some(&platform))?;
            let held = self.holder_balances(caller)?;
            let after = self.store.running_totals(Some(&platform))?;
            if before.revision == after.revision {
                return Ok(report_from_totals(&after, Some(&held)));
            }
        }
        let totals = self.store.running_totals(Some(&platform))?;
        Ok(report_from_totals(&totals, None))
    }

    /// The sum, per currency, of every balance of the platform and of its accounts.
    fn holder_balances(&self, caller: &Caller) -> Result<BTreeMap<Currency, i128>, ServiceError> {
        let platform = caller.platform_key();
        let mut sums: BTreeMap<Currency, i128> = BTreeMap::new();
        let mut add = |holder: &Holder| -> Result<(), ServiceError> {
            for (account, amount) in self.store.balances_of(holder)? {
                *sums.entry(account.currency).or_default() += i128::from(amount);
            }
            Ok(())
        };
        add(&Holder::Platform(caller.platform.id.clone()))?;
        let mut after: Option<String> = None;
        loop {
            let page = self.store.scan_index(
                &platform,
                ACCOUNTS_INDEX,
                after.as_deref(),
                MAX_SCAN_ITEMS,
            )?;
            for id in &page {
                let account = AccountId::parse(id)
                    .map_err(|error| ServiceError::internal("account index", error))?;
                add(&Holder::Account(account))?;
            }
            match page.last() {
                Some(last) if page.len() == MAX_SCAN_ITEMS => after = Some(last.clone()),
                _ => return Ok(sums),
            }
        }
    }

    /// Proves the whole store; see [`verify_store`].
    pub fn verify(&self) -> Result<LedgerReport, ServiceError> {
        verify_store(&self.store)
    }
}

/// Proves the whole store: every entry balances, every stored balance equals its
/// postings, every currency's balances sum to zero, and the writer's running totals (per
/// platform and for the ledger) equal the entries recomputed. The hash chain and the
/// high-water record were proven when the store was opened.
pub fn verify_store(store: &Store) -> Result<LedgerReport, ServiceError> {
    let mut audit = LedgerAudit::new();
    let mut ledger_totals = RunningTotals::default();
    let mut platform_totals: BTreeMap<String, RunningTotals> = BTreeMap::new();
    store.for_each_entry(None, |entry| {
        audit.add_entry(&entry);
        ledger_totals.add_entry(&entry);
        platform_totals
            .entry(entry.platform.to_string())
            .or_default()
            .add_entry(&entry);
    })?;
    let mut sums: BTreeMap<Currency, i128> = BTreeMap::new();
    for (account, amount) in store.all_balances()? {
        *sums.entry(account.currency).or_default() += i128::from(amount);
        audit.add_stored_balance(account, amount);
    }
    let mut result = report(audit.finish(|_| true));
    for (currency, sum) in sums {
        if sum != 0 {
            result.violations.push(format!(
                "{currency}: stored balances sum to {sum}, not zero"
            ));
        }
    }
    let mut stored_platforms: BTreeMap<String, RunningTotals> =
        store.all_platform_totals()?.into_iter().collect();
    for (platform, computed) in platform_totals {
        let stored = stored_platforms.remove(&platform).unwrap_or_default();
        result.violations.extend(totals_mismatch(
            &format!("platform {platform}"),
            &stored,
            &computed,
        ));
    }
    for (platform, stored) in stored_platforms {
        result.violations.extend(totals_mismatch(
            &format!("platform {platform}"),
            &stored,
            &RunningTotals::default(),
        ));
    }
    result.violations.extend(totals_mismatch(
        "the ledger",
        &store.running_totals(None)?,
        &ledger_totals,
    ));
    result.balanced = result.violations.is_empty();
    Ok(result)
}

fn totals_mismatch(
    whose: &str,
    stored: &RunningTotals,
    computed: &RunningTotals,
) -> Option<String> {
    (!stored.same_sums(computed)).then(|| {
        format!(
            "the running totals of {whose} do not match its entries: kept {} entries {:?}, \
             recomputed {} entries {:?}",
            stored.entries, stored.currencies, computed.entries, computed.currencies
        )
    })
}
