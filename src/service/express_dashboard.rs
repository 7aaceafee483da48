//! What the Express dashboard shows and changes, for a caller acting as one EXPRESS account
//! (its Connect-Account scope): balances, recent payouts, the payout schedule, external
//! accounts; adding a bank account and choosing the default per currency as the holder.

use super::balances::BalanceView;
use super::external_accounts::{ExternalAccountUpdate, NewBankAccountRequest};
use super::{Caller, PageRequest, ServiceError, Services};
use crate::domain::account_record::AccountRecord;
use crate::domain::bank_accounts::BankAccountInput;
use crate::domain::external_account_records::{BankAccount, ExternalAccount};
use crate::domain::login_links::check_express_dashboard;
use crate::domain::payouts::Payout;
use crate::domain::permissions::Actor;
use crate::ledger::Holder;

/// How many of the newest payouts the dashboard lists.
pub const DASHBOARD_RECENT_PAYOUTS: usize = 10;

/// Everything the dashboard page shows.
#[derive(Clone, Debug)]
pub struct DashboardView {
    pub platform_name: String,
    pub account: AccountRecord,
    pub balance: BalanceView,
    /// Newest first, at most [`DASHBOARD_RECENT_PAYOUTS`].
    pub recent_payouts: Vec<Payout>,
}

impl Services {
    /// The account a dashboard caller acts as, which must have an Express dashboard.
    fn dashboard_account(&self, caller: &Caller) -> Result<AccountRecord, ServiceError> {
        let account = caller.scope_account().ok_or_else(|| {
            ServiceError::forbidden(
                Some("Connect-Account"),
                "The Express dashboard acts as one connected account",
            )
        })?;
        let found = self.account(caller, account)?.value;
        check_express_dashboard(found.account_type())
            .map_err(|denied| ServiceError::forbidden(Some("account"), denied.to_string()))?;
        Ok(found)
    }

    pub fn express_dashboard(&self, caller: &Caller) -> Result<DashboardView, ServiceError> {
        let account = self.dashboard_account(caller)?;
        let holder = Holder::Account(account.id().clone());
        let balance = self.balance(&holder)?;
        let request = PageRequest {
            first: DASHBOARD_RECENT_PAYOUTS,
            after: None,
        };
        let recent_payouts = self
            .payouts(caller, Some(&holder), None, &request)?
            .items
            .into_iter()
            .map(|(_, payout)| payout)
            .collect();
        Ok(DashboardView {
            platform_name: caller.platform.name.clone(),
            account,
            balance,
            recent_payouts,
        })
    }

    /// The holder adds a bank account: the same call as `addBankAccount`, as the holder.
    pub async fn add_dashboard_bank_account(
        &self,
        caller: &Caller,
        bank: BankAccountInput,
        default_for_currency: bool,
    ) -> Result<BankAccount, ServiceError> {
        let account = self.dashboard_account(caller)?;
        let request = NewBankAccountRequest {
            account: account.id().clone(),
            bank,
            default_for_currency: Some(default_for_currency),
        };
        self.add_bank_account_by(caller, request, Actor::AccountHolder)
            .await
    }

    /// The holder makes one of the account's external accounts its currency's default
    /// (nothing is written when it already is).
    pub async fn set_dashboard_default_external_account(
        &self,
        caller: &Caller,
        external_account: &str,
    ) -> Result<ExternalAccount, ServiceError> {
        let account = self.dashboard_account(caller)?;
        let request = ExternalAccountUpdate {
            account: account.id().clone(),
            external_account: external_account.to_owned(),
            default_for_currency: Some(true),
            account_holder_name: None,
        };
        self.update_external_account_by(caller, request, Actor::AccountHolder)
            .await
    }
}
