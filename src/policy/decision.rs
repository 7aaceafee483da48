//! A charge's whole policy decision (fees, splits, hold, fee payer), computed from one version of each policy, with no I/O.

use super::error::{PolicyError, PolicySite};
use super::facts::{ChargeFacts, ChargeFlow, PreparedCharge};
use super::loaded::{Hook, LoadedPolicy};
use super::outcome::{fee_out_of_range, FeeCeiling};
use super::results::{FeePayer, Split, SplitDirectory};
use crate::money::MinorUnits;

/// A charge about to be created, as the policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub facts: ChargeFacts,
    /// `applicationFeeAmount` when the request gives one; it wins over the policy.
    pub requested_application_fee: Option<MinorUnits>,
    /// Whether the request has `transferData`; `route` runs only for separate charges without it.
    pub has_transfer_data: bool,
}

/// Everything the policies decided about one charge, and which versions decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDecision {
    pub policy_name: String,
    pub policy_version: String,
    pub gateway_version: String,
    /// The gateway's fee (gateway.rhai `processing_fee`).
    pub processing_fee: MinorUnits,
    pub application_fee: MinorUnits,
    pub application_fee_from_request: bool,
    /// Transfers for a separate charge (from `route`); empty for other charges.
    pub splits: Vec<Split>,
    pub hold_days: u32,
    /// Only for direct charges; `None` means the default for the account's type.
    pub processing_fee_payer: Option<FeePayer>,
}

/// Prices a charge with the gateway policy and the platform's policy. The caller clones
/// each `Arc<LoadedPolicy>` once, so the whole decision comes from one version of each.
pub fn decide_charge(
    gateway: &LoadedPolicy,
    policy: &LoadedPolicy,
    request: &ChargeRequest,
    directory: &dyn SplitDirectory,
) -> Result<PolicyDecision, PolicyError> {
    let facts = &request.facts;
    let charge = PreparedCharge::new(facts);
    let processing_fee = gateway.processing_fee(&charge)?;
    let (application_fee, application_fee_from_request) = match request.requested_application_fee {
        Some(requested) => (
            checked_requested_fee(policy, requested, facts.amount)?,
            true,
        ),
        // Application fees belong to direct and destination charges; a separate charge's
        // platform share is whatever `route` does not transfer.
        None if facts.flow == ChargeFlow::Separate => (MinorUnits::ZERO, false),
        None => (policy.application_fee(&charge)?, false),
    };
    let splits = if facts.flow == ChargeFlow::Separate && !request.has_transfer_data {
        policy.route(&charge, directory)?
    } else {
        Vec::new()
    };
    let processing_fee_payer = if facts.flow == ChargeFlow::Direct {
        policy.processing_fee_payer(&charge)?
    } else {
        None
    };
    let hold_days = policy.hold_days(&charge)?;
    Ok(PolicyDecision {
        policy_name: policy.name().to_string(),
        policy_version: policy.version().to_string(),
        gateway_version: gateway.version().to_string(),
        processing_fee,
        application_fee,
        application_fee_from_request,
        splits,
        hold_days,
        processing_fee_payer,
    })
}

/// The requested fee obeys the same bounds as the hook's result: 0 ≤ fee ≤ amount.
fn checked_requested_fee(
    policy: &LoadedPolicy,
    requested: MinorUnits,
    amount: MinorUnits,
) -> Result<MinorUnits, PolicyError> {
    match fee_out_of_range(requested, FeeCeiling::ChargeAmount(amount)) {
        None => Ok(requested),
        Some(reason) => Err(PolicyError::RequestedFeeInvalid {
            site: PolicySite {
                hook: Some(Hook::ApplicationFee),
                ..PolicySite::file(policy.file_name())
            },
            message: format!("the requested application fee {requested} is {reason}"),
        }),
    }
}
