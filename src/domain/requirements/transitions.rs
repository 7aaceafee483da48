//! How onboarding state changes: accepting details, adding an external account, and the clock
//! passing the deadline. Each transition reports what changed so the caller can emit
//! `account.updated` and `capability.updated` events.

use chrono::{DateTime, Duration, Utc};

use super::{Onboarding, OnboardingSnapshot, ONBOARDING_DEADLINE_DAYS};
use crate::domain::accounts::BusinessType;
use crate::domain::capabilities::{CapabilityName, CapabilityStatus};
use crate::domain::details::Details;
use crate::domain::requirement_fields::{DisabledReason, RequirementField};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementsError {
    #[error("businessType is already {current} and cannot change to {given}")]
    BusinessTypeAlreadySet {
        current: BusinessType,
        given: BusinessType,
    },
    #[error(
        "{param} cannot be accepted before the business type is known; send businessType with it"
    )]
    BusinessTypeUnknown { param: &'static str },
    #[error("individual details do not apply to a {business_type} account; send company details instead")]
    IndividualDetailsNotApplicable { business_type: BusinessType },
    #[error(
        "company details do not apply to an INDIVIDUAL account; send individual details instead"
    )]
    CompanyDetailsNotApplicable,
}

impl RequirementsError {
    /// The input parameter at fault, for the API error's `param` (GraphQL input naming).
    pub fn param(&self) -> &'static str {
        match self {
            RequirementsError::BusinessTypeAlreadySet { .. } => "businessType",
            RequirementsError::BusinessTypeUnknown { param } => param,
            RequirementsError::IndividualDetailsNotApplicable { .. } => "individual",
            RequirementsError::CompanyDetailsNotApplicable => "company",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapabilityChange {
    pub name: CapabilityName,
    pub from: CapabilityStatus,
    pub to: CapabilityStatus,
}

/// What a transition changed: `account_updated` asks for one `account.updated` event, each
/// capability change for one `capability.updated` event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OnboardingChanges {
    pub account_updated: bool,
    pub capability_changes: Vec<CapabilityChange>,
}

impl OnboardingChanges {
    pub fn between(before: &OnboardingSnapshot, after: &OnboardingSnapshot) -> OnboardingChanges {
        let capability_changes = before
            .capabilities
            .iter()
            .zip(&after.capabilities)
            .filter(|(old, new)| old.status != new.status)
            .map(|(old, new)| CapabilityChange {
                name: new.name,
                from: old.status,
                to: new.status,
            })
            .collect();
        OnboardingChanges {
            account_updated: before != after,
            capability_changes,
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.account_updated && self.capability_changes.is_empty()
    }

    /// The changes of two transitions made one after the other, as if they were one: each
    /// capability goes from its first status to its last, and drops out if that is no change.
    pub fn then(self, later: OnboardingChanges) -> OnboardingChanges {
        let mut capability_changes = self.capability_changes;
        for change in later.capability_changes {
            match capability_changes
                .iter_mut()
                .find(|earlier| earlier.name == change.name)
            {
                Some(earlier) => earlier.to = change.to,
                None => capability_changes.push(change),
            }
        }
        capability_changes.retain(|change| change.from != change.to);
        capability_changes.sort_by_key(|change| change.name);
        OnboardingChanges {
            account_updated: self.account_updated || later.account_updated,
            capability_changes,
        }
    }
}

impl Onboarding {
    /// Accepts validated details: a business type not yet known, and the fields they provide.
    /// Nothing changes when the details do not fit the account.
    pub fn submit_details(
        &mut self,
        details: &Details,
        now: DateTime<Utc>,
    ) -> Result<OnboardingChanges, RequirementsError> {
        let business_type = self.business_type_after(details)?;
        let before = self.snapshot();
        self.business_type = business_type;
        self.provided.extend(details.provided_fields());
        self.settle(now);
        Ok(OnboardingChanges::between(&before, &self.snapshot()))
    }

    fn business_type_after(
        &self,
        details: &Details,
    ) -> Result<Option<BusinessType>, RequirementsError> {
        let business_type = match (self.business_type, details.business_type()) {
            (Some(current), Some(given)) if current != given => {
                return Err(RequirementsError::BusinessTypeAlreadySet { current, given });
            }
            (current, given) => current.or(given),
        };
        match business_type {
            None if details.individual().is_some() => Err(RequirementsError::BusinessTypeUnknown {
                param: "individual",
            }),
            None if details.company().is_some() => {
                Err(RequirementsError::BusinessTypeUnknown { param: "company" })
            }
            Some(kind) if kind.uses_company_details() && details.individual().is_some() => {
                Err(RequirementsError::IndividualDetailsNotApplicable {
                    business_type: kind,
                })
            }
            Some(BusinessType::Individual) if details.company().is_some() => {
                Err(RequirementsError::CompanyDetailsNotApplicable)
            }
            _ => Ok(business_type),
        }
    }

