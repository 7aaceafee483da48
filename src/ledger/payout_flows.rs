//! The fund flows of a payout, as ledger lines: money leaves a holder's available balance for
//! the bank, with an instant payout's fees going to the gateway and the platform; a failed or
//! canceled payout brings the amount back from the bank.
//!
//! Instant payout of 10000 with a gateway fee of 150 and a platform fee of 100:
//! account PAYOUT −10000 (fees 150 + 100, net −10250), platform APPLICATION_FEE +100,
//! bank +10000, gateway +150.

use super::{
    BalanceTransactionType, EntryBuilder, FeeDetail, FeeType, Holder, LedgerError, LineSpec,
};
use crate::ids::{BalanceTransactionId, PlatformId};
use crate::money::{Currency, MinorUnits};

/// What the gateway's fee detail says.
pub const GATEWAY_INSTANT_FEE_DESCRIPTION: &str = "Instant payout fee (gateway)";
/// What the platform's fee detail says.
pub const PLATFORM_INSTANT_FEE_DESCRIPTION: &str = "Instant payout fee (platform)";

#[derive(Clone, Debug)]
pub struct PayoutMovement {
    /// Whose balance pays: a connected account or the platform.
    pub holder: Holder,
    pub platform: PlatformId,
    pub payout_id: String,
    pub currency: Currency,
    /// What reaches the destination.
    pub amount: MinorUnits,
    pub gateway_fee: MinorUnits,
    pub platform_fee: MinorUnits,
    pub description: Option<String>,
}

impl PayoutMovement {
    /// The fee details of the holder's PAYOUT line: one per non-zero fee.
    pub fn fee_details(&self) -> Vec<FeeDetail> {
        [
            (self.gateway_fee, GATEWAY_INSTANT_FEE_DESCRIPTION),
            (self.platform_fee, PLATFORM_INSTANT_FEE_DESCRIPTION),
        ]
        .into_iter()
        .filter(|(amount, _)| !amount.is_zero())
        .map(|(amount, description)| FeeDetail {
            fee_type: FeeType::InstantPayoutFee,
            amount,
            description: Some(description.to_owned()),
        })
        .collect()
    }
}

/// The holder's PAYOUT line (amount plus fees out of available), the platform's fee, and the
/// bank's and gateway's sides. Returns the holder's balance transaction.
pub fn payout_lines(
    entry: &mut EntryBuilder<'_>,
    movement: &PayoutMovement,
) -> Result<BalanceTransactionId, LedgerError> {
    let payout_line = entry.line(LineSpec {
        holder: movement.holder.clone(),
        transaction_type: BalanceTransactionType::Payout,
        source_id: movement.payout_id.clone(),
        currency: movement.currency,
        amount: -movement.amount,
        fee_details: movement.fee_details(),
        available_on: None,
        description: movement.description.clone(),
    })?;
    if !movement.platform_fee.is_zero() {
        entry.line(LineSpec {
            holder: Holder::Platform(movement.platform.clone()),
            transaction_type: BalanceTransactionType::ApplicationFee,
            source_id: movement.payout_id.clone(),
            currency: movement.currency,
            amount: movement.platform_fee,
            fee_details: Vec::new(),
            available_on: None,
            description: Some(PLATFORM_INSTANT_FEE_DESCRIPTION.to_owned()),
        })?;
    }
    entry.system(Holder::Bank, movement.currency, movement.amount);
    if !movement.gateway_fee.is_zero() {
        entry.system(Holder::Gateway, movement.currency, movement.gateway_fee);
    }
    Ok(payout_line)
}

/// Why a payout's amount comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayoutReturn {
    Failure,
    Cancel,
}

/// The amount of a failed or canceled payout back from the bank into the holder's available
/// balance. Fees are not returned (only standard payouts fail or are canceled, and they have
/// none).
pub fn payout_return_lines(
    entry: &mut EntryBuilder<'_>,
    holder: &Holder,
    payout_id: &str,
    currency: Currency,
    amount: MinorUnits,
    reason: PayoutReturn,
    description: Option<String>,
) -> Result<BalanceTransactionId, LedgerError> {
    let transaction_type = match reason {
        PayoutReturn::Failure => BalanceTransactionType::PayoutFailure,
        PayoutReturn::Cancel => BalanceTransactionType::PayoutCancel,
    };
    let line = entry.line(LineSpec {
        holder: holder.clone(),
        transaction_type,
        source_id: payout_id.to_owned(),
        currency,
        amount,
        fee_details: Vec::new(),
        available_on: None,
        description,
    })?;
    entry.system(Holder::Bank, currency, -amount);
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, IdGenerator};
    use crate::ledger::{Bucket, EntryKind};
    use chrono::Utc;

    fn minor(value: i64) -> MinorUnits {
        MinorUnits::new(value).expect("minor")
    }

    #[test]
    fn an_instant_payout_pays_both_fees_from_the_account() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let account: AccountId = ids.next();
        let usd = Currency::parse("usd").expect("usd");
        let movement = PayoutMovement {
            holder: Holder::Account(account.clone()),
            platform: platform.clone(),
            payout_id: "po_x".into(),
            currency: usd,
            amount: minor(10000),
            gateway_fee: minor(150),
            platform_fee: minor(100),
            description: None,
        };
        let mut entry = EntryBuilder::new(&ids, &platform, EntryKind::Payout, "po_x", Utc::now());
        payout_lines(&mut entry, &movement).expect("lines");
        let entry = entry.build().expect("balanced");
        assert_eq!(entry.lines[0].net, minor(-10250));
        assert_eq!(entry.lines[0].fee, minor(250));
        assert_eq!(entry.lines[0].bucket, Bucket::Available);
        assert_eq!(entry.lines[1].net, minor(100));
        let bank: i64 = entry
            .postings()
            .filter(|posting| posting.account.holder == Holder::Bank)
            .map(|posting| posting.amount.get())
            .sum();
        assert_eq!(bank, 10000);
    }

    #[test]
    fn a_failed_payout_comes_back_in_full() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let holder = Holder::Platform(platform.clone());
        let usd = Currency::parse("usd").expect("usd");
        let mut entry = EntryBuilder::new(&ids, &platform, EntryKind::Payout, "po_x", Utc::now());
        payout_return_lines(
            &mut entry,
            &holder,
            "po_x",
            usd,
            minor(700),
            PayoutReturn::Failure,
            None,
        )
        .expect("lines");
        let entry = entry.build().expect("balanced");
        assert_eq!(
            entry.lines[0].transaction_type,
            BalanceTransactionType::PayoutFailure
        );
        assert_eq!(entry.lines[0].net, minor(700));
    }
}
