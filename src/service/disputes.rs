//! Disputes: opened right after a disputed card's charge succeeds, the amount and the
//! dispute fee withdrawn at once from whoever bears the charge; evidence; the network's
//! decision (WON returns the amount, not the fee); and the evidence deadline.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::draft::TIMER_DISPUTE_DEADLINE;
use super::idempotency::{self, Prepared};
use super::pricing::PricedCharge;
use super::{Caller, Draft, ServiceError, Services};
use crate::domain::charges::{Charge, ChargeFlowKind};
use crate::domain::disputes::{
    Dispute, DisputeOutcome, DisputeRuleError, DisputeStatus, EVIDENCE_DUE_DAYS, REASON_FRAUDULENT,
};
use crate::ids::{DisputeId, PlatformId};
use crate::ledger::{
    BalanceTransactionType, EntryBuilder, EntryKind, FeeDetail, FeeType, Holder, LineSpec,
};
use crate::money::MinorUnits;
use crate::store::{from_payload, to_payload, Condition, Key};

/// A timer's payload: the dispute whose evidence is due.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DisputeDeadlineTimer {
    pub dispute: String,
}

/// A parsed `submitDisputeEvidence` input.
#[derive(Debug, Clone, Serialize)]
pub struct DisputeEvidence {
    pub dispute: DisputeId,
    pub evidence: String,
}

/// A parsed `closeDispute` input.
#[derive(Debug, Clone, Serialize)]
pub struct DisputeDecision {
    pub dispute: DisputeId,
    pub outcome: DisputeOutcome,
}

fn status_index(status: DisputeStatus) -> String {
    format!("disputes_status:{}", status.as_str())
}

fn deadline_key(platform: &str, dispute: &Dispute) -> Key {
    Key::timer(
        dispute.evidence_due_by.timestamp_micros(),
        TIMER_DISPUTE_DEADLINE,
        platform,
        dispute.id.as_ref(),
    )
}

fn ledger_error(error: crate::ledger::LedgerError) -> ServiceError {
    ServiceError::internal("dispute entry", error)
}

/// Who bears a charge's dispute: the connected account of a direct charge, else the platform.
fn bearer(platform: &PlatformId, dispute: &Dispute) -> Holder {
    match &dispute.account {
        Some(account) => Holder::Account(account.clone()),
        None => Holder::Platform(platform.clone()),
    }
}

fn dispute_line(
    holder: Holder,
    dispute: &Dispute,
    transaction_type: BalanceTransactionType,
    amount: MinorUnits,
    fee_details: Vec<FeeDetail>,
) -> LineSpec {
    LineSpec {
        holder,
        transaction_type,
        source_id: dispute.id.to_string(),
        currency: dispute.currency,
        amount,
        fee_details,
        available_on: None,
        description: None,
    }
}

impl Services {
    pub fn dispute(&self, caller: &Caller, id: &str) -> Result<Dispute, ServiceError> {
        self.find::<Dispute>(caller, id)?
            .map(|found| found.value)
            .ok_or_else(|| ServiceError::not_found("id", "dispute", id))
    }

    /// The disputes listed under `status`, or all of them.
    pub fn dispute_index(status: Option<DisputeStatus>) -> String {
        status.map_or_else(|| "disputes".to_owned(), status_index)
    }

