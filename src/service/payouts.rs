//! Manual payouts (`createPayout`), standard or instant, their cancellation, and reads.
//!
//! A payout is drawn on the available balance only: the draft carries a
//! `Condition::BalanceAtLeast`, so a manual payout racing an automatic one (or another manual
//! one) can never take the balance below zero. Payouts are refused while any of the account's
//! available balances is negative.
//!
//! The platform may pay out its own balance too (STANDARD only). tollgate does not model a
//! platform's bank account, so such a payout goes to the platform's bank of record, shown as a
//! bank account in the platform's country and the payout's currency that never fails.
//!
//! Instant payouts follow `domain::instant_payouts` (EXPRESS and CUSTOM accounts in supported
//! countries, to an eligible debit card, in the local currency); the gateway's and the platform
//! policy's `instant_payout_fee` are charged to the account on top of the amount, and the whole
//! (amount plus fees) must fit in `instantAvailable`.

use serde::{Deserialize, Serialize};

use super::idempotency::{self, IdempotencyKey, Prepared};
use super::payout_lifecycle::{arm_payout_timers, payout_indexes, set_destination_status};
use super::pricing::account_facts;
use super::{Caller, Draft, Page, PageRequest, ServiceError, Services};
use crate::domain::account_record::AccountRecord;
use crate::domain::bank_accounts::{BankAccountInput, NewBankAccount};
use crate::domain::countries::Country;
use crate::domain::external_account_records::ExternalAccount;
use crate::domain::external_accounts::ExternalAccountStatus;
use crate::domain::instant_payouts::{check_instant_payout_eligibility, InstantPayoutError};
use crate::domain::payouts::{standard_arrival_time, Payout, PayoutMethod, PayoutStatus};
use crate::ids::{AccountId, BankAccountId, PayoutId};
use crate::ledger::payout_flows::{payout_lines, PayoutMovement};
use crate::ledger::{Bucket, EntryBuilder, EntryKind, Holder, LedgerAccount};
use crate::money::{Currency, MinorUnits};
use crate::policy::PayoutFacts;
use crate::store::{Condition, Versioned};

/// The account number of the platform's bank of record (the succeeding test number).
const PLATFORM_BANK_ACCOUNT_NUMBER: &str = "000123456789";
/// The routing number of the platform's bank of record when the platform is in the US.
const PLATFORM_BANK_US_ROUTING_NUMBER: &str = "110000000";

/// A parsed `createPayout` input.
#[derive(Debug, Clone, Serialize)]
pub struct NewPayout {
    pub account: Option<AccountId>,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub method: PayoutMethod,
    /// A `ba_…` or `card_…` of the account; the currency's default when absent.
    pub destination: Option<String>,
    pub description: Option<String>,
}

/// A parsed `cancelPayout` input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelPayout {
    pub payout: PayoutId,
}

/// Whose balance a payout is drawn on.
struct Payer {
    holder: Holder,
    account: Option<Versioned<AccountRecord>>,
    destination: ExternalAccount,
}

fn instant_refusal(error: InstantPayoutError) -> ServiceError {
    let param = format!("input.{}", error.param());
    match error {
        InstantPayoutError::NotPermitted(denied) => {
            ServiceError::forbidden(Some(&param), denied.to_string())
        }
        other => ServiceError::invalid(param, other.to_string()),
    }
}

fn money_error(error: crate::money::MoneyError) -> ServiceError {
    ServiceError::internal("payout amount", error)
}

impl Services {
    pub fn payout(&self, caller: &Caller, id: &str) -> Result<Payout, ServiceError> {
        self.find::<Payout>(caller, id)?
            .map(|found| found.value)
            .ok_or_else(|| ServiceError::not_found("id", "payout", id))
    }

