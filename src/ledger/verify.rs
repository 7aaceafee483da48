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

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::ids::{IdGenerator, PlatformId};
    use crate::ledger::{
        BalanceTransactionType, Bucket, EntryBuilder, EntryKind, Holder, LineSpec,
    };
    use crate::money::MinorUnits;

    fn usd() -> Currency {
        Currency::parse("usd").expect("usd")
    }

    fn minor(value: i64) -> MinorUnits {
        MinorUnits::new(value).expect("minor")
    }

    fn topup(ids: &IdGenerator, platform: &PlatformId, amount: i64) -> Entry {
        let mut builder = EntryBuilder::new(ids, platform, EntryKind::Topup, "tu_x", Utc::now());
        builder
            .line(LineSpec {
                holder: Holder::Platform(platform.clone()),
                transaction_type: BalanceTransactionType::Topup,
                source_id: "tu_x".into(),
                currency: usd(),
                amount: minor(amount),
                fee_details: vec![],
                available_on: None,
                description: None,
            })
            .expect("line");
        builder.system(Holder::Bank, usd(), minor(-amount));
        builder.build().expect("balanced")
    }

    fn account(holder: Holder) -> LedgerAccount {
        LedgerAccount::new(holder, usd(), Bucket::Available)
    }

    /// A ledger broken three ways: an entry that does not balance (so the currency's debits
    /// and credits differ), a stored balance that is not its postings, and a balance with
    /// no postings at all.
    fn broken_ledger() -> (LedgerAudit, PlatformId, Entry) {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let mut audit = LedgerAudit::new();
        audit.add_entry(&topup(&ids, &platform, 5000));
        let mut unbalanced = topup(&ids, &platform, 300);
        unbalanced.other_postings[0].amount = minor(-299);
        audit.add_entry(&unbalanced);
        audit.add_stored_balance(account(Holder::Platform(platform.clone())), 5301);
        audit.add_stored_balance(account(Holder::Bank), -5299);
        audit.add_stored_balance(account(Holder::Gateway), 7);
        (audit, platform, unbalanced)
    }

    #[test]
    fn a_broken_ledger_reports_every_violation() {
        let (audit, platform, unbalanced) = broken_ledger();
        let audit = audit.finish(|_| true);
        assert!(!audit.is_balanced());
        assert_eq!(audit.entries, 2);
        assert_eq!(
            audit.totals.get(&usd()),
            Some(&LedgerTotals {
                debits_minor: 5299,
                credits_minor: 5300
            })
        );
        let mut expected = vec![
            "balance gateway/usd/available is 7 but its postings sum to 0".to_owned(),
            format!("balance {platform}/usd/available is 5301 but its postings sum to 5300"),
            format!(
                "journal entry {} does not balance: usd postings sum to 1",
                unbalanced.id
            ),
            "usd: debits 5299 differ from credits 5300".to_owned(),
        ];
        expected.sort();
        assert_eq!(audit.violations, expected);
    }

    #[test]
    fn a_filtered_audit_compares_only_the_accounts_it_includes() {
        let (audit, platform, _) = broken_ledger();
        let audit = audit.finish(|account| !account.holder.is_system());
        assert!(audit.violations.contains(&format!(
            "balance {platform}/usd/available is 5301 but its postings sum to 5300"
        )));
        assert!(!audit
            .violations
            .iter()
            .any(|violation| violation.contains("gateway")));
    }

    #[test]
    fn a_sound_ledger_has_no_violations_and_running_totals_agree() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let entry = topup(&ids, &platform, 250);
        let mut audit = LedgerAudit::new();
        audit.add_entry(&entry);
        audit.add_stored_balance(account(Holder::Platform(platform.clone())), 250);
        audit.add_stored_balance(account(Holder::Bank), -250);
        assert_eq!(audit.finish(|_| true).violations, Vec::<String>::new());

        let mut totals = RunningTotals::default();
        totals.add_entry(&entry);
        assert_eq!(totals.violations(), Vec::<String>::new());
        assert_eq!(
            totals.currencies.get(&usd()),
            Some(&CurrencyTotals {
                debits_minor: 250,
                credits_minor: 250,
                holders_minor: 250
            })
        );
        let mut broken = entry.clone();
        broken.other_postings[0].amount = minor(-249);
        let mut other = RunningTotals::default();
        other.add_entry(&broken);
        assert_eq!(
            other.violations(),
            vec!["usd: debits 249 differ from credits 250".to_owned()]
        );
        assert!(!totals.same_sums(&other));
    }
}