    /// Opens the dispute of a just-captured charge in the same draft: the amount captured
    /// and the gateway's dispute fee are withdrawn from the bearer's available balance.
    /// The `charge.dispute.created` event is left to [`Services::dispute_created`], so it
    /// follows the charge's own event.
    fn open_dispute(
        &self,
        draft: &mut Draft,
        charge: &mut Charge,
        fee: MinorUnits,
    ) -> Result<Dispute, ServiceError> {
        let platform = draft
            .commit
            .platform
            .clone()
            .ok_or_else(|| ServiceError::internal("dispute", "no platform"))?;
        let now = draft.now();
        let mut dispute = Dispute {
            id: self.ids.next(),
            charge: charge.id.clone(),
            currency: charge.currency,
            amount: charge.amount_captured,
            fee,
            status: DisputeStatus::NeedsResponse,
            reason: REASON_FRAUDULENT.to_owned(),
            evidence: None,
            evidence_due_by: now + Duration::days(EVIDENCE_DUE_DAYS),
            account: match charge.flow {
                ChargeFlowKind::Direct => charge.account.clone(),
                ChargeFlowKind::Destination | ChargeFlowKind::Separate => None,
            },
            balance_transactions: Vec::new(),
            created: now,
        };
        let mut entry = EntryBuilder::new(
            &self.ids,
            &platform,
            EntryKind::Dispute,
            dispute.id.as_ref(),
            now,
        );
        let fee_details = if fee.is_zero() {
            Vec::new()
        } else {
            vec![FeeDetail {
                fee_type: FeeType::DisputeFee,
                amount: fee,
                description: None,
            }]
        };
        let withdrawal = entry
            .line(dispute_line(
                bearer(&platform, &dispute),
                &dispute,
                BalanceTransactionType::Dispute,
                -dispute.amount,
                fee_details,
            ))
            .map_err(ledger_error)?;
        entry.system(Holder::CardNetwork, dispute.currency, dispute.amount);
        entry.system(Holder::Gateway, dispute.currency, fee);
        draft.entry(entry.build().map_err(ledger_error)?)?;
        dispute.balance_transactions.push(withdrawal);
        draft.insert(
            dispute.id.as_ref(),
            &dispute,
            &["disputes".to_owned(), status_index(dispute.status)],
        )?;
        let timer = DisputeDeadlineTimer {
            dispute: dispute.id.to_string(),
        };
        draft.raw(
            deadline_key(platform.as_ref(), &dispute),
            to_payload(&timer)?,
        );
        charge.disputed = true;
        charge.dispute = Some(dispute.id.clone());
        Ok(dispute)
    }

    /// A charge paid with a card that disputes it (pm_card_createDispute) is disputed as
    /// soon as it is captured, in the same draft; `priced` carries the gateway's dispute fee
    /// for such a card.
    pub(super) fn dispute_if_card_disputes(
        &self,
        draft: &mut Draft,
        charge: &mut Charge,
        priced: &PricedCharge,
    ) -> Result<Option<Dispute>, ServiceError> {
        match priced.dispute_fee {
            Some(fee) if charge.captured => self.open_dispute(draft, charge, fee).map(Some),
            _ => Ok(None),
        }
    }

    /// The `charge.dispute.created` event of a dispute opened in this draft.
    pub(super) fn dispute_created(
        &self,
        draft: &mut Draft,
        dispute: &Dispute,
        charge: &Charge,
    ) -> Result<(), ServiceError> {
        let account = charge
            .account
            .clone()
            .or_else(|| charge.destination.clone());
        draft.event(
            &self.ids,
            "charge.dispute.created",
            account.as_ref(),
            dispute,
        )
    }

    pub async fn submit_dispute_evidence(
        &self,
        caller: &Caller,
        input: DisputeEvidence,
    ) -> Result<Dispute, ServiceError> {
        let id = idempotency::run(self, caller, "submitDisputeEvidence", None, &input, || {
            self.prepare_dispute_change(caller, &input.dispute, |dispute| {
                dispute.submit_evidence(&input.evidence)
            })
        })
        .await?;
        self.dispute(caller, &id)
    }

    pub async fn close_dispute(
        &self,
        caller: &Caller,
        input: DisputeDecision,
    ) -> Result<Dispute, ServiceError> {
        let id = idempotency::run(self, caller, "closeDispute", None, &input, || {
            self.prepare_dispute_change(caller, &input.dispute, |dispute| {
                dispute.close(input.outcome)
            })
        })
        .await?;
        self.dispute(caller, &id)
    }

