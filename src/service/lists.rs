//! The platform-wide lists and views — charges, transfers, disputes, the platform's balance
//! and its negative accounts — each read within the caller's scope: with Connect-Account, a
//! list reads the account's own index, so a page is never a scan of the whole platform for
//! the few objects that are the account's.

use super::balances::BalanceView;
use super::ledger_check::{report, LedgerReport};
use super::negative_balances::NegativeBalance;
use super::{Caller, Page, PageRequest, ServiceError, Services};
use crate::domain::charges::{Charge, Transfer};
use crate::domain::disputes::{Dispute, DisputeStatus};
use crate::ids::AccountId;
use crate::ledger::{Holder, LedgerAudit};

impl Services {
    /// Charges, newest first: of one account (direct or paying it) when one is named or the
    /// request acts as one, optionally of one transfer group.
    pub fn charges(
        &self,
        caller: &Caller,
        account: Option<AccountId>,
        transfer_group: Option<String>,
        request: &PageRequest,
    ) -> Result<Page<Charge>, ServiceError> {
        let account = self.scoped_account_filter(caller, account, "account")?;
        match (account, transfer_group) {
            (Some(account), group) => self.page_where(
                caller,
                &format!("charges_acct:{account}"),
                request,
                |charge: &Charge| group.is_none() || charge.transfer_group == group,
            ),
            (None, Some(group)) => self.page(caller, &format!("charges_group:{group}"), request),
            (None, None) => self.page(caller, "charges", request),
        }
    }

    /// Transfers, newest first: to one account when one is named or the request acts as
    /// one, optionally of one transfer group.
    pub fn transfers(
        &self,
        caller: &Caller,
        destination: Option<AccountId>,
        transfer_group: Option<String>,
        request: &PageRequest,
    ) -> Result<Page<Transfer>, ServiceError> {
        let destination = self.scoped_account_filter(caller, destination, "destination")?;
        match (destination, transfer_group) {
            (Some(account), group) => self.page_where(
                caller,
                &format!("transfers_dest:{account}"),
                request,
                |transfer: &Transfer| group.is_none() || transfer.transfer_group == group,
            ),
            (None, Some(group)) => self.page(caller, &format!("transfers_group:{group}"), request),
            (None, None) => self.page(caller, "transfers", request),
        }
    }

    /// Disputes, newest first, optionally in one status. Disputes are few, so a request
    /// acting as an account reads the platform's list and keeps the account's.
    pub fn disputes(
        &self,
        caller: &Caller,
        status: Option<DisputeStatus>,
        request: &PageRequest,
    ) -> Result<Page<Dispute>, ServiceError> {
        self.page(caller, &Services::dispute_index(status), request)
    }

    /// The platform's own balance. Its reserve sums the negative balances of every
    /// account, so a request acting as one account is refused it.
    pub fn platform_balance(&self, caller: &Caller) -> Result<BalanceView, ServiceError> {
        caller.require_platform(
            "The platform's balance is the platform's; ask for balance to see the account's",
        )?;
        if caller.platform.standalone.is_some() {
            return self.standalone_balance(&caller.platform.id);
        }
        self.balance(&Holder::Platform(caller.platform.id.clone()))
    }

    /// The ledger check within the caller's scope: the platform's whole ledger, or, acting
    /// as an account, the entries that touch the account, each balanced, and the account's
    /// stored balances equal to its postings.
    pub fn ledger_check_in_scope(&self, caller: &Caller) -> Result<LedgerReport, ServiceError> {
        let Some(account) = caller.scope_account() else {
            return self.ledger_check(caller);
        };
        let holder = Holder::Account(account.clone());
        let mut audit = LedgerAudit::new();
        self.store
            .for_each_entry(Some(&caller.platform_key()), |entry| {
                if entry
                    .postings()
                    .any(|posting| posting.account.holder == holder)
                {
                    audit.add_entry(&entry);
                }
            })?;
        for (ledger_account, amount) in self.store.balances_of(&holder)? {
            audit.add_stored_balance(ledger_account, amount);
        }
        Ok(report(
            audit.finish(|ledger_account| ledger_account.holder == holder),
        ))
    }

    /// The accounts below zero: all of the platform's, or only the Connect-Account.
    pub fn negative_accounts_in_scope(
        &self,
        caller: &Caller,
    ) -> Result<Vec<NegativeBalance>, ServiceError> {
        let mut negative = self.negative_accounts(&caller.platform.id)?;
        if let Some(account) = caller.scope_account() {
            negative.retain(|balance| &balance.account == account);
        }
        Ok(negative)
    }
}
