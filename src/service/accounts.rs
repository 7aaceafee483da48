//! Connected accounts: creation under the type and country rules, updates, reads and lists, and
//! the one place account changes become a commit with their events and deadline timer.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::idempotency::{self, IdempotencyKey, Prepared};
use super::{Caller, Draft, Page, PageRequest, ServiceError, Services};
use crate::domain::account_record::{AccountRecord, CapabilityUpdate};
use crate::domain::accounts::{AccountType, NewAccount, NewAccountInput};
use crate::domain::countries::Country;
use crate::domain::email::Email;
use crate::domain::payout_schedule::PayoutSchedule;
use crate::domain::requirements::OnboardingChanges;
use crate::ids::{AccountId, TypedId};
use crate::store::{to_payload, Key, Versioned};

/// The timer kind that enforces an account's requirements deadline.
pub const TIMER_REQUIREMENTS_DEADLINE: &str = "requirements_deadline";

/// A deadline timer's payload: whose deadline it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadlineTimer {
    pub account: AccountId,
}

/// A parsed `createAccount` input.
#[derive(Debug, Clone, Serialize)]
pub struct CreateAccount {
    pub input: NewAccountInput,
    #[serde(skip)]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// A parsed `updateAccount` input: a new email, and metadata to merge (empty values unset).
#[derive(Debug, Clone)]
pub struct AccountUpdate {
    pub account: AccountId,
    pub email: Option<Email>,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// The index of all the platform's accounts, and of those of one type.
pub(super) fn account_indexes(account_type: AccountType) -> Vec<String> {
    vec!["accounts".to_owned(), type_index(account_type)]
}

pub(super) fn type_index(account_type: AccountType) -> String {
    format!("accounts_type:{}", account_type.as_str())
}

/// Prefixes a domain error's parameter with the GraphQL input's path.
pub(super) fn input_param(param: &str) -> String {
    format!("input.{param}")
}

impl Services {
    pub async fn create_account(
        &self,
        caller: &Caller,
        request: CreateAccount,
    ) -> Result<AccountRecord, ServiceError> {
        caller.require_platform("Accounts are created by the platform")?;
        let platform_country = Country::parse(&caller.platform.country)
            .map_err(|error| ServiceError::internal("platform country", error))?;
        let account =
            NewAccount::parse(request.input.clone(), platform_country).map_err(|error| {
                ServiceError::invalid(input_param(error.param()), error.to_string())
            })?;
        let key = request.idempotency_key.as_ref();
        let account = &account;
        let id = idempotency::run_async(self, caller, "createAccount", key, &request, move || {
            self.prepare_account(caller, account)
        })
        .await?;
        self.committed_account(caller, &id)
    }

    async fn prepare_account(
        &self,
        caller: &Caller,
        account: &NewAccount,
    ) -> Result<Prepared, ServiceError> {
        let now = self.clock.now(&caller.platform.id);
        let id: AccountId = self.ids.next();
        let schedule = self.initial_payout_schedule(caller, &id, account).await?;
        let record = AccountRecord::new(id.clone(), account, schedule, now);
        let mut draft = Draft::new(&caller.platform.id, now);
        draft.insert(
            id.as_ref(),
            &record,
            &account_indexes(record.account_type()),
        )?;
        self.schedule_deadline(&mut draft, &caller.platform_key(), None, &record)?;
        super::payout_runs::arm_payout_run(&mut draft, &caller.platform_key(), now)?;
        Ok(Prepared {
            draft,
            object_id: id.to_string(),
            error: None,
        })
    }

    /// The payout schedule a new account starts with: the platform policy's
    /// `payout_schedule` hook where the platform sets schedules, else the country's default.
    async fn initial_payout_schedule(
        &self,
        caller: &Caller,
        id: &AccountId,
        account: &NewAccount,
    ) -> Result<PayoutSchedule, ServiceError> {
        self.policy_payout_schedule(caller, id, account).await
    }

    pub async fn update_account(
        &self,
        caller: &Caller,
        update: AccountUpdate,
    ) -> Result<AccountRecord, ServiceError> {
        let id = idempotency::run(self, caller, "updateAccount", None, &(), || {
            let found = self.account_named(caller, &update.account, "input.account")?;
            let mut account = found.value.clone();
            let mut changed = false;
            if let Some(email) = &update.email {
                changed |= account.change_email(email.clone());
            }
            if let Some(metadata) = &update.metadata {
                changed |= account.merge_metadata(metadata.clone()).map_err(|error| {
                    ServiceError::invalid(input_param(error.param()), error.to_string())
                })?;
            }
            let changes = OnboardingChanges {
                account_updated: changed,
                capability_changes: Vec::new(),
            };
            self.prepare_account_change(caller, &found, account, &changes)
        })
        .await?;
        self.committed_account(caller, &id)
    }

