//! External accounts: bank accounts and debit cards as payout destinations, added, updated
//! and deleted by the platform for CUSTOM accounts (STANDARD and EXPRESS holders add theirs on
//! the hosted page).

use serde::{Deserialize, Serialize};

use super::accounts::input_param;
use super::idempotency::{self, Prepared};
use super::{Caller, Draft, ServiceError, Services};
use crate::domain::account_record::AccountRecord;
use crate::domain::bank_accounts::{BankAccountInput, NewBankAccount};
use crate::domain::debit_cards::NewDebitCard;
use crate::domain::external_account_records::{BankAccount, DebitCard, ExternalAccount};
use crate::domain::external_accounts::{parse_account_holder_name, ExternalAccountError};
use crate::domain::permissions::{check_may_manage_external_accounts, Actor};
use crate::domain::requirements::OnboardingChanges;
use crate::ids::{AccountId, BankAccountId, CardId};
use crate::store::{Key, Versioned};

/// Bank account numbers are hashed with this prefix and the platform's id.
const BANK_ACCOUNT_SALT_PREFIX: &str = "tollgate-bank-account:";

/// What is stored under a `ba_…` or `card_…` id: the account that holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExternalAccountOwner {
    pub account: AccountId,
}

/// A parsed `addBankAccount` input.
#[derive(Debug, Clone)]
pub struct NewBankAccountRequest {
    pub account: AccountId,
    pub bank: BankAccountInput,
    pub default_for_currency: Option<bool>,
}

/// A parsed `addDebitCard` input.
#[derive(Debug, Clone)]
pub struct NewDebitCardRequest {
    pub account: AccountId,
    pub token: String,
    pub default_for_currency: Option<bool>,
}

/// A parsed `updateExternalAccount` input.
#[derive(Debug, Clone)]
pub struct ExternalAccountUpdate {
    pub account: AccountId,
    pub external_account: String,
    pub default_for_currency: Option<bool>,
    pub account_holder_name: Option<String>,
}

fn refused(error: ExternalAccountError) -> ServiceError {
    ServiceError::invalid(input_param(error.param()), error.to_string())
}

fn salt(caller: &Caller) -> Vec<u8> {
    format!("{BANK_ACCOUNT_SALT_PREFIX}{}", caller.platform.id).into_bytes()
}

/// Validates a bank account; errors name `<prefix><field>`.
pub(super) fn parse_bank_account(
    caller: &Caller,
    input: BankAccountInput,
    prefix: &str,
) -> Result<NewBankAccount, ServiceError> {
    NewBankAccount::parse(input, &salt(caller)).map_err(|error| {
        ServiceError::invalid(format!("{prefix}{}", error.param()), error.to_string())
    })
}

impl Services {
    /// `addBankAccount`: the platform adding one through the API.
    pub async fn add_bank_account(
        &self,
        caller: &Caller,
        request: NewBankAccountRequest,
    ) -> Result<BankAccount, ServiceError> {
        self.add_bank_account_by(caller, request, Actor::Platform)
            .await
    }

    /// Adds a bank account for `actor`: the platform (API), or the holder (hosted pages).
    pub async fn add_bank_account_by(
        &self,
        caller: &Caller,
        request: NewBankAccountRequest,
        actor: Actor,
    ) -> Result<BankAccount, ServiceError> {
        let bank = parse_bank_account(caller, request.bank.clone(), "input.")?;
        let id: BankAccountId = self.ids.next();
        let added =
            ExternalAccount::bank_account(id.clone(), bank, self.clock.now(&caller.platform.id));
        let added = self
            .add_external_account(
                caller,
                &request.account,
                added,
                request.default_for_currency,
                actor,
            )
            .await?;
        match added {
            ExternalAccount::BankAccount(bank) => Ok(bank),
            ExternalAccount::DebitCard(_) => {
                Err(ServiceError::internal("bank account", "stored as a card"))
            }
        }
    }

