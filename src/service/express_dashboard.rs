//! What the Express dashboard shows and changes, for a caller acting as one EXPRESS account
//! (its Connect-Account scope): balances, recent payouts, the payout schedule, external
//! accounts; adding a bank account and choosing the default per currency as the holder.

use super::balances::BalanceView;
use super::external_accounts::NewBankAccountRequest;
use super::idempotency::{self, Prepared};
use super::{Caller, Draft, PageRequest, ServiceError, Services};
use crate::domain::account_record::AccountRecord;
use crate::domain::bank_accounts::BankAccountInput;
use crate::domain::external_account_records::{BankAccount, ExternalAccount};
use crate::domain::login_links::check_express_dashboard;
use crate::domain::payouts::Payout;
use crate::domain::permissions::{check_may_manage_external_accounts, Actor};
use crate::domain::requirements::OnboardingChanges;
use crate::ids::AccountId;
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

    /// The holder makes one of the account's external accounts its currency's default.
    pub async fn set_dashboard_default_external_account(
        &self,
        caller: &Caller,
        external_account: &str,
    ) -> Result<ExternalAccount, ServiceError> {
        let account = self.dashboard_account(caller)?;
        self.make_default_external_account(
            caller,
            account.id(),
            external_account,
            Actor::AccountHolder,
        )
        .await
    }

    /// Makes `external_account` its currency's default for `actor`, with
    /// `account.external_account.updated` and `account.updated`; nothing is written when it
    /// already is the default.
    pub async fn make_default_external_account(
        &self,
        caller: &Caller,
        account: &AccountId,
        external_account: &str,
        actor: Actor,
    ) -> Result<ExternalAccount, ServiceError> {
        let not_found =
            || ServiceError::not_found("externalAccount", "external account", external_account);
        let current = self.account_named(caller, account, "account")?;
        check_may_manage_external_accounts(current.value.account_type(), actor)
            .map_err(|denied| ServiceError::forbidden(Some("account"), denied.to_string()))?;
        let mut trial = current.value.clone();
        if trial.make_default_for_currency(external_account) == Some(false) {
            return trial
                .external_account(external_account)
                .cloned()
                .ok_or_else(not_found);
        }
        idempotency::run(self, caller, "setDefaultExternalAccount", None, &(), || {
            let found = self.account_named(caller, account, "account")?;
            let mut updated = found.value.clone();
            let changed = updated
                .make_default_for_currency(external_account)
                .ok_or_else(not_found)?;
            let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
            let changes = OnboardingChanges {
                account_updated: changed,
                ..OnboardingChanges::default()
            };
            if changed {
                let before = found
                    .value
                    .external_account(external_account)
                    .ok_or_else(not_found)?;
                let after = updated
                    .external_account(external_account)
                    .ok_or_else(not_found)?;
                draft.event_update(
                    &self.ids,
                    "account.external_account.updated",
                    Some(account),
                    &before.public_view(),
                    &after.public_view(),
                )?;
            }
            self.record_account_change(
                &mut draft,
                &caller.platform_key(),
                &found,
                &updated,
                &changes,
            )?;
            Ok(Prepared {
                draft,
                object_id: account.to_string(),
                error: None,
            })
        })
        .await?;
        self.account(caller, account)?
            .value
            .external_account(external_account)
            .cloned()
            .ok_or_else(not_found)
    }
}
