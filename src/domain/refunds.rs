//! Refunds of charges and the rule that shares an application fee or a transfer out in
//! proportion to the amount refunded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{
    ApplicationFeeId, BalanceTransactionId, ChargeId, FeeRefundId, RefundId, TransferId,
    TransferReversalId,
};
use crate::money::{proportion, Currency, MinorUnits, MoneyError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundReason {
    Duplicate,
    Fraudulent,
    RequestedByCustomer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

/// A transfer reversed with a refund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversalOfTransfer {
    pub transfer: TransferId,
    pub reversal: TransferReversalId,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Refund {
    pub id: RefundId,
    pub charge: ChargeId,
    pub currency: Currency,
    pub amount: MinorUnits,
    pub status: RefundStatus,
    pub reason: Option<RefundReason>,
    /// The application fee refunded with it, and that refund.
    pub application_fee: Option<ApplicationFeeId>,
    pub application_fee_refund: Option<FeeRefundId>,
    /// The transfers reversed with it (one for a destination charge).
    pub transfer_reversals: Vec<ReversalOfTransfer>,
    /// The refund's balance transaction on whoever the money comes back from; none when
    /// an authorization was released.
    pub balance_transaction: Option<BalanceTransactionId>,
    pub created: DateTime<Utc>,
}

/// A stored application fee refund points at its fee, so it can be read back by its id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FeeRefundRecord {
    pub fee: ApplicationFeeId,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRuleError {
    #[error("the amount {requested} is more than what is left to refund: {left}")]
    AboveWhatIsLeft {
        requested: MinorUnits,
        left: MinorUnits,
    },
    #[error("nothing is left to refund")]
    NothingLeft,
    #[error("an authorization is released whole: refund {authorized}, or leave the amount out")]
    PartialRelease { authorized: MinorUnits },
}

/// The amount to refund: the one asked for, or all that is left; never zero or more than
/// what is left.
pub fn refund_amount(
    requested: Option<MinorUnits>,
    left: MinorUnits,
) -> Result<MinorUnits, RefundRuleError> {
    if left <= MinorUnits::ZERO {
        return Err(RefundRuleError::NothingLeft);
    }
    match requested {
        None => Ok(left),
        Some(requested) if requested > left || requested <= MinorUnits::ZERO => {
            Err(RefundRuleError::AboveWhatIsLeft { requested, left })
        }
        Some(requested) => Ok(requested),
    }
}

/// The part of `total` that goes with `part` of `whole`: in proportion, rounded once, never
/// more than `total_left`; all of `total_left` when nothing of `whole` remains after
/// `part` (the last refund), so the shares always sum exactly to `total`.
pub fn share_in_proportion(
    total: MinorUnits,
    total_left: MinorUnits,
    part: MinorUnits,
    whole: MinorUnits,
    whole_left_after: MinorUnits,
) -> Result<MinorUnits, MoneyError> {
    if whole_left_after <= MinorUnits::ZERO {
        return Ok(total_left.max(MinorUnits::ZERO));
    }
    Ok(proportion(total, part, whole)?
        .min(total_left)
        .max(MinorUnits::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor(value: i64) -> MinorUnits {
        MinorUnits::new(value).expect("minor")
    }

    #[test]
    fn amounts_default_to_what_is_left_and_never_exceed_it() {
        assert_eq!(refund_amount(None, minor(700)), Ok(minor(700)));
        assert_eq!(refund_amount(Some(minor(300)), minor(700)), Ok(minor(300)));
        assert_eq!(
            refund_amount(Some(minor(701)), minor(700)),
            Err(RefundRuleError::AboveWhatIsLeft {
                requested: minor(701),
                left: minor(700)
            })
        );
        assert_eq!(
            refund_amount(None, MinorUnits::ZERO),
            Err(RefundRuleError::NothingLeft)
        );
    }

    #[test]
    fn shares_of_three_partial_refunds_sum_to_the_total() {
        // A fee of 100 on 999, refunded in three parts of 333: 33, 33, then the 34 left.
        let (total, whole) = (minor(100), minor(999));
        let mut total_left = total;
        let mut whole_left = whole;
        let mut shares = Vec::new();
        for _ in 0..3 {
            whole_left = whole_left.checked_sub(minor(333)).expect("sub");
            let share = share_in_proportion(total, total_left, minor(333), whole, whole_left)
                .expect("share");
            total_left = total_left.checked_sub(share).expect("sub");
            shares.push(share.get());
        }
        assert_eq!(shares, vec![33, 33, 34]);
    }

    #[test]
    fn the_design_example_returns_half_the_fee() {
        let share = share_in_proportion(
            minor(1000),
            minor(1000),
            minor(1500),
            minor(2000),
            minor(500),
        )
        .expect("share");
        assert_eq!(share, minor(750));
    }
}
