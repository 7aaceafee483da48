//! The two capabilities, their statuses, which requirement fields each one needs, and the status rule.
//!
//! Fields each capability needs (the account's `currently_due` is `tos_acceptance.date` plus the
//! union of its requested capabilities' fields, minus what has been provided):
//! - CARD_PAYMENTS: the identity fields of the business type, `business_profile.url`,
//!   `business_profile.mcc` and `tos_acceptance.date`.
//!   - INDIVIDUAL: `individual.first_name`, `individual.last_name`, `individual.dob.day`,
//!     `individual.dob.month`, `individual.dob.year`, `individual.address.line1`,
//!     `individual.address.city`, `individual.address.postal_code`, and
//!     `individual.ssn_last_4` in the US or `individual.id_number` elsewhere.
//!   - COMPANY and NON_PROFIT: `company.name`, `company.tax_id`, `company.address.line1`,
//!     `company.address.city`, `company.address.postal_code`.
//!   - Not yet known (a STANDARD account created without one): `business_type`; once given,
//!     the fields of that type take its place.
//! - TRANSFERS: everything CARD_PAYMENTS needs, plus `external_account`.
//!
//! Status (deterministic; there is no asynchronous verification, so nothing is ever pending
//! verification): not requested or account disabled → INACTIVE; none of its fields provided →
//! INACTIVE; some → PENDING; all → ACTIVE.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::accounts::BusinessType;
use crate::domain::countries::Country;
use crate::domain::requirement_fields::RequirementField;

/// Serialized as the contract's enum values: CARD_PAYMENTS, TRANSFERS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CapabilityName {
    CardPayments,
    Transfers,
}

impl CapabilityName {
    pub const ALL: [CapabilityName; 2] = [CapabilityName::CardPayments, CapabilityName::Transfers];

    pub fn as_str(self) -> &'static str {
        match self {
            CapabilityName::CardPayments => "CARD_PAYMENTS",
            CapabilityName::Transfers => "TRANSFERS",
        }
    }
}

impl fmt::Display for CapabilityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serialized as the contract's enum values: ACTIVE, INACTIVE, PENDING.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CapabilityStatus {
    Active,
    Inactive,
    Pending,
}

/// A capability as the account shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    pub name: CapabilityName,
    pub requested: bool,
    pub status: CapabilityStatus,
}

/// The fields that identify the business, by business type and country.
pub fn identity_fields(
    business_type: Option<BusinessType>,
    country: Country,
) -> BTreeSet<RequirementField> {
    use RequirementField as Field;
    match business_type {
        None => BTreeSet::from([Field::BusinessType]),
        Some(BusinessType::Individual) => {
            let national_id = if country.is_united_states() {
                Field::IndividualSsnLast4
            } else {
                Field::IndividualIdNumber
            };
            BTreeSet::from([
                Field::IndividualFirstName,
                Field::IndividualLastName,
                Field::IndividualDobDay,
                Field::IndividualDobMonth,
                Field::IndividualDobYear,
                Field::IndividualAddressLine1,
                Field::IndividualAddressCity,
                Field::IndividualAddressPostalCode,
                national_id,
            ])
        }
        Some(BusinessType::Company | BusinessType::NonProfit) => BTreeSet::from([
            Field::CompanyName,
            Field::CompanyTaxId,
            Field::CompanyAddressLine1,
            Field::CompanyAddressCity,
            Field::CompanyAddressPostalCode,
        ]),
    }
}

/// Every field a capability needs before it can become ACTIVE.
pub fn capability_required_fields(
    name: CapabilityName,
    business_type: Option<BusinessType>,
    country: Country,
) -> BTreeSet<RequirementField> {
    let mut fields = identity_fields(business_type, country);
    fields.extend([
        RequirementField::BusinessProfileUrl,
        RequirementField::BusinessProfileMcc,
        RequirementField::TosAcceptanceDate,
    ]);
    if name == CapabilityName::Transfers {
        fields.insert(RequirementField::ExternalAccount);
    }
    fields
}

