//! A connected account as stored: who it is, its onboarding state and details, its payout
//! schedule and external accounts, and the transitions that change them.
//!
//! The type and country never change after creation. Every transition that can change what the
//! API shows returns `OnboardingChanges`, which the service turns into `account.updated` and
//! `capability.updated` events.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::accounts::{AccountType, BusinessType, NewAccount};
use crate::domain::capabilities::{Capability, CapabilityName, CapabilityStatus};
use crate::domain::connections::{Connection, ConnectionScope};
use crate::domain::countries::Country;
use crate::domain::details::Details;
use crate::domain::email::Email;
use crate::domain::external_account_records::{ExternalAccount, ExternalAccountView};
use crate::domain::external_accounts::{
    assign_default_for_currency, automatic_payout_destination, check_deletion,
    check_room_for_external_account, ExternalAccountError, ExternalAccountStatus,
    ExternalAccountSummary,
};
use crate::domain::metadata::{Metadata, MetadataError};
use crate::domain::payout_schedule::PayoutInterval;
use crate::domain::payout_schedule::PayoutSchedule;
use crate::domain::requirements::{
    Onboarding, OnboardingChanges, RequirementsError, RequirementsView,
};
use crate::ids::AccountId;
use crate::money::Currency;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    id: AccountId,
    account_type: AccountType,
    country: Country,
    email: Option<Email>,
    default_currency: Currency,
    onboarding: Onboarding,
    details: Details,
    payout_schedule: PayoutSchedule,
    external_accounts: Vec<ExternalAccount>,
    metadata: Metadata,
    created: DateTime<Utc>,
    /// Set on a STANDARD account that a standalone account connected by authorization.
    #[serde(default)]
    connection: Option<Connection>,
}

impl AccountRecord {
    /// A freshly created account: nothing provided yet, the deadline running from `now`.
    pub fn new(
        id: AccountId,
        account: &NewAccount,
        payout_schedule: PayoutSchedule,
        now: DateTime<Utc>,
    ) -> AccountRecord {
        AccountRecord {
            id,
            account_type: account.account_type(),
            country: account.country(),
            email: account.email().cloned(),
            default_currency: account.default_currency(),
            onboarding: Onboarding::new(account, now),
            details: Details::default(),
            payout_schedule,
            external_accounts: Vec::new(),
            metadata: account.metadata().clone(),
            created: now,
            connection: None,
        }
    }

    /// A STANDARD account a standalone account connected: it onboarded itself when it
    /// signed up, so nothing is due and it may take charges at once.
    pub fn connected(
        id: AccountId,
        account: &NewAccount,
        payout_schedule: PayoutSchedule,
        connection: Connection,
        now: DateTime<Utc>,
    ) -> AccountRecord {
        AccountRecord {
            onboarding: Onboarding::verified_elsewhere(account, now),
            connection: Some(connection),
            ..AccountRecord::new(id, account, payout_schedule, now)
        }
    }

    /// The standalone account behind this record, when it was connected by authorization.
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// A connection ended by either side: the record is kept for the ledger, never shown.
    pub fn is_disconnected(&self) -> bool {
        self.connection
            .as_ref()
            .is_some_and(|connection| connection.disconnected.is_some())
    }

    /// Ends the connection; false when there is none or it already ended.
    pub fn disconnect(&mut self, now: DateTime<Utc>) -> bool {
        match &mut self.connection {
            Some(connection) if connection.disconnected.is_none() => {
                connection.disconnected = Some(now);
                true
            }
            _ => false,
        }
    }

    /// Whether the platform may only read through this connection.
    pub fn is_read_only(&self) -> bool {
        self.connection
            .as_ref()
            .is_some_and(|connection| connection.scope == ConnectionScope::ReadOnly)
    }

    pub fn id(&self) -> &AccountId {
        &self.id
    }
    pub fn account_type(&self) -> AccountType {
        self.account_type
    }
    pub fn country(&self) -> Country {
        self.country
    }
    pub fn email(&self) -> Option<&Email> {
        self.email.as_ref()
    }
    pub fn business_type(&self) -> Option<BusinessType> {
        self.onboarding.business_type()
    }
    pub fn default_currency(&self) -> Currency {
        self.default_currency
    }
    pub fn details(&self) -> &Details {
        &self.details
    }
    pub fn payout_schedule(&self) -> &PayoutSchedule {
        &self.payout_schedule
    }
    pub fn external_accounts(&self) -> &[ExternalAccount] {
        &self.external_accounts
    }
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
    pub fn created(&self) -> DateTime<Utc> {
        self.created
    }

