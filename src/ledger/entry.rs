//! Journal entries: lines (a holder's balance transaction), system postings, and the
//! zero-sum check every entry passes before it can exist.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Bucket, Holder, LedgerAccount, LedgerError};
use crate::ids::{BalanceTransactionId, EntryId, IdGenerator, PlatformId, TypedId};
use crate::money::{Currency, MinorUnits, MoneyError};

/// The most lines and postings one entry may carry.
pub const MAX_POSTINGS_PER_ENTRY: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BalanceTransactionType {
    Charge,
    Payment,
    Refund,
    PaymentRefund,
    ApplicationFee,
    ApplicationFeeRefund,
    Transfer,
    TransferReversal,
    Payout,
    PayoutFailure,
    /// A canceled payout's amount, back in the balance.
    PayoutCancel,
    Dispute,
    DisputeReversal,
    AccountDebit,
    Topup,
    Adjustment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FeeType {
    ProcessingFee,
    ApplicationFee,
    InstantPayoutFee,
    DisputeFee,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeDetail {
    pub fee_type: FeeType,
    pub amount: MinorUnits,
    pub description: Option<String>,
}

/// What a journal entry records, for audits and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Topup,
    Charge,
    Capture,
    Transfer,
    TransferReversal,
    Refund,
    ApplicationFeeRefund,
    Dispute,
    Payout,
    AccountDebit,
    /// Pending funds becoming available.
    Release,
}

/// What the caller says about one holder's side of an entry.
#[derive(Clone, Debug)]
pub struct LineSpec {
    pub holder: Holder,
    pub transaction_type: BalanceTransactionType,
    /// The object that caused it: ch_…, py_…, tr_…, po_…, re_…, tu_…
    pub source_id: String,
    pub currency: Currency,
    /// Gross: positive adds to the holder's balance, negative takes from it.
    pub amount: MinorUnits,
    pub fee_details: Vec<FeeDetail>,
    /// When the line's net moves from pending to available; `None` means available at once.
    pub available_on: Option<DateTime<Utc>>,
    pub description: Option<String>,
}

/// One holder's side of an entry; it becomes that holder's balance transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub balance_transaction: BalanceTransactionId,
    pub holder: Holder,
    pub transaction_type: BalanceTransactionType,
    pub source_id: String,
    pub currency: Currency,
    pub amount: MinorUnits,
    pub fee: MinorUnits,
    pub net: MinorUnits,
    pub fee_details: Vec<FeeDetail>,
    pub bucket: Bucket,
    pub available_on: DateTime<Utc>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub account: LedgerAccount,
    pub amount: MinorUnits,
}

/// An immutable journal entry. Its postings sum to zero in each currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: EntryId,
    pub platform: PlatformId,
    pub kind: EntryKind,
    pub source_id: String,
    pub created: DateTime<Utc>,
    pub lines: Vec<Line>,
    /// Postings that carry no balance transaction: system holders, and bucket moves.
    pub other_postings: Vec<Posting>,
}

impl Entry {
    /// Every posting of the entry: one per line (its net, in its bucket) and the others.
    pub fn postings(&self) -> impl Iterator<Item = Posting> + '_ {
        self.lines
            .iter()
            .map(|line| Posting {
                account: LedgerAccount::new(line.holder.clone(), line.currency, line.bucket),
                amount: line.net,
            })
            .chain(self.other_postings.iter().cloned())
    }

    /// The zero-sum check: every currency's postings sum to zero.
    pub fn check_balanced(&self) -> Result<(), LedgerError> {
        let mut sums: BTreeMap<Currency, MinorUnits> = BTreeMap::new();
        let mut count = 0usize;
        for posting in self.postings() {
            count += 1;
            let sum = sums.entry(posting.account.currency).or_default();
            *sum = sum.checked_add(posting.amount)?;
        }
        if count == 0 {
            return Err(LedgerError::Empty(self.id.to_string()));
        }
        if let Some((currency, sum)) = sums.iter().find(|(_, sum)| !sum.is_zero()) {
            return Err(LedgerError::Unbalanced {
                entry: self.id.to_string(),
                currency: currency.code().to_owned(),
                sum: sum.get(),
            });
        }
        Ok(())
    }
}

/// Builds an entry line by line; `build` checks it balances.
pub struct EntryBuilder<'a> {
    ids: &'a IdGenerator,
    now: DateTime<Utc>,
    entry: Entry,
}

