//! The onboarding state machine: which requirement fields are due, deadlines, past-due disabling,
//! and the capability statuses and enablement flags derived from them.
//!
//! The state is what has been provided (not the values: those are stored with the account) plus
//! the deadline and disabled reason. Everything else is derived, so it cannot drift:
//! - `currently_due` = `tos_acceptance.date` and the fields of every requested capability
//!   (see `capabilities`), minus what was provided.
//! - `eventually_due` = `currently_due` plus fields needed later at volume (a US individual's
//!   full `individual.id_number`), minus what was provided; it always contains `currently_due`.
//! - `past_due` ⊆ `currently_due`: fields still missing when `current_deadline` passed. As in
//!   Stripe, a past-due field stays listed in `currently_due` too.
//! - `pending_verification` is always empty: verification is immediate and deterministic.
//!
//! Transitions (`submit_details`, `external_account_added`, `on_clock`) return the changes a
//! caller turns into `account.updated` and `capability.updated` events.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::accounts::{BusinessType, NewAccount};
use crate::domain::capabilities::{
    capability_required_fields, capability_status, Capability, CapabilityName, CapabilityStatus,
};
use crate::domain::countries::Country;
use crate::domain::requirement_fields::{DisabledReason, RequirementField};

mod transitions;
pub use transitions::{CapabilityChange, OnboardingChanges, RequirementsError};

/// How long a new account has to provide what is currently due before it is disabled.
pub const ONBOARDING_DEADLINE_DAYS: i64 = 14;

/// The account's `requirements` as the API shows them; lists are sorted by field name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequirementsView {
    pub currently_due: Vec<RequirementField>,
    pub eventually_due: Vec<RequirementField>,
    pub past_due: Vec<RequirementField>,
    pub pending_verification: Vec<RequirementField>,
    pub current_deadline: Option<DateTime<Utc>>,
    pub disabled_reason: Option<DisabledReason>,
}

/// Everything onboarding decides about an account, for before/after comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnboardingSnapshot {
    pub business_type: Option<BusinessType>,
    pub requirements: RequirementsView,
    pub capabilities: Vec<Capability>,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub details_submitted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Onboarding {
    country: Country,
    business_type: Option<BusinessType>,
    requested_capabilities: BTreeSet<CapabilityName>,
    provided: BTreeSet<RequirementField>,
    past_due: BTreeSet<RequirementField>,
    current_deadline: Option<DateTime<Utc>>,
    disabled_reason: Option<DisabledReason>,
}

impl Onboarding {
    /// The state of a freshly created account: everything due, deadline `now` + 14 days.
    pub fn new(account: &NewAccount, now: DateTime<Utc>) -> Onboarding {
        let mut onboarding = Onboarding {
            country: account.country(),
            business_type: account.business_type(),
            requested_capabilities: account.requested_capabilities().clone(),
            provided: BTreeSet::new(),
            past_due: BTreeSet::new(),
            current_deadline: None,
            disabled_reason: None,
        };
        onboarding.settle(now);
        onboarding
    }

    /// The state of an account whose holder was verified when it signed up on its own (a
    /// standalone account): every required field provided, nothing due, no deadline.
    pub fn verified_elsewhere(account: &NewAccount, now: DateTime<Utc>) -> Onboarding {
        let mut onboarding = Onboarding::new(account, now);
        onboarding.provided = onboarding.required_fields();
        onboarding.settle(now);
        onboarding
    }

    pub fn business_type(&self) -> Option<BusinessType> {
        self.business_type
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_reason.is_some()
    }

    fn required_fields(&self) -> BTreeSet<RequirementField> {
        let mut fields = BTreeSet::from([RequirementField::TosAcceptanceDate]);
        for name in &self.requested_capabilities {
            fields.extend(capability_required_fields(
                *name,
                self.business_type,
                self.country,
            ));
        }
        fields
    }

    fn currently_due(&self) -> BTreeSet<RequirementField> {
        self.required_fields()
            .difference(&self.provided)
            .copied()
            .collect()
    }