/// The status rule of the module documentation.
pub fn capability_status(
    requested: bool,
    account_disabled: bool,
    required: &BTreeSet<RequirementField>,
    provided: &BTreeSet<RequirementField>,
) -> CapabilityStatus {
    if !requested || account_disabled {
        return CapabilityStatus::Inactive;
    }
    let provided_count = required.intersection(provided).count();
    if provided_count == required.len() {
        CapabilityStatus::Active
    } else if provided_count == 0 {
        CapabilityStatus::Inactive
    } else {
        CapabilityStatus::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequirementField as Field;

    fn country(code: &str) -> Country {
        Country::parse(code).expect(code)
    }

    fn names(fields: &BTreeSet<RequirementField>) -> Vec<&'static str> {
        fields.iter().map(|field| field.as_str()).collect()
    }

    #[test]
    fn card_payments_fields_by_business_type_and_country() {
        let us_individual = capability_required_fields(
            CapabilityName::CardPayments,
            Some(BusinessType::Individual),
            country("US"),
        );
        assert_eq!(
            names(&us_individual),
            [
                "business_profile.mcc",
                "business_profile.url",
                "individual.address.city",
                "individual.address.line1",
                "individual.address.postal_code",
                "individual.dob.day",
                "individual.dob.month",
                "individual.dob.year",
                "individual.first_name",
                "individual.last_name",
                "individual.ssn_last_4",
                "tos_acceptance.date",
            ]
        );
        let gb_individual = capability_required_fields(
            CapabilityName::CardPayments,
            Some(BusinessType::Individual),
            country("GB"),
        );
        assert!(gb_individual.contains(&Field::IndividualIdNumber));
        assert!(!gb_individual.contains(&Field::IndividualSsnLast4));
        let non_profit = capability_required_fields(
            CapabilityName::CardPayments,
            Some(BusinessType::NonProfit),
            country("US"),
        );
        assert_eq!(
            names(&non_profit),
            [
                "business_profile.mcc",
                "business_profile.url",
                "company.address.city",
                "company.address.line1",
                "company.address.postal_code",
                "company.name",
                "company.tax_id",
                "tos_acceptance.date",
            ]
        );
        let unknown = capability_required_fields(CapabilityName::CardPayments, None, country("US"));
        assert_eq!(
            names(&unknown),
            [
                "business_profile.mcc",
                "business_profile.url",
                "business_type",
                "tos_acceptance.date"
            ]
        );
    }

    #[test]
    fn transfers_needs_card_payments_fields_and_an_external_account() {
        for business_type in [
            None,
            Some(BusinessType::Individual),
            Some(BusinessType::Company),
        ] {
            let card = capability_required_fields(
                CapabilityName::CardPayments,
                business_type,
                country("FR"),
            );
            let mut transfers =
                capability_required_fields(CapabilityName::Transfers, business_type, country("FR"));
            assert!(transfers.remove(&Field::ExternalAccount));
            assert_eq!(transfers, card);
        }
    }

    #[test]
    fn status_rule() {
        let required = BTreeSet::from([Field::CompanyName, Field::TosAcceptanceDate]);
        let none = BTreeSet::new();
        let some = BTreeSet::from([Field::CompanyName, Field::ExternalAccount]);
        let all = BTreeSet::from([Field::CompanyName, Field::TosAcceptanceDate]);
        use CapabilityStatus::{Active, Inactive, Pending};
        // (requested, disabled, provided, expected)
        let cases = [
            (true, false, &none, Inactive),
            (true, false, &some, Pending),
            (true, false, &all, Active),
            (false, false, &all, Inactive),
            (true, true, &all, Inactive),
            (true, true, &some, Inactive),
        ];
        for (requested, disabled, provided, expected) in cases {
            assert_eq!(
                capability_status(requested, disabled, &required, provided),
                expected
            );
        }
    }

    #[test]
    fn names_serialize_as_the_contract_spells_them() {
        let json = serde_json::to_string(&Capability {
            name: CapabilityName::CardPayments,
            requested: true,
            status: CapabilityStatus::Pending,
        })
        .expect("json");
        assert_eq!(
            json,
            r#"{"name":"CARD_PAYMENTS","requested":true,"status":"PENDING"}"#
        );
    }
}