    fn prepare_dispute_change(
        &self,
        caller: &Caller,
        id: &DisputeId,
        change: impl Fn(&mut Dispute) -> Result<(), DisputeRuleError>,
    ) -> Result<Prepared, ServiceError> {
        let found = self.find_named::<Dispute>(caller, id.as_ref(), "input.dispute", "dispute")?;
        let mut dispute = found.value.clone();
        change(&mut dispute).map_err(|error| {
            let param = match error {
                DisputeRuleError::EvidenceLength => "input.evidence",
                _ => "input.dispute",
            };
            ServiceError::invalid(param, format!("{id}: {error}"))
        })?;
        let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
        self.apply_dispute_change(&mut draft, &found.value, dispute, found.revision)?;
        Ok(Prepared {
            draft,
            object_id: id.to_string(),
            error: None,
        })
    }

    /// Writes a dispute's new state: its status index, the reinstatement of a won dispute,
    /// the deadline timer dropped once closed, and the event.
    fn apply_dispute_change(
        &self,
        draft: &mut Draft,
        before: &Dispute,
        mut dispute: Dispute,
        revision: u64,
    ) -> Result<(), ServiceError> {
        let platform = draft
            .commit
            .platform
            .clone()
            .ok_or_else(|| ServiceError::internal("dispute", "no platform"))?;
        let platform_key = platform.to_string();
        if before.status != dispute.status {
            draft.delete(Key::index(
                &platform_key,
                &status_index(before.status),
                before.id.as_ref(),
            ));
            draft.index(&status_index(dispute.status), dispute.id.as_ref());
        }
        if dispute.status == DisputeStatus::Won {
            let mut entry = EntryBuilder::new(
                &self.ids,
                &platform,
                EntryKind::Dispute,
                dispute.id.as_ref(),
                draft.now(),
            );
            let reinstatement = entry
                .line(dispute_line(
                    bearer(&platform, &dispute),
                    &dispute,
                    BalanceTransactionType::DisputeReversal,
                    dispute.amount,
                    Vec::new(),
                ))
                .map_err(ledger_error)?;
            entry.system(Holder::CardNetwork, dispute.currency, -dispute.amount);
            draft.entry(entry.build().map_err(ledger_error)?)?;
            dispute.balance_transactions.push(reinstatement);
        }
        let closed = dispute.status.is_closed();
        if closed {
            draft.delete(deadline_key(&platform_key, &dispute));
        }
        draft.update(dispute.id.as_ref(), &dispute, revision)?;
        let charge = self
            .store
            .get_object::<Charge>(&platform_key, dispute.charge.as_ref())?
            .map(|found| found.value);
        let account = charge.and_then(|charge| charge.account.or(charge.destination));
        let event_type = if closed {
            "charge.dispute.closed"
        } else {
            "charge.dispute.updated"
        };
        draft.event_update(&self.ids, event_type, account.as_ref(), before, &dispute)
    }

    /// The evidence deadline came: an unanswered dispute is lost; one under review waits
    /// for the network's decision.
    pub async fn dispute_deadline(
        &self,
        platform: &str,
        timer_key: Key,
        payload: &[u8],
    ) -> Result<(), ServiceError> {
        let timer: DisputeDeadlineTimer = from_payload(payload)?;
        let platform_id =
            PlatformId::parse(platform).map_err(|error| ServiceError::internal("timer", error))?;
        idempotency::apply(self, || {
            let mut draft = Draft::new(&platform_id, self.clock.now(&platform_id));
            draft.condition(
                Condition::Exists {
                    key: timer_key.clone(),
                },
                ServiceError::already_handled("dispute deadline", "already handled"),
            );
            draft.delete(timer_key.clone());
            let Some(found) = self.store.get_object::<Dispute>(platform, &timer.dispute)? else {
                return Ok(Some(draft));
            };
            let mut dispute = found.value.clone();
            if dispute.on_deadline(draft.now()) {
                self.apply_dispute_change(&mut draft, &found.value, dispute, found.revision)?;
            }
            Ok(Some(draft))
        })
        .await
    }
}
