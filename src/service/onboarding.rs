//! Onboarding through the API: submitted details, payout schedules, and the requirements
//! deadline the scheduler enforces.

use super::accounts::{input_param, DeadlineTimer};
use super::idempotency::{self, Prepared};
use super::{Caller, Draft, ServiceError, Services};
use crate::domain::account_record::AccountRecord;
use crate::domain::details::{Details, DetailsInput};
use crate::domain::payout_schedule::PayoutScheduleInput;
use crate::domain::permissions::check_may_set_payout_schedule;
use crate::domain::requirements::OnboardingChanges;
use crate::ids::{AccountId, PlatformId};
use crate::store::{Condition, Key, Versioned};

impl Services {
    /// Validates the details for the account's country and moves onboarding on.
    pub async fn submit_account_details(
        &self,
        caller: &Caller,
        account: &AccountId,
        input: DetailsInput,
    ) -> Result<AccountRecord, ServiceError> {
        let id = idempotency::run(self, caller, "submitAccountDetails", None, &(), || {
            let found = self.account_named(caller, account, "input.account")?;
            self.prepare_details(caller, &found, &input)
        })
        .await?;
        self.committed_account(caller, &id)
    }

    fn prepare_details(
        &self,
        caller: &Caller,
        found: &Versioned<AccountRecord>,
        input: &DetailsInput,
    ) -> Result<Prepared, ServiceError> {
        let now = self.clock.now(&caller.platform.id);
        let mut account = found.value.clone();
        let details = parse_details(input, &account, now)?;
        let changes = account.submit_details(&details, now).map_err(|error| {
            ServiceError::invalid(input_param(error.param()), error.to_string())
        })?;
        self.prepare_account_change(caller, found, account, &changes)
    }

    /// Sets the payout schedule of an EXPRESS or CUSTOM account; a STANDARD account's holder
    /// manages their own.
    pub async fn update_payout_schedule(
        &self,
        caller: &Caller,
        account: &AccountId,
        input: PayoutScheduleInput,
    ) -> Result<AccountRecord, ServiceError> {
        let id = idempotency::run(self, caller, "updatePayoutSchedule", None, &(), || {
            let found = self.account_named(caller, account, "input.account")?;
            let mut updated = found.value.clone();
            check_may_set_payout_schedule(updated.account_type()).map_err(|denied| {
                ServiceError::forbidden(Some("input.account"), denied.to_string())
            })?;
            let schedule = updated
                .payout_schedule()
                .updated(input, updated.country())
                .map_err(|error| {
                    ServiceError::invalid(input_param(error.param()), error.to_string())
                })?;
            let changed = updated.change_payout_schedule(schedule);
            let changes = OnboardingChanges {
                account_updated: changed,
                capability_changes: Vec::new(),
            };
            self.prepare_account_change(caller, &found, updated, &changes)
        })
        .await?;
        self.committed_account(caller, &id)
    }

    /// A due requirements-deadline timer: what is still due becomes past due and the account
    /// is disabled, with its events. The timer is removed either way.
    pub(super) async fn enforce_requirements_deadline(
        &self,
        platform: &str,
        key: &Key,
        payload: &[u8],
    ) -> Result<(), ServiceError> {
        let platform_id = PlatformId::parse(platform)
            .map_err(|error| ServiceError::internal("deadline timer", error))?;
        let timer: DeadlineTimer = crate::store::from_payload(payload)?;
        idempotency::apply(self, || {
            let now = self.clock.now(&platform_id);
            let mut draft = Draft::new(&platform_id, now);
            draft.condition(
                Condition::Exists { key: key.clone() },
                ServiceError::already_handled("deadline", "already handled"),
            );
            draft.delete(key.clone());
            let Some(found) = self
                .store
                .get_object::<AccountRecord>(platform, timer.account.as_ref())?
            else {
                return Ok(Some(draft));
            };
            let mut account = found.value.clone();
            let changes = account.on_clock(now);
            if !changes.is_empty() {
                self.record_account_change(&mut draft, platform, &found, &account, &changes)?;
            }
            Ok(Some(draft))
        })
        .await
    }
}

/// Validates submitted details for the account's country; errors name `input.<field>`.
pub(super) fn parse_details(
    input: &DetailsInput,
    account: &AccountRecord,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Details, ServiceError> {
    Details::parse(input.clone(), account.country(), now)
        .map_err(|error| ServiceError::invalid(input_param(error.param()), error.to_string()))
}