    /// One of the caller's accounts; NOT_FOUND (param `account`) otherwise.
    pub fn account(
        &self,
        caller: &Caller,
        id: &AccountId,
    ) -> Result<Versioned<AccountRecord>, ServiceError> {
        self.account_named(caller, id, "account")
    }

    /// One of the caller's accounts; NOT_FOUND naming `param` otherwise.
    pub fn account_named(
        &self,
        caller: &Caller,
        id: &AccountId,
        param: &str,
    ) -> Result<Versioned<AccountRecord>, ServiceError> {
        self.find_named::<AccountRecord>(caller, id.as_ref(), param, "account")
    }

    /// The caller's accounts, newest first, optionally of one type.
    pub fn accounts(
        &self,
        caller: &Caller,
        account_type: Option<AccountType>,
        request: &PageRequest,
    ) -> Result<Page<AccountRecord>, ServiceError> {
        if let Some(account) = caller.scope_account() {
            // Acting as an account, the list is that account alone.
            let own = self.account(caller, account)?.value;
            let listed = account_type.is_none_or(|wanted| own.account_type() == wanted)
                && request.after.is_none();
            let items = if listed {
                vec![(super::pagination::encode_cursor(own.id().as_ref()), own)]
            } else {
                Vec::new()
            };
            return Ok(Page {
                items,
                has_next_page: false,
                has_previous_page: request.after.is_some(),
            });
        }
        let index = account_type.map_or_else(|| "accounts".to_owned(), type_index);
        self.page(caller, &index, request)
    }

    pub(super) fn committed_account(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<AccountRecord, ServiceError> {
        self.find::<AccountRecord>(caller, id)?
            .map(|found| found.value)
            .ok_or_else(|| ServiceError::internal("account", format!("{id} missing after commit")))
    }

    /// A commit that writes the changed account with the events its changes call for.
    pub(super) fn prepare_account_change(
        &self,
        caller: &Caller,
        before: &Versioned<AccountRecord>,
        after: AccountRecord,
        changes: &OnboardingChanges,
    ) -> Result<Prepared, ServiceError> {
        let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
        self.record_account_change(&mut draft, &caller.platform_key(), before, &after, changes)?;
        Ok(Prepared {
            draft,
            object_id: after.id().to_string(),
            error: None,
        })
    }

    /// Adds the account's update, an `account.updated` event when it changed, a
    /// `capability.updated` event per changed capability, and a timer for a new deadline.
    pub(super) fn record_account_change(
        &self,
        draft: &mut Draft,
        platform_key: &str,
        before: &Versioned<AccountRecord>,
        after: &AccountRecord,
        changes: &OnboardingChanges,
    ) -> Result<(), ServiceError> {
        let id = after.id();
        draft.update(id.as_ref(), after, before.revision)?;
        if changes.account_updated {
            draft.event_update(
                &self.ids,
                "account.updated",
                Some(id),
                &before.value.public_view(),
                &after.public_view(),
            )?;
        }
        for change in &changes.capability_changes {
            let capability = after
                .capabilities()
                .into_iter()
                .find(|capability| capability.name == change.name);
            let now = CapabilityUpdate {
                account: id,
                name: change.name,
                requested: capability.is_some_and(|capability| capability.requested),
                status: change.to,
            };
            let before = CapabilityUpdate {
                status: change.from,
                ..now
            };
            draft.event_update(&self.ids, "capability.updated", Some(id), &before, &now)?;
        }
        self.schedule_deadline(draft, platform_key, before.value.current_deadline(), after)
    }

    /// A timer at the account's deadline, when it has one that was not already scheduled.
    fn schedule_deadline(
        &self,
        draft: &mut Draft,
        platform_key: &str,
        deadline_before: Option<DateTime<Utc>>,
        account: &AccountRecord,
    ) -> Result<(), ServiceError> {
        let Some(deadline) = account.current_deadline() else {
            return Ok(());
        };
        if deadline_before == Some(deadline) {
            return Ok(());
        }
        let key = Key::timer(
            deadline.timestamp_micros(),
            TIMER_REQUIREMENTS_DEADLINE,
            platform_key,
            account.id().as_str(),
        );
        let timer = DeadlineTimer {
            account: account.id().clone(),
        };
        draft.raw(key, to_payload(&timer)?);
        Ok(())
    }
}