    /// Adding a bank account or debit card satisfies `external_account`.
    pub fn external_account_added(&mut self, now: DateTime<Utc>) -> OnboardingChanges {
        let before = self.snapshot();
        self.provided.insert(RequirementField::ExternalAccount);
        self.settle(now);
        OnboardingChanges::between(&before, &self.snapshot())
    }

    /// Moves every currently-due field to `past_due` and disables the account once the deadline
    /// has passed. Calling it again changes nothing.
    pub fn on_clock(&mut self, now: DateTime<Utc>) -> OnboardingChanges {
        let before = self.snapshot();
        let currently_due = self.currently_due();
        let deadline_passed = self
            .current_deadline
            .is_some_and(|deadline| now >= deadline);
        if deadline_passed && !currently_due.is_empty() {
            self.past_due = currently_due;
            self.disabled_reason = Some(DisabledReason::RequirementsPastDue);
            self.current_deadline = None;
        }
        OnboardingChanges::between(&before, &self.snapshot())
    }

    /// Restores the invariants after fields were provided: past-due fields that were supplied
    /// leave `past_due`; an empty `past_due` re-enables the account; the deadline is cleared
    /// when nothing is due and set afresh when something is due and no deadline runs.
    pub(super) fn settle(&mut self, now: DateTime<Utc>) {
        let currently_due = self.currently_due();
        self.past_due.retain(|field| currently_due.contains(field));
        if self.past_due.is_empty()
            && self.disabled_reason == Some(DisabledReason::RequirementsPastDue)
        {
            self.disabled_reason = None;
        }
        if currently_due.is_empty() {
            self.current_deadline = None;
        } else if self.current_deadline.is_none() && !self.is_disabled() {
            self.current_deadline = Some(now + Duration::days(ONBOARDING_DEADLINE_DAYS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts::AccountType;
    use crate::domain::details::{CompanyInput, DetailsInput};
    use crate::domain::requirements::tests::{
        at, change, names, onboarding, person, profile, statuses, submit, us_individual,
    };
    use CapabilityName::{CardPayments, Transfers};
    use CapabilityStatus::{Active, Inactive, Pending};

    #[test]
    fn from_creation_to_fully_enabled() {
        let mut state = us_individual();
        assert_eq!(statuses(&state), [Inactive, Inactive]);
        assert!(!state.charges_enabled() && !state.payouts_enabled() && !state.details_submitted());

        let changes = submit(&mut state, profile(), at(2));
        let expected = vec![
            change(CardPayments, Inactive, Pending),
            change(Transfers, Inactive, Pending),
        ];
        assert_eq!(
            changes,
            OnboardingChanges {
                account_updated: true,
                capability_changes: expected
            }
        );

        let changes = submit(&mut state, person(), at(3));
        assert_eq!(
            changes.capability_changes,
            [change(CardPayments, Pending, Active)]
        );
        assert!(state.charges_enabled() && !state.payouts_enabled() && !state.details_submitted());
        assert_eq!(
            names(&state.requirements().currently_due),
            ["external_account"]
        );
        assert_eq!(state.requirements().current_deadline, Some(at(15)));

        let changes = state.external_account_added(at(4));
        assert_eq!(
            changes.capability_changes,
            [change(Transfers, Pending, Active)]
        );
        assert!(state.charges_enabled() && state.payouts_enabled() && state.details_submitted());
        let requirements = state.requirements();
        assert!(requirements.currently_due.is_empty());
        assert_eq!(
            names(&requirements.eventually_due),
            ["individual.id_number"]
        );
        assert_eq!(requirements.current_deadline, None);
        assert!(state.on_clock(at(30)).is_empty());
    }

    #[test]
    fn past_due_disables_and_supplying_the_fields_re_enables() {
        let mut state = us_individual();
        submit(&mut state, profile(), at(2));
        assert!(state.on_clock(at(14)).is_empty());

        let changes = state.on_clock(at(15));
        let expected = vec![
            change(CardPayments, Pending, Inactive),
            change(Transfers, Pending, Inactive),
        ];
        assert_eq!(
            changes,
            OnboardingChanges {
                account_updated: true,
                capability_changes: expected
            }
        );
        let requirements = state.requirements();
        assert_eq!(requirements.past_due.len(), 10);
        assert_eq!(requirements.past_due, requirements.currently_due);
        assert_eq!(
            requirements.disabled_reason,
            Some(DisabledReason::RequirementsPastDue)
        );
        assert_eq!(requirements.current_deadline, None);
        assert!(state.on_clock(at(20)).is_empty());

        let changes = submit(&mut state, person(), at(21));
        assert!(
            changes.capability_changes.is_empty(),
            "still disabled: {changes:?}"
        );
        assert_eq!(names(&state.requirements().past_due), ["external_account"]);
        assert!(!state.charges_enabled());

        let changes = state.external_account_added(at(22));
        let expected = vec![
            change(CardPayments, Inactive, Active),
            change(Transfers, Inactive, Active),
        ];
        assert_eq!(changes.capability_changes, expected);
        assert_eq!(state.requirements().disabled_reason, None);
        assert!(state.payouts_enabled());
    }

    #[test]
    fn changes_in_sequence_combine_per_capability() {
        let first = OnboardingChanges {
            account_updated: true,
            capability_changes: vec![
                change(CardPayments, Inactive, Pending),
                change(Transfers, Inactive, Pending),
            ],
        };
        let second = OnboardingChanges {
            account_updated: false,
            capability_changes: vec![
                change(Transfers, Pending, Inactive),
                change(CardPayments, Pending, Active),
            ],
        };
        let combined = first.then(second);
        assert!(combined.account_updated);
        assert_eq!(
            combined.capability_changes,
            [change(CardPayments, Inactive, Active)]
        );
    }

    #[test]
    fn a_standard_account_gives_its_business_type_during_onboarding() {
        let mut state = onboarding(AccountType::Standard, None, "US", None);
        let company = CompanyInput {
            name: Some("Acme".into()),
            ..CompanyInput::default()
        };
        let with_company = DetailsInput {
            company: Some(company),
            ..DetailsInput::default()
        };
        let details = Details::parse(with_company.clone(), state.country, at(2)).expect("details");
        let refused = state.submit_details(&details, at(2));
        assert_eq!(
            refused,
            Err(RequirementsError::BusinessTypeUnknown { param: "company" })
        );

        let given = DetailsInput {
            business_type: Some(BusinessType::Company),
            ..with_company
        };
        let changes = submit(&mut state, given, at(2));
        let expected = vec![
            change(CardPayments, Inactive, Pending),
            change(Transfers, Inactive, Pending),
        ];
        assert_eq!(
            changes,
            OnboardingChanges {
                account_updated: true,
                capability_changes: expected
            }
        );
        assert_eq!(state.business_type(), Some(BusinessType::Company));
        let due = state.requirements().currently_due;
        assert!(
            due.contains(&RequirementField::CompanyTaxId)
                && !due.contains(&RequirementField::CompanyName)
        );
        assert!(!due.contains(&RequirementField::BusinessType));
    }

    #[test]
    fn details_that_do_not_fit_the_account_are_refused_without_change() {
        let company_account = || {
            onboarding(
                AccountType::Custom,
                Some(BusinessType::NonProfit),
                "US",
                None,
            )
        };
        let company = DetailsInput {
            company: Some(CompanyInput::default()),
            ..DetailsInput::default()
        };
        let retype = DetailsInput {
            business_type: Some(BusinessType::Company),
            ..DetailsInput::default()
        };
        // (account, submission, expected error)
        let cases = [
            (
                company_account(),
                person(),
                RequirementsError::IndividualDetailsNotApplicable {
                    business_type: BusinessType::NonProfit,
                },
            ),
            (
                us_individual(),
                company,
                RequirementsError::CompanyDetailsNotApplicable,
            ),
            (
                company_account(),
                retype,
                RequirementsError::BusinessTypeAlreadySet {
                    current: BusinessType::NonProfit,
                    given: BusinessType::Company,
                },
            ),
        ];
        for (mut state, input, expected) in cases {
            let before = state.clone();
            let details = Details::parse(input, state.country, at(2)).expect("details");
            assert_eq!(state.submit_details(&details, at(2)), Err(expected.clone()));
            assert_eq!(state, before);
            assert!(!expected.to_string().is_empty() && !expected.param().is_empty());
        }
    }
}