impl<'a> EntryBuilder<'a> {
    pub fn new(
        ids: &'a IdGenerator,
        platform: &PlatformId,
        kind: EntryKind,
        source_id: &str,
        now: DateTime<Utc>,
    ) -> EntryBuilder<'a> {
        EntryBuilder {
            ids,
            now,
            entry: Entry {
                id: ids.next(),
                platform: platform.clone(),
                kind,
                source_id: source_id.to_owned(),
                created: now,
                lines: Vec::new(),
                other_postings: Vec::new(),
            },
        }
    }

    /// Adds a holder's line; returns the id its balance transaction will have.
    pub fn line(&mut self, spec: LineSpec) -> Result<BalanceTransactionId, LedgerError> {
        let fee = spec
            .fee_details
            .iter()
            .try_fold(MinorUnits::ZERO, |sum, detail| {
                sum.checked_add(detail.amount)
            })?;
        let net = spec.amount.checked_sub(fee)?;
        let (bucket, available_on) = match spec.available_on {
            Some(date) if date > self.now => (Bucket::Pending, date),
            Some(_) | None => (Bucket::Available, self.now),
        };
        let id: BalanceTransactionId = self.ids.next();
        self.entry.lines.push(Line {
            balance_transaction: id.clone(),
            holder: spec.holder,
            transaction_type: spec.transaction_type,
            source_id: spec.source_id,
            currency: spec.currency,
            amount: spec.amount,
            fee,
            net,
            fee_details: spec.fee_details,
            bucket,
            available_on,
            description: spec.description,
        });
        Ok(id)
    }

    /// A system holder's side (gateway, card network, bank): always in `available`.
    pub fn system(&mut self, holder: Holder, currency: Currency, amount: MinorUnits) {
        self.entry.other_postings.push(Posting {
            account: LedgerAccount::new(holder, currency, Bucket::Available),
            amount,
        });
    }

    /// Moves a holder's money between buckets (pending → available on release).
    pub fn move_between_buckets(
        &mut self,
        holder: &Holder,
        currency: Currency,
        amount: MinorUnits,
        from: Bucket,
        to: Bucket,
    ) {
        self.entry.other_postings.push(Posting {
            account: LedgerAccount::new(holder.clone(), currency, from),
            amount: -amount,
        });
        self.entry.other_postings.push(Posting {
            account: LedgerAccount::new(holder.clone(), currency, to),
            amount,
        });
    }

    pub fn build(self) -> Result<Entry, LedgerError> {
        let count = self.entry.lines.len() + self.entry.other_postings.len();
        if count > MAX_POSTINGS_PER_ENTRY {
            return Err(LedgerError::Arithmetic(MoneyError::Overflow));
        }
        self.entry.check_balanced()?;
        Ok(self.entry)
    }
}

impl Line {
    pub fn holder_key(&self) -> String {
        self.holder.as_str().to_owned()
    }

    pub fn id(&self) -> &str {
        self.balance_transaction.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("usd").expect("usd")
    }

    fn minor(value: i64) -> MinorUnits {
        MinorUnits::new(value).expect("minor")
    }

    #[test]
    fn a_topup_balances_and_lands_pending() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let now = Utc::now();
        let mut builder = EntryBuilder::new(&ids, &platform, EntryKind::Topup, "tu_x", now);
        builder
            .line(LineSpec {
                holder: Holder::Platform(platform.clone()),
                transaction_type: BalanceTransactionType::Topup,
                source_id: "tu_x".into(),
                currency: usd(),
                amount: minor(5000),
                fee_details: vec![],
                available_on: Some(now + chrono::Duration::days(2)),
                description: None,
            })
            .expect("line");
        builder.system(Holder::Bank, usd(), minor(-5000));
        let entry = builder.build().expect("balanced");
        assert_eq!(entry.lines[0].bucket, Bucket::Pending);
        assert_eq!(entry.postings().count(), 2);
    }

    #[test]
    fn an_unbalanced_entry_is_refused() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let mut builder = EntryBuilder::new(&ids, &platform, EntryKind::Topup, "tu_x", Utc::now());
        builder.system(Holder::Bank, usd(), minor(-5000));
        builder.system(Holder::Gateway, usd(), minor(4999));
        assert!(matches!(
            builder.build(),
            Err(LedgerError::Unbalanced { sum: -1, .. })
        ));
    }

    #[test]
    fn fees_come_out_of_the_line_net() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let now = Utc::now();
        let mut builder = EntryBuilder::new(&ids, &platform, EntryKind::Charge, "ch_x", now);
        builder
            .line(LineSpec {
                holder: Holder::Platform(platform.clone()),
                transaction_type: BalanceTransactionType::Charge,
                source_id: "ch_x".into(),
                currency: usd(),
                amount: minor(10000),
                fee_details: vec![FeeDetail {
                    fee_type: FeeType::ProcessingFee,
                    amount: minor(320),
                    description: None,
                }],
                available_on: None,
                description: None,
            })
            .expect("line");
        builder.system(Holder::CardNetwork, usd(), minor(-10000));
        builder.system(Holder::Gateway, usd(), minor(320));
        let entry = builder.build().expect("balanced");
        assert_eq!(entry.lines[0].fee, minor(320));
        assert_eq!(entry.lines[0].net, minor(9680));
        assert_eq!(entry.lines[0].bucket, Bucket::Available);
    }
}