    pub async fn add_debit_card(
        &self,
        caller: &Caller,
        request: NewDebitCardRequest,
    ) -> Result<DebitCard, ServiceError> {
        let now = self.clock.now(&caller.platform.id);
        let found = self.account_named(caller, &request.account, "input.account")?;
        let card = NewDebitCard::from_test_token(
            &request.token,
            found.value.default_currency(),
            now.date_naive(),
        )
        .map_err(|error| ServiceError::invalid(input_param(error.param()), error.to_string()))?;
        let id: CardId = self.ids.next();
        let added = ExternalAccount::debit_card(id, card, now);
        let added = self
            .add_external_account(
                caller,
                &request.account,
                added,
                request.default_for_currency,
                Actor::Platform,
            )
            .await?;
        match added {
            ExternalAccount::DebitCard(card) => Ok(card),
            ExternalAccount::BankAccount(_) => Err(ServiceError::internal(
                "debit card",
                "stored as a bank account",
            )),
        }
    }

    /// Adds for `actor`: the platform (API) only for CUSTOM accounts, the holder (hosted
    /// pages) only for STANDARD and EXPRESS ones.
    async fn add_external_account(
        &self,
        caller: &Caller,
        account: &AccountId,
        added: ExternalAccount,
        default_for_currency: Option<bool>,
        actor: Actor,
    ) -> Result<ExternalAccount, ServiceError> {
        let added_id = added.id().to_owned();
        let operation = "addExternalAccount";
        let account_id = idempotency::run(self, caller, operation, None, &(), || {
            let found = self.account_named(caller, account, "input.account")?;
            check_may_manage_external_accounts(found.value.account_type(), actor).map_err(
                |denied| ServiceError::forbidden(Some("input.account"), denied.to_string()),
            )?;
            let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
            let mut updated = found.value.clone();
            let changes = self.add_external_account_to_draft(
                &mut draft,
                &mut updated,
                added.clone(),
                default_for_currency,
            )?;
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
        self.committed_account(caller, &account_id)?
            .external_account(&added_id)
            .cloned()
            .ok_or_else(|| {
                ServiceError::internal(
                    "external account",
                    format!("{added_id} missing after commit"),
                )
            })
    }

    /// Adds the external account to `account`, with its owner record and the
    /// `account.external_account.created` event; the caller records the account's change.
    pub(super) fn add_external_account_to_draft(
        &self,
        draft: &mut Draft,
        account: &mut AccountRecord,
        added: ExternalAccount,
        default_for_currency: Option<bool>,
    ) -> Result<OnboardingChanges, ServiceError> {
        let changes = account
            .add_external_account(added.clone(), default_for_currency, draft.now())
            .map_err(|error| {
                ServiceError::invalid(input_param(error.param()), error.to_string())
            })?;
        let owner = ExternalAccountOwner {
            account: account.id().clone(),
        };
        draft.insert(added.id(), &owner, &[])?;
        let stored = account
            .external_account(added.id())
            .ok_or_else(|| ServiceError::internal("external account", "not added"))?;
        draft.event(
            &self.ids,
            "account.external_account.created",
            Some(account.id()),
            &stored.public_view(),
        )?;
        Ok(changes)
    }

    /// The account named in `input.account`, when `actor` may manage its external accounts
    /// and `id` is one of them.
    fn account_with_external_account(
        &self,
        caller: &Caller,
        account: &AccountId,
        id: &str,
        actor: Actor,
    ) -> Result<Versioned<AccountRecord>, ServiceError> {
        let found = self.account_named(caller, account, "input.account")?;
        check_may_manage_external_accounts(found.value.account_type(), actor)
            .map_err(|denied| ServiceError::forbidden(Some("input.account"), denied.to_string()))?;
        if found.value.external_account(id).is_none() {
            return Err(ServiceError::not_found(
                "input.externalAccount",
                "external account",
                id,
            ));
        }
        Ok(found)
    }

    /// Makes an external account its currency's default and/or names its holder, with an
    /// `account.external_account.updated` event; nothing is written when nothing changes.
    pub async fn update_external_account(
        &self,
        caller: &Caller,
        request: ExternalAccountUpdate,
    ) -> Result<ExternalAccount, ServiceError> {
        self.update_external_account_by(caller, request, Actor::Platform)
            .await
    }

    /// `update_external_account` for whoever manages the account's external accounts: the
    /// platform of a CUSTOM account, or the holder of an EXPRESS one (its dashboard).
    pub async fn update_external_account_by(
        &self,
        caller: &Caller,
        request: ExternalAccountUpdate,
        actor: Actor,
    ) -> Result<ExternalAccount, ServiceError> {
        let name = request
            .account_holder_name
            .as_deref()
            .map(parse_account_holder_name)
            .transpose()
            .map_err(refused)?;
        let id = request.external_account.as_str();
        let account = &request.account;
        let found = self.account_with_external_account(caller, account, id, actor)?;
        let mut trial = found.value.clone();
        let changes = trial
            .update_external_account(id, request.default_for_currency, name.clone())
            .map_err(refused)?;
        if changes {
            idempotency::run(self, caller, "updateExternalAccount", None, &(), || {
                let found = self.account_with_external_account(caller, account, id, actor)?;
                let mut updated = found.value.clone();
                updated
                    .update_external_account(id, request.default_for_currency, name.clone())
                    .map_err(refused)?;
                let mut draft =
                    Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
                if let (Some(before), Some(after)) = (
                    found.value.external_account(id),
                    updated.external_account(id),
                ) {
                    draft.event_update(
                        &self.ids,
                        "account.external_account.updated",
                        Some(account),
                        &before.public_view(),
                        &after.public_view(),
                    )?;
                }
                self.account_changed(draft, caller, &found, &updated)
            })
            .await?;
        }
        self.committed_account(caller, account.as_ref())?
            .external_account(id)
            .cloned()
            .ok_or_else(|| ServiceError::internal("external account", format!("{id} missing")))
    }

    /// Finishes a change to an account's external accounts: the account's own record and
    /// `account.updated` join `draft`, which commits under the account's id.
    fn account_changed(
        &self,
        mut draft: Draft,
        caller: &Caller,
        found: &Versioned<AccountRecord>,
        updated: &AccountRecord,
    ) -> Result<Prepared, ServiceError> {
        let changes = OnboardingChanges {
            account_updated: true,
            ..OnboardingChanges::default()
        };
        self.record_account_change(&mut draft, &caller.platform_key(), found, updated, &changes)?;
        Ok(Prepared {
            draft,
            object_id: found.value.id().to_string(),
            error: None,
        })
    }

    /// Deletes an external account (see `check_deletion` for which may go), with an
    /// `account.external_account.deleted` event; payouts already sent keep their record of it.
    pub async fn delete_external_account(
        &self,
        caller: &Caller,
        account: &AccountId,
        id: &str,
    ) -> Result<ExternalAccount, ServiceError> {
        let mut deleted = None;
        idempotency::run(self, caller, "deleteExternalAccount", None, &(), || {
            let found = self.account_with_external_account(caller, account, id, Actor::Platform)?;
            let mut updated = found.value.clone();
            let removed = updated
                .delete_external_account(id)
                .map_err(refused)?
                .ok_or_else(|| {
                    ServiceError::not_found("input.externalAccount", "external account", id)
                })?;
            let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
            draft.delete(Key::object(&caller.platform_key(), id));
            draft.event(
                &self.ids,
                "account.external_account.deleted",
                Some(account),
                &removed.public_view(),
            )?;
            deleted = Some(removed);
            self.account_changed(draft, caller, &found, &updated)
        })
        .await?;
        deleted.ok_or_else(|| ServiceError::internal("deleteExternalAccount", "nothing deleted"))
    }

    /// A `ba_…` or `card_…` of the caller's, with the account that holds it.
    pub fn external_account(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Option<(AccountRecord, ExternalAccount)>, ServiceError> {
        let Some(owner) = self.find::<ExternalAccountOwner>(caller, id)? else {
            return Ok(None);
        };
        let Some(account) = self.find::<AccountRecord>(caller, owner.value.account.as_ref())?
        else {
            return Ok(None);
        };
        let external = account.value.external_account(id).cloned();
        Ok(external.map(|external| (account.value, external)))
    }
}