    /// The platform's payouts, newest first: all of them, or one holder's (an account, or
    /// the platform itself), optionally in one status.
    pub fn payouts(
        &self,
        caller: &Caller,
        holder: Option<&Holder>,
        status: Option<PayoutStatus>,
        request: &PageRequest,
    ) -> Result<Page<Payout>, ServiceError> {
        let index = match (holder, status) {
            (None, None) => "payouts".to_owned(),
            (Some(holder), None) => format!("payouts_holder:{holder}"),
            (None, Some(status)) => format!("payouts_status:{}", status.as_str()),
            (Some(holder), Some(status)) => {
                format!("payouts_holder_status:{holder}:{}", status.as_str())
            }
        };
        self.page(&caller.platform_key(), &index, request)
    }

    pub async fn create_payout(
        &self,
        caller: &Caller,
        input: NewPayout,
        key: Option<IdempotencyKey>,
    ) -> Result<Payout, ServiceError> {
        let id = idempotency::run(self, caller, "createPayout", key.as_ref(), &input, || {
            self.prepare_payout(caller, &input)
        })
        .await?;
        self.payout(caller, &id)
    }

    fn payer(&self, caller: &Caller, input: &NewPayout) -> Result<Payer, ServiceError> {
        let (account_id, param) = match (&input.account, &caller.connect_account) {
            (Some(account), _) => (account, "input.account"),
            (None, Some(account)) => (account, "Connect-Account"),
            (None, None) => return self.platform_payer(caller, input),
        };
        let found = self.account_named(caller, account_id, param)?;
        let account = &found.value;
        if !account.payouts_enabled() {
            return Err(ServiceError::AccountRestricted {
                message: format!("{account_id} cannot be paid out: payouts are not enabled"),
                account: account_id.to_string(),
                param: Some(param.to_owned()),
            });
        }
        if self.account_balance_is_negative(account_id)? {
            return Err(ServiceError::insufficient_funds(format!(
                "{account_id} has a negative balance; payouts resume once it is covered"
            )));
        }
        let destination = match &input.destination {
            Some(id) => account
                .external_account(id)
                .ok_or_else(|| ServiceError::not_found("input.destination", "external account", id))?,
            None => account
                .default_external_account(input.currency)
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "input.destination",
                        format!(
                            "{account_id} has no default external account in {}; add one or name a destination",
                            input.currency
                        ),
                    )
                })?,
        }
        .clone();
        if destination.currency() != input.currency {
            return Err(ServiceError::invalid(
                "input.destination",
                format!(
                    "{} takes {}, not {}",
                    destination.id(),
                    destination.currency(),
                    input.currency
                ),
            ));
        }
        if destination.status() == ExternalAccountStatus::Errored {
            return Err(ServiceError::invalid(
                "input.destination",
                format!(
                    "A payout to {} failed; add a new external account to pay out to",
                    destination.id()
                ),
            ));
        }
        if input.method == PayoutMethod::Instant {
            check_instant_payout_eligibility(
                account.account_type(),
                account.country(),
                destination.instant_payout_destination(),
                input.currency,
            )
            .map_err(instant_refusal)?;
        }
        Ok(Payer {
            holder: Holder::Account(account_id.clone()),
            account: Some(found),
            destination,
        })
    }

    /// The platform paying out its own balance, to its bank of record.
    fn platform_payer(&self, caller: &Caller, input: &NewPayout) -> Result<Payer, ServiceError> {
        if input.method == PayoutMethod::Instant {
            return Err(ServiceError::forbidden(
                Some("input.method"),
                "Instant payouts are made to Express and Custom connected accounts, not from the platform's own balance",
            ));
        }
        if input.destination.is_some() {
            return Err(ServiceError::invalid(
                "input.destination",
                "The platform's own payouts go to its bank of record; destination names a connected account's external account",
            ));
        }
        let country = Country::parse(&caller.platform.country)
            .map_err(|error| ServiceError::internal("platform country", error))?;
        let routing_number = country
            .is_united_states()
            .then(|| PLATFORM_BANK_US_ROUTING_NUMBER.to_owned());
        let bank = NewBankAccount::parse(
            BankAccountInput {
                country,
                currency: input.currency,
                routing_number,
                account_number: PLATFORM_BANK_ACCOUNT_NUMBER.to_owned(),
            },
            caller.platform.id.as_ref().as_bytes(),
        )
        .map_err(|error| ServiceError::internal("platform bank", error))?;
        let id: BankAccountId = self.ids.next();
        Ok(Payer {
            holder: Holder::Platform(caller.platform.id.clone()),
            account: None,
            destination: ExternalAccount::bank_account(
                id,
                bank,
                self.clock.now(&caller.platform.id),
            ),
        })
    }

    /// The gateway's and the platform policy's fees on an instant payout.
    fn instant_payout_fees(
        &self,
        caller: &Caller,
        account: &AccountRecord,
        input: &NewPayout,
    ) -> Result<(MinorUnits, MinorUnits), ServiceError> {
        let facts = PayoutFacts {
            amount: input.amount,
            currency: input.currency,
            account: account_facts(account),
        };
        let gateway_fee = self.policies.gateway().instant_payout_fee(&facts)?;
        let platform_fee = self
            .policies
            .get(&caller.platform.policy)
            .instant_payout_fee(&facts)?;
        Ok((gateway_fee, platform_fee))
    }

    fn prepare_payout(&self, caller: &Caller, input: &NewPayout) -> Result<Prepared, ServiceError> {
        let payer = self.payer(caller, input)?;
        let now = self.clock.now(&caller.platform.id);
        let (gateway_fee, platform_fee) = match (&payer.account, input.method) {
            (Some(found), PayoutMethod::Instant) => {
                self.instant_payout_fees(caller, &found.value, input)?
            }
            _ => (MinorUnits::ZERO, MinorUnits::ZERO),
        };
        let debit = input
            .amount
            .checked_add(gateway_fee)
            .and_then(|sum| sum.checked_add(platform_fee))
            .map_err(money_error)?;
        if input.method == PayoutMethod::Instant {
            let instant_available = self.instant_available(&payer.holder, input.currency)?;
            if debit > instant_available {
                return Err(ServiceError::insufficient_funds(format!(
                    "The instant payout of {} plus its fees of {} is more than the {} instantly available",
                    input.amount,
                    debit.checked_sub(input.amount).map_err(money_error)?,
                    instant_available
                )));
            }
        }
        let mut draft = Draft::new(&caller.platform.id, now);
        // A platform's reserve against its accounts' negative balances stays withheld.
        let (minimum, reserve) = match &payer.holder {
            Holder::Platform(platform) => {
                self.platform_minimum_available(platform, input.currency, debit)?
            }
            _ => (debit, MinorUnits::ZERO),
        };
        let shortfall = if reserve.is_zero() {
            format!(
                "The available {} balance of {} is less than the payout's {debit}",
                input.currency, payer.holder
            )
        } else {
            format!(
                "The available {} balance of {} less its reserve of {reserve} (held against connected accounts' negative balances) is less than the payout's {debit}",
                input.currency, payer.holder
            )
        };
        draft.condition(
            Condition::BalanceAtLeast {
                account: LedgerAccount::new(
                    payer.holder.clone(),
                    input.currency,
                    Bucket::Available,
                ),
                minimum_minor: minimum.get(),
            },
            ServiceError::insufficient_funds(shortfall),
        );
        let id: PayoutId = self.ids.next();
        let movement = PayoutMovement {
            holder: payer.holder.clone(),
            platform: caller.platform.id.clone(),
            payout_id: id.to_string(),
            currency: input.currency,
            amount: input.amount,
            gateway_fee,
            platform_fee,
            description: input.description.clone(),
        };
        let instant = input.method == PayoutMethod::Instant;
        let payout = Payout {
            id: id.clone(),
            account: payer.account.as_ref().map(|found| found.value.id().clone()),
            currency: input.currency,
            amount: input.amount,
            fee: debit.checked_sub(input.amount).map_err(money_error)?,
            fee_details: movement.fee_details(),
            method: input.method,
            status: if instant {
                PayoutStatus::Paid
            } else {
                PayoutStatus::Pending
            },
            automatic: false,
            arrival_date: if instant {
                now
            } else {
                standard_arrival_time(now)
            },
            destination: payer.destination,
            failure_code: None,
            failure_message: None,
            balance_transaction: None,
            return_balance_transaction: None,
            description: input.description.clone(),
            created: now,
        };
        let payout = self.draft_payout(&mut draft, &caller.platform.id, payout, &movement)?;
        if let (true, Some(found)) = (instant, &payer.account) {
            draft.event(
                &self.ids,
                "payout.paid",
                payout.account.as_ref(),
                &payout.public_view(),
            )?;
            let mut account = found.value.clone();
            let destination = payout.destination.id().to_owned();
            if set_destination_status(
                self,
                &mut draft,
                &mut account,
                &destination,
                payout.destination.status().after_payout_paid(),
            )? {
                draft.update(account.id().as_ref(), &account, found.revision)?;
            }
        }
        Ok(Prepared {
            draft,
            object_id: id.to_string(),
            error: None,
        })
    }

    /// Adds a new payout to a draft: its ledger entry, the object with its indexes, the
    /// timers of a standard payout and the `payout.created` event.
    pub(super) fn draft_payout(
        &self,
        draft: &mut Draft,
        platform: &crate::ids::PlatformId,
        mut payout: Payout,
        movement: &PayoutMovement,
    ) -> Result<Payout, ServiceError> {
        let mut entry = EntryBuilder::new(
            &self.ids,
            platform,
            EntryKind::Payout,
            payout.id.as_ref(),
            payout.created,
        );
        let line = payout_lines(&mut entry, movement)
            .map_err(|error| ServiceError::internal("payout entry", error))?;
        draft.entry(
            entry
                .build()
                .map_err(|error| ServiceError::internal("payout entry", error))?,
        )?;
        payout.balance_transaction = Some(line);
        draft.insert(
            payout.id.as_ref(),
            &payout,
            &payout_indexes(&movement.holder, payout.status),
        )?;
        if payout.status == PayoutStatus::Pending {
            arm_payout_timers(draft, platform.as_ref(), &payout)?;
        }
        draft.event(
            &self.ids,
            "payout.created",
            payout.account.as_ref(),
            &payout.public_view(),
        )?;
        Ok(payout)
    }

    pub async fn cancel_payout(
        &self,
        caller: &Caller,
        input: CancelPayout,
        key: Option<IdempotencyKey>,
    ) -> Result<Payout, ServiceError> {
        let id = idempotency::run(self, caller, "cancelPayout", key.as_ref(), &input, || {
            let found = self
                .find::<Payout>(caller, input.payout.as_ref())?
                .ok_or_else(|| {
                    ServiceError::not_found("input.payout", "payout", input.payout.as_ref())
                })?;
            let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
            self.return_payout(
                &mut draft,
                &caller.platform.id,
                found,
                super::payout_lifecycle::Outcome::Canceled,
            )?;
            Ok(Prepared {
                draft,
                object_id: input.payout.to_string(),
                error: None,
            })
        })
        .await?;
        self.payout(caller, &id)
    }

    /// Available funds that may be paid out instantly, in one currency (see `balance`).
    pub fn instant_available(
        &self,
        holder: &Holder,
        currency: Currency,
    ) -> Result<MinorUnits, ServiceError> {
        let view = self.balance(holder)?;
        Ok(view
            .instant_available
            .iter()
            .find(|money| money.currency == currency)
            .map_or(MinorUnits::ZERO, |money| money.amount))
    }
}
