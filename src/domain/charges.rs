//! Charges, application fees and transfers as stored, and the rules on their amounts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::charge_facts::RecordedChargeFacts;
use crate::ids::{
    AccountId, ApplicationFeeId, BalanceTransactionId, ChargeId, DisputeId, FeeRefundId, PaymentId,
    RefundId, TransferId, TransferReversalId,
};
use crate::money::{Currency, MinorUnits, Money};

/// How long an uncaptured charge stays authorized.
pub const AUTHORIZATION_VALID_DAYS: i64 = 7;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChargeFlowKind {
    Direct,
    Destination,
    Separate,
}

impl ChargeFlowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeFlowKind::Direct => "direct",
            ChargeFlowKind::Destination => "destination",
            ChargeFlowKind::Separate => "separate",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChargeStatus {
    Pending,
    Succeeded,
    Failed,
}

/// One routed transfer decided by the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedSplit {
    pub destination: AccountId,
    pub amount: MinorUnits,
}

/// What the policies decided for a charge, and which versions decided it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pricing {
    pub policy: String,
    pub version: String,
    pub gateway_version: String,
    pub processing_fee: MinorUnits,
    /// `None` when the charge has no application fee (a transfer amount, or a separate charge).
    pub application_fee: Option<MinorUnits>,
    pub application_fee_from_request: bool,
    pub splits: Vec<PricedSplit>,
    pub hold_days: u32,
    /// Direct charges only: whether the platform pays the processing fee.
    pub platform_pays_processing_fee: bool,
    /// The facts the hooks were given. `None` on charges priced before facts were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<RecordedChargeFacts>,
}

/// The application fee a charge carries once its policy has decided `decided_fee`: a
/// transfer amount replaces the application fee, and a separate charge has none (its
/// platform share is what `route` does not transfer).
pub fn charged_application_fee(
    flow: ChargeFlowKind,
    has_transfer_amount: bool,
    decided_fee: MinorUnits,
) -> Option<MinorUnits> {
    match flow {
        ChargeFlowKind::Destination if has_transfer_amount => None,
        ChargeFlowKind::Separate => None,
        ChargeFlowKind::Direct | ChargeFlowKind::Destination => Some(decided_fee),
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Charge {
    pub id: ChargeId,
    pub flow: ChargeFlowKind,
    pub status: ChargeStatus,
    pub currency: Currency,
    pub amount: MinorUnits,
    pub amount_captured: MinorUnits,
    pub amount_refunded: MinorUnits,
    pub captured: bool,
    pub disputed: bool,
    pub payment_method: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// The connected account a direct charge is on.
    pub account: Option<AccountId>,
    pub on_behalf_of: Option<AccountId>,
    pub destination: Option<AccountId>,
    /// `transferData.amount`, when the request gave one.
    pub transfer_amount: Option<MinorUnits>,
    pub application_fee: Option<ApplicationFeeId>,
    pub pricing: Pricing,
    pub transfers: Vec<TransferId>,
    pub transfer_group: Option<String>,
    pub refunds: Vec<RefundId>,
    pub dispute: Option<DisputeId>,
    pub balance_transaction: Option<BalanceTransactionId>,
    /// A destination charge's payment on the destination account.
    pub destination_payment: Option<PaymentId>,
    /// When the charge's funds become available.
    pub available_on: Option<DateTime<Utc>>,
    /// How much of the charge transfers with `sourceTransaction` have drawn.
    pub amount_transferred: MinorUnits,
    /// When an uncaptured authorization lapses.
    pub authorization_expires_at: Option<DateTime<Utc>>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created: DateTime<Utc>,
}

impl Charge {
    pub fn money(&self, amount: MinorUnits) -> Money {
        Money::new(amount, self.currency)
    }

    /// Wholly refunded: every captured unit returned, or an authorization released.
    pub fn refunded(&self) -> bool {
        let refundable = if self.captured {
            self.amount_captured
        } else {
            self.amount
        };
        !refundable.is_zero() && self.amount_refunded == refundable
    }

    /// What transfers with this charge as their source may still draw.
    pub fn transferable(&self) -> MinorUnits {
        self.amount_captured
            .checked_sub(self.amount_transferred)
            .unwrap_or(MinorUnits::ZERO)
            .max(MinorUnits::ZERO)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApplicationFee {
    pub id: ApplicationFeeId,
    pub currency: Currency,
    pub amount: MinorUnits,
    pub amount_refunded: MinorUnits,
    /// The connected account the fee was taken from.
    pub account: AccountId,
    pub charge: ChargeId,
    pub refunds: Vec<FeeRefund>,
    pub balance_transaction: Option<BalanceTransactionId>,
    pub created: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FeeRefund {
    pub id: FeeRefundId,
    pub amount: MinorUnits,
    pub created: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Transfer {
    pub id: TransferId,
    pub currency: Currency,
    pub amount: MinorUnits,
    pub amount_reversed: MinorUnits,
    pub destination: AccountId,
    /// The payment the transfer created on the destination.
    pub destination_payment: PaymentId,
    pub source_charge: Option<ChargeId>,
    /// Whether the transfer belongs to a destination charge.
    pub for_destination_charge: bool,
    pub transfer_group: Option<String>,
    pub reversals: Vec<TransferReversal>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub available_on: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
}

impl Transfer {
    pub fn reversible(&self) -> MinorUnits {
        self.amount
            .checked_sub(self.amount_reversed)
            .unwrap_or(MinorUnits::ZERO)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TransferReversal {
    pub id: TransferReversalId,
    pub amount: MinorUnits,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargeRuleError {
    #[error("the application fee {fee} is more than the charge amount {amount}")]
    FeeAboveAmount { fee: MinorUnits, amount: MinorUnits },
    #[error("transferData.amount {transfer} is more than the charge amount {amount}")]
    TransferAboveAmount {
        transfer: MinorUnits,
        amount: MinorUnits,
    },
    #[error("give either applicationFeeAmount or transferData.amount, not both")]
    FeeAndTransferAmount,
    #[error(
        "a charge with a Connect-Account header is a direct charge and cannot have transferData"
    )]
    DirectWithTransferData,
}

/// The amounts a charge request may combine.
pub fn check_amounts(
    amount: MinorUnits,
    application_fee: Option<MinorUnits>,
    transfer_amount: Option<MinorUnits>,
) -> Result<(), ChargeRuleError> {
    if application_fee.is_some() && transfer_amount.is_some() {
        return Err(ChargeRuleError::FeeAndTransferAmount);
    }
    if let Some(fee) = application_fee.filter(|fee| *fee > amount) {
        return Err(ChargeRuleError::FeeAboveAmount { fee, amount });
    }
    if let Some(transfer) = transfer_amount.filter(|transfer| *transfer > amount) {
        return Err(ChargeRuleError::TransferAboveAmount { transfer, amount });
    }
    Ok(())
}