    fn eventually_due(&self) -> BTreeSet<RequirementField> {
        let mut fields = self.required_fields();
        if self.business_type == Some(BusinessType::Individual) && self.country.is_united_states() {
            fields.insert(RequirementField::IndividualIdNumber);
        }
        fields.difference(&self.provided).copied().collect()
    }

    pub fn requirements(&self) -> RequirementsView {
        RequirementsView {
            currently_due: self.currently_due().into_iter().collect(),
            eventually_due: self.eventually_due().into_iter().collect(),
            past_due: self.past_due.iter().copied().collect(),
            pending_verification: Vec::new(),
            current_deadline: self.current_deadline,
            disabled_reason: self.disabled_reason,
        }
    }

    pub fn capability(&self, name: CapabilityName) -> Capability {
        let requested = self.requested_capabilities.contains(&name);
        let required = capability_required_fields(name, self.business_type, self.country);
        let status = capability_status(requested, self.is_disabled(), &required, &self.provided);
        Capability {
            name,
            requested,
            status,
        }
    }

    /// Both capabilities, CARD_PAYMENTS first.
    pub fn capabilities(&self) -> Vec<Capability> {
        CapabilityName::ALL
            .into_iter()
            .map(|name| self.capability(name))
            .collect()
    }

    pub fn charges_enabled(&self) -> bool {
        self.capability(CapabilityName::CardPayments).status == CapabilityStatus::Active
    }

    pub fn payouts_enabled(&self) -> bool {
        self.capability(CapabilityName::Transfers).status == CapabilityStatus::Active
            && self.provided.contains(&RequirementField::ExternalAccount)
    }

    pub fn details_submitted(&self) -> bool {
        self.currently_due().is_empty()
    }

