//! The reference model of the money: a few hundred lines of plain arithmetic written from the
//! fund flows in the design (destination, direct and separate charges, refunds that take from
//! where the money went, proportional fee refunds and reversals, disputes, payouts), against
//! which the real gateway is compared step by step.
//!
//! It knows balances per holder and bucket, the dates pending funds become available, and
//! the few facts of each object that decide whether a request is accepted. A request the
//! model refuses is answered with the error code it expects; one it accepts changes its
//! balances exactly as the ledger should.

use std::collections::BTreeMap;

pub const DAY_MICROS: i64 = 86_400_000_000;
/// The gateway's availability delay and the other fixed numbers of the design.
pub const AVAILABILITY_DELAY_DAYS: i64 = 2;
pub const AUTHORIZATION_VALID_DAYS: i64 = 7;
pub const EVIDENCE_DUE_DAYS: i64 = 7;
pub const DISPUTE_FEE: i64 = 1500;

pub const INVALID: &str = "INVALID_REQUEST";
pub const INSUFFICIENT: &str = "INSUFFICIENT_FUNDS";
pub const RESTRICTED: &str = "ACCOUNT_RESTRICTED";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const DECLINED: &str = "CARD_DECLINED";
pub const POLICY: &str = "POLICY_ERROR";

/// Half away from zero, for non-negative numerators: the one rounding rule of the gateway.
pub fn round_half_away(numerator: i64, denominator: i64) -> i64 {
    (2 * numerator + denominator) / (2 * denominator)
}

/// The processor's fee: 2.9% + 30, never more than the charge.
pub fn processing_fee(amount: i64) -> i64 {
    (round_half_away(amount * 29, 1000) + 30).min(amount)
}

/// The gateway's instant payout fee: 1.5%, at least 50, never more than the payout.
pub fn gateway_instant_fee(amount: i64) -> i64 {
    round_half_away(amount * 15, 1000).max(50).min(amount)
}

/// The part of `total` that goes with `part` of `whole`, never more than what is left of
/// it; all of what is left on the last part.
pub fn share_in_proportion(total: i64, total_left: i64, part: i64, whole: i64, after: i64) -> i64 {
    if after <= 0 {
        return total_left.max(0);
    }
    if whole == 0 {
        return 0;
    }
    round_half_away(total * part, whole).min(total_left).max(0)
}

/// The numbers of a platform policy the test writes for each case.
#[derive(Clone, Debug)]
pub struct PolicyParams {
    /// application_fee: percent of the amount, plus a fixed part, never more than the amount.
    pub fee_percent: i64,
    pub fee_fixed: i64,
    pub hold_days: i64,
    /// processing_fee_payer: None leaves the default (the account for Standard).
    pub platform_pays: Option<bool>,
    /// route: this percent (integer division) to the account in `metadata.dest`.
    pub route_percent: i64,
    /// instant_payout_fee: this fixed amount, never more than the payout.
    pub instant_fee: i64,
    /// payout_schedule: daily automatic payouts after this many days, or manual (None).
    pub daily_payout_delay_days: Option<i64>,
}

impl PolicyParams {
    pub fn source(&self) -> String {
        let payer = match self.platform_pays {
            None => String::new(),
            Some(true) => "fn processing_fee_payer(charge) { \"platform\" }\n".to_owned(),
            Some(false) => "fn processing_fee_payer(charge) { \"account\" }\n".to_owned(),
        };
        format!(
            "fn application_fee(charge) {{ min(percent(charge.amount, {p}) + {f}, charge.amount) }}\n\
             fn hold_days(charge) {{ {h} }}\n\
             fn route(charge) {{ if \"dest\" in charge.metadata {{ [#{{destination: charge.metadata.dest, amount: charge.amount * {r} / 100}}] }} else {{ [] }} }}\n\
             fn payout_schedule(account) {{ {schedule} }}\n\
             fn instant_payout_fee(payout) {{ min({i}, payout.amount) }}\n{payer}",
            p = self.fee_percent,
            f = self.fee_fixed,
            h = self.hold_days,
            r = self.route_percent,
            i = self.instant_fee,
            schedule = match self.daily_payout_delay_days {
                None => "#{interval: \"manual\"}".to_owned(),
                Some(days) => format!("#{{interval: \"daily\", delay_days: {days}}}"),
            },
        )
    }

