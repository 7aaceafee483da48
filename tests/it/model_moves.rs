//! The reference model's refunds, transfers and reversals, payouts, debits and the passing
//! of time: the money coming back from where it went, leaving for the bank, and becoming
//! available.

use std::collections::BTreeMap;

use crate::model_reference::{
    bearer_of, gateway_instant_fee, share_in_proportion, DisputeStatus, Flow, HolderRef, Model,
    Outcome, Payout, PayoutStatus, Release, Slot, DAY_MICROS, FORBIDDEN, INSUFFICIENT, INVALID,
    RESTRICTED,
};

impl Model {
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
