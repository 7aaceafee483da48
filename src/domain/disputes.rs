//! Disputes (chargebacks): their statuses, the evidence deadline, and the transitions
//! evidence and the card network's decision make.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, BalanceTransactionId, ChargeId, DisputeId};
use crate::money::{Currency, MinorUnits};

/// How long the platform has to respond with evidence.
pub const EVIDENCE_DUE_DAYS: i64 = 7;
/// The reason of the test card's disputes (pm_card_createDispute).
pub const REASON_FRAUDULENT: &str = "fraudulent";
/// The longest evidence text accepted.
pub const MAX_EVIDENCE_CHARS: usize = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DisputeStatus {
    NeedsResponse,
    UnderReview,
    Won,
    Lost,
}

impl DisputeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::NeedsResponse => "NEEDS_RESPONSE",
            DisputeStatus::UnderReview => "UNDER_REVIEW",
            DisputeStatus::Won => "WON",
            DisputeStatus::Lost => "LOST",
        }
    }

    pub fn is_closed(self) -> bool {
        matches!(self, DisputeStatus::Won | DisputeStatus::Lost)
    }
}

/// The card network's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DisputeOutcome {
    Won,
    Lost,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dispute {
    pub id: DisputeId,
    pub charge: ChargeId,
    pub currency: Currency,
    /// The disputed amount, withdrawn at once and returned if the dispute is won.
    pub amount: MinorUnits,
    /// The gateway's dispute fee, never returned.
    pub fee: MinorUnits,
    pub status: DisputeStatus,
    pub reason: String,
    pub evidence: Option<String>,
    pub evidence_due_by: DateTime<Utc>,
    /// Who bears the dispute: the connected account of a direct charge, else the platform.
    pub account: Option<AccountId>,
    /// The withdrawal, then the reinstatement if won.
    pub balance_transactions: Vec<BalanceTransactionId>,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisputeRuleError {
    #[error("the dispute is closed ({status}); it takes no more evidence")]
    EvidenceOnClosed { status: &'static str },
    #[error("the dispute is already closed ({status})")]
    AlreadyClosed { status: &'static str },
    #[error("evidence must be 1 to {MAX_EVIDENCE_CHARS} characters")]
    EvidenceLength,
}

impl Dispute {
    /// Evidence puts an open dispute under review; a later submission replaces it.
    pub fn submit_evidence(&mut self, evidence: &str) -> Result<(), DisputeRuleError> {
        if self.status.is_closed() {
            return Err(DisputeRuleError::EvidenceOnClosed {
                status: self.status.as_str(),
            });
        }
        let length = evidence.chars().count();
        if evidence.trim().is_empty() || length > MAX_EVIDENCE_CHARS {
            return Err(DisputeRuleError::EvidenceLength);
        }
        self.evidence = Some(evidence.to_owned());
        self.status = DisputeStatus::UnderReview;
        Ok(())
    }

    /// The network's decision closes an open dispute, once.
    pub fn close(&mut self, outcome: DisputeOutcome) -> Result<(), DisputeRuleError> {
        if self.status.is_closed() {
            return Err(DisputeRuleError::AlreadyClosed {
                status: self.status.as_str(),
            });
        }
        self.status = match outcome {
            DisputeOutcome::Won => DisputeStatus::Won,
            DisputeOutcome::Lost => DisputeStatus::Lost,
        };
        Ok(())
    }

    /// No response by the deadline loses the dispute; one under review waits for the network.
    pub fn on_deadline(&mut self, now: DateTime<Utc>) -> bool {
        if self.status == DisputeStatus::NeedsResponse && now >= self.evidence_due_by {
            self.status = DisputeStatus::Lost;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGenerator;

    fn dispute() -> Dispute {
        let ids = IdGenerator::new();
        let now = Utc::now();
        Dispute {
            id: ids.next(),
            charge: ids.next(),
            currency: Currency::parse("usd").expect("usd"),
            amount: MinorUnits::new(1000).expect("amount"),
            fee: MinorUnits::new(1500).expect("fee"),
            status: DisputeStatus::NeedsResponse,
            reason: REASON_FRAUDULENT.to_owned(),
            evidence: None,
            evidence_due_by: now + chrono::Duration::days(EVIDENCE_DUE_DAYS),
            account: None,
            balance_transactions: Vec::new(),
            created: now,
        }
    }

    #[test]
    fn evidence_then_a_decision_then_nothing_more() {
        let mut dispute = dispute();
        assert_eq!(dispute.submit_evidence("receipt"), Ok(()));
        assert_eq!(dispute.status, DisputeStatus::UnderReview);
        assert_eq!(dispute.close(DisputeOutcome::Won), Ok(()));
        assert_eq!(
            dispute.close(DisputeOutcome::Lost),
            Err(DisputeRuleError::AlreadyClosed { status: "WON" })
        );
        assert_eq!(
            dispute.submit_evidence("late"),
            Err(DisputeRuleError::EvidenceOnClosed { status: "WON" })
        );
    }

    #[test]
    fn the_deadline_loses_only_an_unanswered_dispute() {
        let mut unanswered = dispute();
        let due = unanswered.evidence_due_by;
        assert!(!unanswered.on_deadline(due - chrono::Duration::seconds(1)));
        assert!(unanswered.on_deadline(due));
        assert_eq!(unanswered.status, DisputeStatus::Lost);
        let mut answered = dispute();
        answered.submit_evidence("receipt").expect("evidence");
        assert!(!answered.on_deadline(due));
        assert_eq!(answered.status, DisputeStatus::UnderReview);
    }

    #[test]
    fn empty_evidence_is_refused() {
        assert_eq!(
            dispute().submit_evidence("  "),
            Err(DisputeRuleError::EvidenceLength)
        );
    }
}