    pub fn requirements(&self) -> RequirementsView {
        self.onboarding.requirements()
    }
    /// Both capabilities, CARD_PAYMENTS first.
    pub fn capabilities(&self) -> Vec<Capability> {
        self.onboarding.capabilities()
    }
    pub fn card_payments_active(&self) -> bool {
        self.onboarding
            .capability(CapabilityName::CardPayments)
            .status
            == CapabilityStatus::Active
    }
    pub fn transfers_active(&self) -> bool {
        self.onboarding.capability(CapabilityName::Transfers).status == CapabilityStatus::Active
    }
    pub fn charges_enabled(&self) -> bool {
        self.onboarding.charges_enabled()
    }
    pub fn payouts_enabled(&self) -> bool {
        self.onboarding.payouts_enabled()
    }
    pub fn details_submitted(&self) -> bool {
        self.onboarding.details_submitted()
    }
    pub fn is_disabled(&self) -> bool {
        self.onboarding.is_disabled()
    }
    pub fn current_deadline(&self) -> Option<DateTime<Utc>> {
        self.onboarding.requirements().current_deadline
    }

    /// A `ba_…` or `card_…` of this account.
    pub fn external_account(&self, id: &str) -> Option<&ExternalAccount> {
        self.external_accounts
            .iter()
            .find(|account| account.id() == id)
    }

    /// The currency's default external account, whatever its status.
    pub fn default_external_account(&self, currency: Currency) -> Option<&ExternalAccount> {
        self.external_accounts
            .iter()
            .find(|account| account.currency() == currency && account.default_for_currency())
    }

    /// Where automatic payouts in `currency` go: the default, unless it is ERRORED.
    pub fn automatic_payout_destination(&self, currency: Currency) -> Option<&ExternalAccount> {
        let id = automatic_payout_destination(&self.summaries(), currency)?;
        self.external_account(&id)
    }

    fn summaries(&self) -> Vec<ExternalAccountSummary<String>> {
        self.external_accounts
            .iter()
            .map(ExternalAccount::summary)
            .collect()
    }

    pub fn change_email(&mut self, email: Email) -> bool {
        let changed = self.email.as_ref() != Some(&email);
        self.email = Some(email);
        changed
    }

    /// Sets, overwrites and (with empty values) unsets metadata keys.
    pub fn merge_metadata(
        &mut self,
        update: BTreeMap<String, String>,
    ) -> Result<bool, MetadataError> {
        let merged = self.metadata.merged_with(update)?;
        let changed = merged != self.metadata;
        self.metadata = merged;
        Ok(changed)
    }

    /// Accepts validated details: onboarding moves on and the stored profile takes the newer
    /// values. Nothing changes when the details do not fit the account.
    pub fn submit_details(
        &mut self,
        details: &Details,
        now: DateTime<Utc>,
    ) -> Result<OnboardingChanges, RequirementsError> {
        let mut changes = self.onboarding.submit_details(details, now)?;
        let overlaid = self.details.overlaid_with(details);
        changes.account_updated |= overlaid != self.details;
        self.details = overlaid;
        Ok(changes)
    }