    pub fn snapshot(&self) -> OnboardingSnapshot {
        OnboardingSnapshot {
            business_type: self.business_type,
            requirements: self.requirements(),
            capabilities: self.capabilities(),
            charges_enabled: self.charges_enabled(),
            payouts_enabled: self.payouts_enabled(),
            details_submitted: self.details_submitted(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts::{AccountType, NewAccountInput};
    use crate::domain::details::{AddressInput, Details, DetailsInput, IndividualInput};
    use CapabilityName::{CardPayments, Transfers};
    use CapabilityStatus::{Active, Inactive};

    pub(super) fn at(day: u32) -> DateTime<Utc> {
        let text = format!("2026-11-{day:02}T00:00:00Z");
        DateTime::parse_from_rfc3339(&text).expect("time").to_utc()
    }

    pub(super) fn onboarding(
        account_type: AccountType,
        business_type: Option<BusinessType>,
        country: &str,
        capabilities: Option<Vec<CapabilityName>>,
    ) -> Onboarding {
        let country = Country::parse(country).expect("country");
        let input = NewAccountInput {
            account_type,
            country,
            email: None,
            business_type,
            default_currency: None,
            requested_capabilities: capabilities,
            metadata: None,
        };
        let account = NewAccount::parse(input, country).expect("account");
        Onboarding::new(&account, at(1))
    }

    pub(super) fn us_individual() -> Onboarding {
        onboarding(
            AccountType::Custom,
            Some(BusinessType::Individual),
            "US",
            None,
        )
    }

    pub(super) fn names(fields: &[RequirementField]) -> Vec<&'static str> {
        fields.iter().map(|field| field.as_str()).collect()
    }

    pub(super) fn statuses(onboarding: &Onboarding) -> [CapabilityStatus; 2] {
        [
            onboarding.capability(CardPayments).status,
            onboarding.capability(Transfers).status,
        ]
    }

    pub(super) fn submit(
        onboarding: &mut Onboarding,
        input: DetailsInput,
        now: DateTime<Utc>,
    ) -> OnboardingChanges {
        let details = Details::parse(input, onboarding.country, now).expect("details");
        onboarding.submit_details(&details, now).expect("submit")
    }

    pub(super) fn profile() -> DetailsInput {
        let business_url = Some("https://jenny.example".into());
        let mcc = Some("5734".into());
        DetailsInput {
            business_url,
            mcc,
            tos_acceptance: Some(true),
            ..DetailsInput::default()
        }
    }

    pub(super) fn person() -> DetailsInput {
        let address = AddressInput {
            line1: Some("510 Townsend St".into()),
            city: Some("San Francisco".into()),
            postal_code: Some("94103".into()),
            ..AddressInput::default()
        };
        let individual = IndividualInput {
            first_name: Some("Jenny".into()),
            last_name: Some("Rosen".into()),
            dob_day: Some(1),
            dob_month: Some(1),
            dob_year: Some(1990),
            ssn_last_4: Some("0000".into()),
            id_number: None,
            address: Some(address),
        };
        DetailsInput {
            individual: Some(individual),
            ..DetailsInput::default()
        }
    }

    pub(super) fn change(
        name: CapabilityName,
        from: CapabilityStatus,
        to: CapabilityStatus,
    ) -> CapabilityChange {
        CapabilityChange { name, from, to }
    }

    #[test]
    fn currently_due_at_creation_by_type_business_type_country_and_capabilities() {
        use AccountType::{Custom, Express, Standard};
        use BusinessType::{Company, Individual, NonProfit};
        // (type, business type, country, requested, currently due count, eventually-only fields)
        let cases = [
            (
                Custom,
                Some(Individual),
                "US",
                None,
                13,
                vec!["individual.id_number"],
            ),
            (
                Express,
                Some(Individual),
                "US",
                None,
                13,
                vec!["individual.id_number"],
            ),
            (
                Custom,
                Some(Individual),
                "GB",
                Some(vec![Transfers]),
                13,
                vec![],
            ),
            (
                Express,
                Some(Company),
                "US",
                Some(vec![CardPayments]),
                8,
                vec![],
            ),
            (Custom, Some(NonProfit), "FR", None, 9, vec![]),
            (Standard, None, "US", None, 5, vec![]),
            (Custom, Some(Company), "FR", Some(vec![]), 1, vec![]),
        ];
        for (account_type, business_type, country, requested, due_count, eventually_only) in cases {
            let state = onboarding(account_type, business_type, country, requested).requirements();
            assert_eq!(
                state.currently_due.len(),
                due_count,
                "{account_type} {business_type:?} {country}"
            );
            let extra: Vec<RequirementField> = state
                .eventually_due
                .iter()
                .filter(|field| !state.currently_due.contains(field))
                .copied()
                .collect();
            assert_eq!(
                names(&extra),
                eventually_only,
                "{account_type} {business_type:?} {country}"
            );
            assert_eq!(state.current_deadline, Some(at(15)));
        }
        let standard = onboarding(Standard, None, "US", Some(vec![CardPayments])).requirements();
        assert_eq!(
            names(&standard.currently_due),
            [
                "business_profile.mcc",
                "business_profile.url",
                "business_type",
                "external_account",
                "tos_acceptance.date"
            ]
        );
    }

    #[test]
    fn an_unrequested_capability_stays_inactive() {
        let mut state = onboarding(
            AccountType::Express,
            Some(BusinessType::Individual),
            "US",
            Some(vec![CardPayments]),
        );
        submit(&mut state, profile(), at(2));
        submit(&mut state, person(), at(2));
        state.external_account_added(at(2));
        assert_eq!(statuses(&state), [Active, Inactive]);
        assert!(!state.capability(Transfers).requested);
        assert!(state.charges_enabled() && !state.payouts_enabled() && state.details_submitted());
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut state = us_individual();
        submit(&mut state, profile(), at(2));
        let json = serde_json::to_string(&state).expect("serialize");
        assert_eq!(
            serde_json::from_str::<Onboarding>(&json).expect("deserialize"),
            state
        );
    }
}