    pub fn application_fee(&self, amount: i64) -> i64 {
        (round_half_away(amount * self.fee_percent, 100) + self.fee_fixed).min(amount)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HolderRef {
    Platform,
    Account(usize),
    Gateway,
    CardNetwork,
    Bank,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    Available,
    Pending,
}

#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    /// Express or Custom: the platform sets its payout schedule, may debit it, pays its
    /// processing fees by default and covers its negative balance. Standard otherwise.
    pub platform_managed: bool,
    pub card_payments: bool,
    pub transfers: bool,
    pub payouts_enabled: bool,
    pub bank_fails: bool,
    pub bank_errored: bool,
    pub card: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Direct,
    Destination,
    Separate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Card {
    Visa,
    AvailableAtOnce,
    Disputes,
    Declined,
}

impl Card {
    pub fn payment_method(self) -> &'static str {
        match self {
            Card::Visa => "pm_card_visa",
            Card::AvailableAtOnce => "pm_card_bypassPending",
            Card::Disputes => "pm_card_createDispute",
            Card::Declined => "pm_card_chargeDeclined",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Fee {
    pub id: String,
    pub amount: i64,
    pub refunded: i64,
    pub account: usize,
}

#[derive(Clone, Debug)]
pub struct Charge {
    pub id: String,
    pub flow: Flow,
    /// The direct charge's account, or the destination.
    pub account: Option<usize>,
    pub card: Card,
    pub amount: i64,
    pub requested_fee: Option<i64>,
    pub transfer_amount: Option<i64>,
    pub route_to: Option<usize>,
    pub failed: bool,
    pub captured: bool,
    /// Until when an uncaptured authorization may be captured; None once released or lapsed.
    pub authorized_until: Option<i64>,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub amount_transferred: i64,
    pub disputed: bool,
    pub available_on: Option<i64>,
    pub fee: Option<usize>,
    pub transfers: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct Transfer {
    pub id: String,
    pub destination: usize,
    pub amount: i64,
    pub reversed: i64,
    pub source: Option<usize>,
    pub for_destination_charge: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisputeStatus {
    NeedsResponse,
    UnderReview,
    Won,
    Lost,
}

#[derive(Clone, Debug)]
pub struct Dispute {
    pub id: String,
    pub bearer: HolderRef,
    pub amount: i64,
    pub status: DisputeStatus,
    pub due: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayoutStatus {
    Pending,
    Sent,
    Returned,
}

#[derive(Clone, Debug)]
pub struct Payout {
    pub id: String,
    pub holder: HolderRef,
    pub amount: i64,
    pub status: PayoutStatus,
    /// When the bank takes (or refuses) a standard payout: the start of the next day.
    pub submission: i64,
    pub fails: bool,
}

/// Funds of one line that move from pending to available at `due`.
#[derive(Clone, Debug)]
pub(crate) struct Release {
    pub(crate) due: i64,
    pub(crate) holder: HolderRef,
    pub(crate) net: i64,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub policy: PolicyParams,
    pub now: i64,
    pub balances: BTreeMap<(HolderRef, Slot), i64>,
    pub(crate) releases: Vec<Release>,
    pub accounts: Vec<Account>,
    pub charges: Vec<Charge>,
    pub fees: Vec<Fee>,
    pub transfers: Vec<Transfer>,
    pub disputes: Vec<Dispute>,
    pub payouts: Vec<Payout>,
}

pub type Outcome<T> = Result<T, &'static str>;

/// What a successful charge or capture made, for the test to check and to name by id.
#[derive(Clone, Debug, Default)]
pub struct ChargeMade {
    pub processing_fee: i64,
    pub application_fee: Option<i64>,
    /// The transfers made with it, in the order the charge lists them.
    pub transfers: Vec<usize>,
    pub dispute: Option<usize>,
}

impl Model {
    pub fn new(policy: PolicyParams, now: i64) -> Model {
        Model {
            policy,
            now,
            balances: BTreeMap::new(),
            releases: Vec::new(),
            accounts: Vec::new(),
            charges: Vec::new(),
            fees: Vec::new(),
            transfers: Vec::new(),
            disputes: Vec::new(),
            payouts: Vec::new(),
        }
    }

    pub fn balance(&self, holder: HolderRef, slot: Slot) -> i64 {
        self.balances.get(&(holder, slot)).copied().unwrap_or(0)
    }

    pub fn available(&self, holder: HolderRef) -> i64 {
        self.balance(holder, Slot::Available)
    }

    pub(crate) fn add(&mut self, holder: HolderRef, slot: Slot, amount: i64) {
        *self.balances.entry((holder, slot)).or_default() += amount;
    }

    /// A line of an entry: its net lands pending until `available_on`, or available now.
    pub(crate) fn line(&mut self, holder: HolderRef, net: i64, available_on: Option<i64>) {
        match available_on.filter(|date| *date > self.now) {
            Some(due) => {
                self.add(holder, Slot::Pending, net);
                if net != 0 {
                    self.releases.push(Release { due, holder, net });
                }
            }
            None => self.add(holder, Slot::Available, net),
        }
    }

    /// What the platform covers of its Express and Custom accounts' negative balances.
    pub fn reserved(&self) -> i64 {
        self.accounts
            .iter()
            .enumerate()
            .filter(|(_, account)| account.platform_managed)
            .map(|(index, _)| (-self.available(HolderRef::Account(index))).max(0))
            .sum()
    }

    pub fn add_account(&mut self, account: Account) -> usize {
        self.accounts.push(account);
        self.accounts.len() - 1
    }

    pub fn topup(&mut self, amount: i64) {
        let due = self.now + AVAILABILITY_DELAY_DAYS * DAY_MICROS;
        self.line(HolderRef::Platform, amount, Some(due));
        self.add(HolderRef::Bank, Slot::Available, -amount);
    }

    /// A new charge: refused, declined (stored as failed), authorized, or captured.
    #[allow(clippy::too_many_arguments)]
    pub fn charge(
        &mut self,
        flow: Flow,
        account: Option<usize>,
        amount: i64,
        requested_fee: Option<i64>,
        transfer_amount: Option<i64>,
        route_to: Option<usize>,
        capture: bool,
        card: Card,
    ) -> (Option<usize>, Outcome<ChargeMade>) {
        if requested_fee.is_some() && transfer_amount.is_some() {
            return (None, Err(INVALID));
        }
        if let Err(code) = self.check_parties(flow, account) {
            return (None, Err(code));
        }
        if flow == Flow::Separate {
            if let Err(code) = self.check_route(route_to, amount) {
                return (None, Err(code));
            }
        }
        self.charges.push(Charge {
            id: String::new(),
            flow,
            account,
            card,
            amount,
            requested_fee,
            transfer_amount,
            route_to,
            failed: card == Card::Declined,
            captured: false,
            authorized_until: None,
            amount_captured: 0,
            amount_refunded: 0,
            amount_transferred: 0,
            disputed: false,
            available_on: None,
            fee: None,
            transfers: Vec::new(),
        });
        let index = self.charges.len() - 1;
        if card == Card::Declined {
            return (Some(index), Err(DECLINED));
        }
        if !capture {
            self.charges[index].authorized_until =
                Some(self.now + AUTHORIZATION_VALID_DAYS * DAY_MICROS);
            return (Some(index), Ok(ChargeMade::default()));
        }
        let made = self.capture_into(index, amount, requested_fee);
        (Some(index), Ok(made))
    }

    fn check_parties(&self, flow: Flow, account: Option<usize>) -> Outcome<()> {
        match (flow, account) {
            (Flow::Direct, Some(account)) if !self.accounts[account].card_payments => {
                Err(RESTRICTED)
            }
            (Flow::Destination, Some(account)) if !self.accounts[account].transfers => {
                Err(RESTRICTED)
            }
            _ => Ok(()),
        }
    }

    /// The route hook's split, if any: splits of 0 are dropped.
    fn split(&self, route_to: Option<usize>, amount: i64) -> Option<(usize, i64)> {
        let split = amount * self.policy.route_percent / 100;
        route_to
            .filter(|_| split > 0)
            .map(|account| (account, split))
    }

    /// The route hook's destination must be this platform's account with TRANSFERS active.
    fn check_route(&self, route_to: Option<usize>, amount: i64) -> Outcome<()> {
        match self.split(route_to, amount) {
            Some((account, _)) if !self.accounts[account].transfers => Err(POLICY),
            _ => Ok(()),
        }
    }

    /// Captures an authorized charge, in whole or in part.
    pub fn capture(
        &mut self,
        index: usize,
        amount: Option<i64>,
        requested_fee: Option<i64>,
    ) -> Outcome<ChargeMade> {
        let charge = &self.charges[index];
        if charge.failed || charge.captured || charge.authorized_until.is_none() {
            return Err(INVALID);
        }
        let amount = amount.unwrap_or(charge.amount);
        if amount > charge.amount {
            return Err(INVALID);
        }
        let fee = requested_fee.or(charge.requested_fee);
        if fee.is_some_and(|fee| fee > amount)
            || (fee.is_some() && charge.transfer_amount.is_some())
        {
            return Err(INVALID);
        }
        self.check_parties(charge.flow, charge.account)?;
        if charge.flow == Flow::Separate {
            self.check_route(charge.route_to, amount)?;
        }
        Ok(self.capture_into(index, amount, fee))
    }

    /// The money of a captured amount, as the design's fund flows say.
    fn capture_into(
        &mut self,
        index: usize,
        amount: i64,
        requested_fee: Option<i64>,
    ) -> ChargeMade {
        let charge = self.charges[index].clone();
        let processing = processing_fee(amount);
        let available_on = match charge.card {
            Card::AvailableAtOnce => None,
            _ => Some(self.now + (AVAILABILITY_DELAY_DAYS + self.policy.hold_days) * DAY_MICROS),
        };
        let application_fee = match charge.flow {
            Flow::Separate => None,
            Flow::Destination if charge.transfer_amount.is_some() => None,
            _ => Some(requested_fee.unwrap_or_else(|| self.policy.application_fee(amount))),
        };
        let fee_amount = application_fee.unwrap_or(0);
        let mut made = ChargeMade {
            processing_fee: processing,
            application_fee,
            ..ChargeMade::default()
        };
        let platform = HolderRef::Platform;
        match charge.flow {
            Flow::Direct => {
                let account = charge.account.expect("direct charge account");
                let platform_pays = self
                    .policy
                    .platform_pays
                    .unwrap_or(self.accounts[account].platform_managed);
                let account_processing = if platform_pays { 0 } else { processing };
                let platform_processing = processing - account_processing;
                self.line(
                    HolderRef::Account(account),
                    amount - account_processing - fee_amount,
                    available_on,
                );
                self.line(platform, fee_amount - platform_processing, available_on);
            }
            Flow::Destination => {
                let destination = charge.account.expect("destination");
                let transfer = charge.transfer_amount.map_or(amount, |t| t.min(amount));
                self.line(platform, amount - processing, available_on);
                self.line(platform, -transfer, available_on);
                self.line(
                    HolderRef::Account(destination),
                    transfer - fee_amount,
                    available_on,
                );
                self.line(platform, fee_amount, available_on);
                made.transfers
                    .push(self.new_transfer(destination, transfer, Some(index), true));
            }
            Flow::Separate => {
                self.line(platform, amount - processing, available_on);
                if let Some((destination, split)) = self.split(charge.route_to, amount) {
                    self.line(platform, -split, available_on);
                    self.line(HolderRef::Account(destination), split, available_on);
                    made.transfers
                        .push(self.new_transfer(destination, split, Some(index), false));
                }
            }
        }
        self.add(HolderRef::CardNetwork, Slot::Available, -amount);
        self.add(HolderRef::Gateway, Slot::Available, processing);
        let fee_holder = charge.account;
        let charge = &mut self.charges[index];
        charge.captured = true;
        charge.authorized_until = None;
        charge.amount_captured = amount;
        charge.amount_refunded = 0;
        charge.available_on = available_on;
        charge.transfers.extend(made.transfers.iter().copied());
        charge.amount_transferred += made
            .transfers
            .iter()
            .map(|transfer| self.transfers[*transfer].amount)
            .sum::<i64>();
        if let (Some(amount), Some(account)) = (application_fee.filter(|fee| *fee != 0), fee_holder)
        {
            self.fees.push(Fee {
                id: String::new(),
                amount,
                refunded: 0,
                account,
            });
            self.charges[index].fee = Some(self.fees.len() - 1);
        }
        if charge_disputes(&self.charges[index]) {
            made.dispute = Some(self.open_dispute(index));
        }
        made
    }

    pub(crate) fn new_transfer(
        &mut self,
        destination: usize,
        amount: i64,
        source: Option<usize>,
        for_destination_charge: bool,
    ) -> usize {
        self.transfers.push(Transfer {
            id: String::new(),
            destination,
            amount,
            reversed: 0,
            source,
            for_destination_charge,
        });
        self.transfers.len() - 1
    }

    /// The amount captured and the dispute fee leave whoever bears the charge at once.
    fn open_dispute(&mut self, index: usize) -> usize {
        let charge = &mut self.charges[index];
        charge.disputed = true;
        let bearer = bearer_of(charge);
        let amount = charge.amount_captured;
        self.add(bearer, Slot::Available, -amount - DISPUTE_FEE);
        self.add(HolderRef::CardNetwork, Slot::Available, amount);
        self.add(HolderRef::Gateway, Slot::Available, DISPUTE_FEE);
        self.disputes.push(Dispute {
            id: String::new(),
            bearer,
            amount,
            status: DisputeStatus::NeedsResponse,
            due: self.now + EVIDENCE_DUE_DAYS * DAY_MICROS,
        });
        self.disputes.len() - 1
    }

    pub fn submit_evidence(&mut self, index: usize) -> Outcome<()> {
        let dispute = &mut self.disputes[index];
        if matches!(dispute.status, DisputeStatus::Won | DisputeStatus::Lost) {
            return Err(INVALID);
        }
        dispute.status = DisputeStatus::UnderReview;
        Ok(())
    }

    /// The network's decision: WON gives the amount back, never the fee.
    pub fn close_dispute(&mut self, index: usize, won: bool) -> Outcome<()> {
        let dispute = self.disputes[index].clone();
        if matches!(dispute.status, DisputeStatus::Won | DisputeStatus::Lost) {
            return Err(INVALID);
        }
        if won {
            self.add(dispute.bearer, Slot::Available, dispute.amount);
            self.add(HolderRef::CardNetwork, Slot::Available, -dispute.amount);
            self.disputes[index].status = DisputeStatus::Won;
        } else {
            self.disputes[index].status = DisputeStatus::Lost;
        }
        Ok(())
    }
}

pub(crate) fn charge_disputes(charge: &Charge) -> bool {
    charge.card == Card::Disputes
}

/// Who bears a charge's refunds and disputes: the account of a direct charge, else the platform.
pub(crate) fn bearer_of(charge: &Charge) -> HolderRef {
    match (charge.flow, charge.account) {
        (Flow::Direct, Some(account)) => HolderRef::Account(account),
        _ => HolderRef::Platform,
    }
}