    /// Adds a bank account or debit card; the first in a currency becomes its default, a later
    /// one only when asked. Satisfies the `external_account` requirement.
    pub fn add_external_account(
        &mut self,
        mut added: ExternalAccount,
        default_requested: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<OnboardingChanges, ExternalAccountError> {
        check_room_for_external_account(self.external_accounts.len())?;
        let assignment =
            assign_default_for_currency(&self.summaries(), added.currency(), default_requested);
        if let Some(previous) = assignment.no_longer_default {
            for account in &mut self.external_accounts {
                if account.id() == previous {
                    account.set_default_for_currency(false);
                }
            }
        }
        added.set_default_for_currency(assignment.new_is_default);
        self.external_accounts.push(added);
        let mut changes = self.onboarding.external_account_added(now);
        changes.account_updated = true;
        Ok(changes)
    }

    /// Makes an external account its currency's default (the previous default stops being
    /// one) and names a bank account's holder; true when anything changed, false also when
    /// the id is not this account's. A default cannot be unset, only replaced.
    pub fn update_external_account(
        &mut self,
        id: &str,
        make_default: Option<bool>,
        account_holder_name: Option<String>,
    ) -> Result<bool, ExternalAccountError> {
        let Some(current) = self.external_account(id).cloned() else {
            return Ok(false);
        };
        let mut updated = current.clone();
        if let Some(name) = account_holder_name {
            updated.set_account_holder_name(name)?;
        }
        match make_default {
            Some(false) if current.default_for_currency() => {
                return Err(ExternalAccountError::DefaultCannotBeUnset {
                    currency: current.currency(),
                })
            }
            Some(true) if !current.default_for_currency() => {
                for other in &mut self.external_accounts {
                    if other.currency() == current.currency() && other.default_for_currency() {
                        other.set_default_for_currency(false);
                    }
                }
                updated.set_default_for_currency(true);
            }
            _ => {}
        }
        let changed = updated != current;
        if let Some(slot) = self
            .external_accounts
            .iter_mut()
            .find(|account| account.id() == id)
        {
            *slot = updated;
        }
        Ok(changed)
    }

    /// Removes an external account unless the default-per-currency rules forbid it (see
    /// `check_deletion`); `None` when the id is not this account's.
    pub fn delete_external_account(
        &mut self,
        id: &str,
    ) -> Result<Option<ExternalAccount>, ExternalAccountError> {
        let Some(position) = self
            .external_accounts
            .iter()
            .position(|account| account.id() == id)
        else {
            return Ok(None);
        };
        let automatic_payouts = self.payout_schedule.interval() != PayoutInterval::Manual;
        let summaries = self.summaries();
        let deleting = self.external_accounts[position].summary();
        check_deletion(&summaries, &deleting, automatic_payouts)?;
        Ok(Some(self.external_accounts.remove(position)))
    }

    /// Records a payout's outcome on its destination; false when the id is not this account's.
    pub fn set_external_account_status(&mut self, id: &str, status: ExternalAccountStatus) -> bool {
        match self
            .external_accounts
            .iter_mut()
            .find(|account| account.id() == id)
        {
            Some(account) => {
                account.set_status(status);
                true
            }
            None => false,
        }
    }

    pub fn change_payout_schedule(&mut self, schedule: PayoutSchedule) -> bool {
        let changed = self.payout_schedule != schedule;
        self.payout_schedule = schedule;
        changed
    }

    /// Past the deadline, what is still due becomes past due and the account is disabled.
    pub fn on_clock(&mut self, now: DateTime<Utc>) -> OnboardingChanges {
        self.onboarding.on_clock(now)
    }

    /// The account as event data shows it (no personal details, no account-number hashes).
    pub fn public_view(&self) -> AccountView<'_> {
        AccountView {
            id: &self.id,
            account_type: self.account_type,
            country: self.country,
            email: self.email.as_ref().map(Email::as_str),
            business_type: self.business_type(),
            default_currency: self.default_currency,
            charges_enabled: self.charges_enabled(),
            payouts_enabled: self.payouts_enabled(),
            details_submitted: self.details_submitted(),
            capabilities: self.capabilities(),
            requirements: self.requirements(),
            payout_schedule: self.payout_schedule,
            external_accounts: self
                .external_accounts
                .iter()
                .map(ExternalAccount::public_view)
                .collect(),
            metadata: &self.metadata,
            created: self.created,
        }
    }
}

/// An account as event data shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountView<'a> {
    pub id: &'a AccountId,
    #[serde(rename = "type")]
    pub account_type: AccountType,
    pub country: Country,
    pub email: Option<&'a str>,
    pub business_type: Option<BusinessType>,
    pub default_currency: Currency,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub details_submitted: bool,
    pub capabilities: Vec<Capability>,
    pub requirements: RequirementsView,
    pub payout_schedule: PayoutSchedule,
    pub external_accounts: Vec<ExternalAccountView<'a>>,
    pub metadata: &'a Metadata,
    pub created: DateTime<Utc>,
}

/// The data of a `capability.updated` event.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CapabilityUpdate<'a> {
    pub account: &'a AccountId,
    pub name: CapabilityName,
    pub requested: bool,
    pub status: CapabilityStatus,
}
