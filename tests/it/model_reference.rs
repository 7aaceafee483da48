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
struct Release {
    due: i64,
    holder: HolderRef,
    net: i64,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub policy: PolicyParams,
    pub now: i64,
    pub balances: BTreeMap<(HolderRef, Slot), i64>,
    releases: Vec<Release>,
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

    fn add(&mut self, holder: HolderRef, slot: Slot, amount: i64) {
        *self.balances.entry((holder, slot)).or_default() += amount;
    }

    /// A line of an entry: its net lands pending until `available_on`, or available now.
    fn line(&mut self, holder: HolderRef, net: i64, available_on: Option<i64>) {
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

    fn new_transfer(
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

    /// A refund takes from where the charge's money went, with its transfers and fee in
    /// proportion when asked.
    /// A refund as the platform, or as the connected account of a direct charge, which may
    /// not move the platform's money (its fee, its transfers).
    pub fn refund(
        &mut self,
        index: usize,
        amount: Option<i64>,
        refund_fee: bool,
        reverse: bool,
        as_account: bool,
    ) -> Outcome<()> {
        let charge = self.charges[index].clone();
        if as_account && (refund_fee || reverse) {
            return Err(FORBIDDEN);
        }
        if charge.failed || charge.disputed {
            return Err(INVALID);
        }
        if !charge.captured {
            if charge.authorized_until.is_none() || amount.is_some_and(|a| a != charge.amount) {
                return Err(INVALID);
            }
            let charge = &mut self.charges[index];
            charge.authorized_until = None;
            charge.amount_refunded = charge.amount;
            return Ok(());
        }
        let left = charge.amount_captured - charge.amount_refunded;
        if left <= 0 {
            return Err(INVALID);
        }
        let amount = amount.unwrap_or(left);
        if amount > left || amount <= 0 {
            return Err(INVALID);
        }
        let after = left - amount;
        let mut reversals = Vec::new();
        if reverse {
            if charge.transfers.is_empty() {
                return Err(INVALID);
            }
            for transfer in &charge.transfers {
                let t = &self.transfers[*transfer];
                let share = share_in_proportion(
                    t.amount,
                    t.amount - t.reversed,
                    amount,
                    charge.amount_captured,
                    after,
                );
                if share != 0 {
                    reversals.push((*transfer, share));
                }
            }
        }
        let fee_share = if refund_fee {
            let fee = charge.fee.ok_or(INVALID)?;
            let f = &self.fees[fee];
            Some((
                fee,
                share_in_proportion(
                    f.amount,
                    f.amount - f.refunded,
                    amount,
                    charge.amount_captured,
                    after,
                ),
            ))
        } else {
            None
        };
        // A commit that reverses several transfers to one account needs them all covered.
        let mut taken: BTreeMap<usize, i64> = BTreeMap::new();
        for (transfer, share) in &reversals {
            let t = &self.transfers[*transfer];
            if !t.for_destination_charge {
                *taken.entry(t.destination).or_default() += share;
            }
        }
        for (account, amount) in taken {
            if self.available(HolderRef::Account(account)) < amount {
                return Err(INSUFFICIENT);
            }
        }
        self.add(bearer_of(&charge), Slot::Available, -amount);
        self.add(HolderRef::CardNetwork, Slot::Available, amount);
        for (transfer, share) in reversals {
            self.reverse_into(transfer, share);
        }
        if let Some((fee, share)) = fee_share.filter(|(_, share)| *share != 0) {
            self.return_fee(fee, share);
        }
        self.charges[index].amount_refunded += amount;
        Ok(())
    }

    /// A transfer that is not a destination charge's is reversed only as far as the
    /// destination's available balance covers it.
    fn check_reversal_funds(&self, transfer: usize, amount: i64) -> Outcome<()> {
        let t = &self.transfers[transfer];
        if !t.for_destination_charge && self.available(HolderRef::Account(t.destination)) < amount {
            return Err(INSUFFICIENT);
        }
        Ok(())
    }

    fn reverse_into(&mut self, transfer: usize, amount: i64) {
        let destination = self.transfers[transfer].destination;
        self.add(HolderRef::Platform, Slot::Available, amount);
        self.add(HolderRef::Account(destination), Slot::Available, -amount);
        self.transfers[transfer].reversed += amount;
    }

    /// An application fee refunded on its own, in whole or in part.
    pub fn refund_fee(&mut self, fee: usize, amount: Option<i64>) -> Outcome<()> {
        let left = self.fees[fee].amount - self.fees[fee].refunded;
        if left <= 0 {
            return Err(INVALID);
        }
        let amount = amount.unwrap_or(left);
        if amount <= 0 || amount > left {
            return Err(INVALID);
        }
        self.return_fee(fee, amount);
        Ok(())
    }

    fn return_fee(&mut self, fee: usize, amount: i64) {
        let account = self.fees[fee].account;
        self.add(HolderRef::Platform, Slot::Available, -amount);
        self.add(HolderRef::Account(account), Slot::Available, amount);
        self.fees[fee].refunded += amount;
    }

    /// A transfer drawn on a charge (pending with it) or on the platform's available balance.
    pub fn transfer(
        &mut self,
        destination: usize,
        amount: i64,
        source: Option<usize>,
    ) -> Outcome<usize> {
        if !self.accounts[destination].transfers {
            return Err(RESTRICTED);
        }
        let available_on = match source {
            Some(index) => {
                let charge = &self.charges[index];
                if charge.flow == Flow::Direct || charge.failed || !charge.captured {
                    return Err(INVALID);
                }
                if amount > (charge.amount_captured - charge.amount_transferred).max(0) {
                    return Err(INVALID);
                }
                charge.available_on.filter(|date| *date > self.now)
            }
            None => {
                if self.available(HolderRef::Platform) < amount {
                    return Err(INSUFFICIENT);
                }
                None
            }
        };
        self.line(HolderRef::Platform, -amount, available_on);
        self.line(HolderRef::Account(destination), amount, available_on);
        let transfer = self.new_transfer(destination, amount, source, false);
        if let Some(index) = source {
            let charge = &mut self.charges[index];
            charge.amount_transferred += amount;
            charge.transfers.push(transfer);
        }
        Ok(transfer)
    }

    pub fn reverse(
        &mut self,
        transfer: usize,
        amount: Option<i64>,
        refund_fee: bool,
    ) -> Outcome<()> {
        let t = self.transfers[transfer].clone();
        let left = t.amount - t.reversed;
        let amount = amount.unwrap_or(left);
        if amount <= 0 || amount > left {
            return Err(INVALID);
        }
        let fee_share = if refund_fee {
            let fee = t
                .source
                .filter(|_| t.for_destination_charge)
                .and_then(|charge| self.charges[charge].fee)
                .ok_or(INVALID)?;
            let f = &self.fees[fee];
            Some((
                fee,
                share_in_proportion(
                    f.amount,
                    f.amount - f.refunded,
                    amount,
                    t.amount,
                    left - amount,
                ),
            ))
        } else {
            None
        };
        self.check_reversal_funds(transfer, amount)?;
        self.reverse_into(transfer, amount);
        if let Some((fee, share)) = fee_share.filter(|(_, share)| *share != 0) {
            self.return_fee(fee, share);
        }
        Ok(())
    }

    /// A payout of the platform's balance (`account` None) or an account's.
    pub fn payout(&mut self, account: Option<usize>, amount: i64, instant: bool) -> Outcome<usize> {
        let holder = account.map_or(HolderRef::Platform, HolderRef::Account);
        let (debit, gateway_fee, platform_fee, fails) = match account {
            None => {
                if instant {
                    return Err(FORBIDDEN);
                }
                (amount, 0, 0, false)
            }
            Some(index) => {
                let a = &self.accounts[index];
                if !a.payouts_enabled {
                    return Err(RESTRICTED);
                }
                if self.available(holder) < 0 {
                    return Err(INSUFFICIENT);
                }
                if instant {
                    if a.card.is_none() {
                        return Err(INVALID);
                    }
                    let gateway_fee = gateway_instant_fee(amount);
                    let platform_fee = self.policy.instant_fee.min(amount);
                    let debit = amount + gateway_fee + platform_fee;
                    if debit > self.available(holder).max(0) {
                        return Err(INSUFFICIENT);
                    }
                    (debit, gateway_fee, platform_fee, false)
                } else {
                    if a.bank_errored {
                        return Err(INVALID);
                    }
                    (amount, 0, 0, a.bank_fails)
                }
            }
        };
        if self.available(holder) < debit {
            return Err(INSUFFICIENT);
        }
        self.add(holder, Slot::Available, -debit);
        self.add(HolderRef::Platform, Slot::Available, platform_fee);
        self.add(HolderRef::Bank, Slot::Available, amount);
        self.add(HolderRef::Gateway, Slot::Available, gateway_fee);
        let next_day = (self.now.div_euclid(DAY_MICROS) + 1) * DAY_MICROS;
        self.payouts.push(Payout {
            id: String::new(),
            holder,
            amount,
            status: if instant {
                PayoutStatus::Sent
            } else {
                PayoutStatus::Pending
            },
            submission: next_day,
            fails,
        });
        Ok(self.payouts.len() - 1)
    }

    pub fn cancel_payout(&mut self, index: usize) -> Outcome<()> {
        if self.payouts[index].status != PayoutStatus::Pending {
            return Err(INVALID);
        }
        self.return_payout(index);
        Ok(())
    }

    fn return_payout(&mut self, index: usize) {
        let payout = &mut self.payouts[index];
        payout.status = PayoutStatus::Returned;
        let (holder, amount) = (payout.holder, payout.amount);
        self.add(holder, Slot::Available, amount);
        self.add(HolderRef::Bank, Slot::Available, -amount);
    }

    pub fn debit(&mut self, account: usize, amount: i64) -> Outcome<()> {
        if !self.accounts[account].platform_managed {
            return Err(FORBIDDEN);
        }
        let holder = HolderRef::Account(account);
        if self.available(holder) < amount {
            return Err(INSUFFICIENT);
        }
        self.add(holder, Slot::Available, -amount);
        self.add(HolderRef::Platform, Slot::Available, amount);
        Ok(())
    }

    /// An automatic payout the gateway's payout run made at `at`: it may take no more than
    /// the account's available balance then, and only from an account whose schedule pays
    /// out automatically. The amount it holds back for the delay is the gateway's business.
    pub fn automatic_payout(
        &mut self,
        at: i64,
        account: usize,
        amount: i64,
    ) -> Result<usize, String> {
        self.advance_to(at);
        let holder = HolderRef::Account(account);
        let available = self.available(holder);
        let a = &self.accounts[account];
        if self.policy.daily_payout_delay_days.is_none()
            || !a.platform_managed
            || !a.payouts_enabled
        {
            return Err(format!(
                "an automatic payout of {amount} from an account that is paid out by hand"
            ));
        }
        if amount <= 0 || amount > available {
            return Err(format!(
                "an automatic payout of {amount} at {} when {available} was available",
                chrono::DateTime::from_timestamp_micros(at)
                    .map(|time| time.to_rfc3339())
                    .unwrap_or_default()
            ));
        }
        if a.bank_errored {
            return Err("an automatic payout to a bank account that failed".to_owned());
        }
        let fails = a.bank_fails;
        self.add(holder, Slot::Available, -amount);
        self.add(HolderRef::Bank, Slot::Available, amount);
        let next_day = (at.div_euclid(DAY_MICROS) + 1) * DAY_MICROS;
        self.payouts.push(Payout {
            id: String::new(),
            holder,
            amount,
            status: PayoutStatus::Pending,
            submission: next_day,
            fails,
        });
        Ok(self.payouts.len() - 1)
    }

    /// Moves time to `to` and does everything due by then: releases, payouts reaching the
    /// bank (or failing there), lapsed authorizations, unanswered disputes.
    pub fn advance_to(&mut self, to: i64) {
        self.now = to;
        let (due, later): (Vec<Release>, Vec<Release>) = std::mem::take(&mut self.releases)
            .into_iter()
            .partition(|release| release.due <= to);
        self.releases = later;
        for release in due {
            self.add(release.holder, Slot::Pending, -release.net);
            self.add(release.holder, Slot::Available, release.net);
        }
        for index in 0..self.payouts.len() {
            let payout = &self.payouts[index];
            if payout.status != PayoutStatus::Pending || payout.submission > to {
                continue;
            }
            if payout.fails {
                self.return_payout(index);
                if let HolderRef::Account(account) = self.payouts[index].holder {
                    self.accounts[account].bank_errored = true;
                }
            } else {
                self.payouts[index].status = PayoutStatus::Sent;
            }
        }
        for charge in &mut self.charges {
            if charge.authorized_until.is_some_and(|until| until <= to) {
                charge.authorized_until = None;
                charge.amount_refunded = charge.amount;
            }
        }
        for dispute in &mut self.disputes {
            if dispute.status == DisputeStatus::NeedsResponse && dispute.due <= to {
                dispute.status = DisputeStatus::Lost;
            }
        }
    }
}

fn charge_disputes(charge: &Charge) -> bool {
    charge.card == Card::Disputes
}

/// Who bears a charge's refunds and disputes: the account of a direct charge, else the platform.
fn bearer_of(charge: &Charge) -> HolderRef {
    match (charge.flow, charge.account) {
        (Flow::Direct, Some(account)) => HolderRef::Account(account),
        _ => HolderRef::Platform,
    }
}

#[cfg(test)]
mod design_numbers {
    //! The model against the worked numbers of the design's fund flows, before it is ever
    //! compared with the gateway.

    use super::*;

    fn model() -> Model {
        let policy = PolicyParams {
            fee_percent: 0,
            fee_fixed: 0,
            hold_days: 0,
            platform_pays: None,
            route_percent: 1,
            instant_fee: 0,
            daily_payout_delay_days: None,
        };
        let mut model = Model::new(policy, 0);
        for platform_managed in [true, false] {
            model.add_account(Account {
                id: String::new(),
                platform_managed,
                card_payments: true,
                transfers: true,
                payouts_enabled: true,
                bank_fails: false,
                bank_errored: false,
                card: None,
            });
        }
        model
    }

    fn net(model: &Model, holder: HolderRef) -> i64 {
        model.balance(holder, Slot::Available) + model.balance(holder, Slot::Pending)
    }

    #[test]
    fn a_destination_charge_with_an_application_fee() {
        let mut model = model();
        let (_, made) = model.charge(
            Flow::Destination,
            Some(0),
            10000,
            Some(123),
            None,
            None,
            true,
            Card::Visa,
        );
        assert_eq!(made.map(|made| made.processing_fee), Ok(320));
        assert_eq!(net(&model, HolderRef::Account(0)), 9877);
        assert_eq!(net(&model, HolderRef::Platform), -197);
        assert_eq!(net(&model, HolderRef::Gateway), 320);
        assert_eq!(model.balance(HolderRef::Account(0), Slot::Pending), 9877);
    }

    #[test]
    fn a_destination_charge_with_a_transfer_amount_has_the_same_nets() {
        let mut model = model();
        let (_, made) = model.charge(
            Flow::Destination,
            Some(0),
            10000,
            None,
            Some(9877),
            None,
            true,
            Card::Visa,
        );
        assert_eq!(made.map(|made| made.application_fee), Ok(None));
        assert_eq!(net(&model, HolderRef::Account(0)), 9877);
        assert_eq!(net(&model, HolderRef::Platform), -197);
    }

    #[test]
    fn a_direct_charge_on_a_standard_account() {
        let mut model = model();
        let (_, made) = model.charge(
            Flow::Direct,
            Some(1),
            1000,
            Some(200),
            None,
            None,
            true,
            Card::Visa,
        );
        assert_eq!(made.map(|made| made.processing_fee), Ok(59));
        assert_eq!(net(&model, HolderRef::Account(1)), 741);
        assert_eq!(net(&model, HolderRef::Platform), 200);
    }

    #[test]
    fn separate_charges_and_transfers_drawn_on_the_charge() {
        let mut model = model();
        let (charge, _) = model.charge(
            Flow::Separate,
            None,
            10000,
            None,
            None,
            None,
            true,
            Card::Visa,
        );
        let charge = charge.expect("charge");
        assert!(model.transfer(0, 7000, Some(charge)).is_ok());
        assert!(model.transfer(1, 2000, Some(charge)).is_ok());
        assert_eq!(net(&model, HolderRef::Platform), 680);
        // Without a source the platform's available balance must cover it: none is yet.
        assert_eq!(model.transfer(0, 1, None), Err(INSUFFICIENT));
    }

    #[test]
    fn a_refund_with_both_flags_takes_from_where_the_money_went() {
        let mut model = model();
        let (charge, _) = model.charge(
            Flow::Destination,
            Some(0),
            2000,
            Some(1000),
            None,
            None,
            true,
            Card::AvailableAtOnce,
        );
        let charge = charge.expect("charge");
        let (account, platform) = (
            net(&model, HolderRef::Account(0)),
            net(&model, HolderRef::Platform),
        );
        assert_eq!(model.refund(charge, Some(1500), true, true, false), Ok(()));
        assert_eq!(net(&model, HolderRef::Account(0)) - account, -750);
        // The platform refunds 1500, gets 1500 back from the reversal, returns 750 of fee.
        assert_eq!(net(&model, HolderRef::Platform) - platform, -750);
    }

    #[test]
    fn a_dispute_takes_the_amount_and_the_fee_and_a_win_returns_the_amount() {
        let mut model = model();
        let (_, made) = model.charge(
            Flow::Separate,
            None,
            10000,
            None,
            None,
            None,
            true,
            Card::Disputes,
        );
        let dispute = made.expect("charge").dispute.expect("dispute");
        assert_eq!(model.available(HolderRef::Platform), -11500);
        assert_eq!(model.close_dispute(dispute, true), Ok(()));
        assert_eq!(model.available(HolderRef::Platform), -1500);
        assert_eq!(model.close_dispute(dispute, false), Err(INVALID));
    }
}
