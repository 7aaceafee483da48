//! The names of onboarding requirement fields and of the reasons an account is disabled, as the
//! API lists them (`individual.dob.day`, `requirements.past_due`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A requirement field, serialized with its Stripe-style dotted name. Declared in the
/// alphabetical order of those names, so sets of fields list alphabetically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RequirementField {
    #[serde(rename = "business_profile.mcc")]
    BusinessProfileMcc,
    #[serde(rename = "business_profile.url")]
    BusinessProfileUrl,
    #[serde(rename = "business_type")]
    BusinessType,
    #[serde(rename = "company.address.city")]
    CompanyAddressCity,
    #[serde(rename = "company.address.line1")]
    CompanyAddressLine1,
    #[serde(rename = "company.address.postal_code")]
    CompanyAddressPostalCode,
    #[serde(rename = "company.name")]
    CompanyName,
    #[serde(rename = "company.tax_id")]
    CompanyTaxId,
    #[serde(rename = "external_account")]
    ExternalAccount,
    #[serde(rename = "individual.address.city")]
    IndividualAddressCity,
    #[serde(rename = "individual.address.line1")]
    IndividualAddressLine1,
    #[serde(rename = "individual.address.postal_code")]
    IndividualAddressPostalCode,
    #[serde(rename = "individual.dob.day")]
    IndividualDobDay,
    #[serde(rename = "individual.dob.month")]
    IndividualDobMonth,
    #[serde(rename = "individual.dob.year")]
    IndividualDobYear,
    #[serde(rename = "individual.first_name")]
    IndividualFirstName,
    #[serde(rename = "individual.id_number")]
    IndividualIdNumber,
    #[serde(rename = "individual.last_name")]
    IndividualLastName,
    #[serde(rename = "individual.ssn_last_4")]
    IndividualSsnLast4,
    #[serde(rename = "tos_acceptance.date")]
    TosAcceptanceDate,
}

impl RequirementField {
    pub fn as_str(self) -> &'static str {
        use RequirementField as Field;
        match self {
            Field::BusinessProfileMcc => "business_profile.mcc",
            Field::BusinessProfileUrl => "business_profile.url",
            Field::BusinessType => "business_type",
            Field::CompanyAddressCity => "company.address.city",
            Field::CompanyAddressLine1 => "company.address.line1",
            Field::CompanyAddressPostalCode => "company.address.postal_code",
            Field::CompanyName => "company.name",
            Field::CompanyTaxId => "company.tax_id",
            Field::ExternalAccount => "external_account",
            Field::IndividualAddressCity => "individual.address.city",
            Field::IndividualAddressLine1 => "individual.address.line1",
            Field::IndividualAddressPostalCode => "individual.address.postal_code",
            Field::IndividualDobDay => "individual.dob.day",
            Field::IndividualDobMonth => "individual.dob.month",
            Field::IndividualDobYear => "individual.dob.year",
            Field::IndividualFirstName => "individual.first_name",
            Field::IndividualIdNumber => "individual.id_number",
            Field::IndividualLastName => "individual.last_name",
            Field::IndividualSsnLast4 => "individual.ssn_last_4",
            Field::TosAcceptanceDate => "tos_acceptance.date",
        }
    }
}

impl fmt::Display for RequirementField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an account is disabled, serialized as its wire string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisabledReason {
    #[serde(rename = "requirements.past_due")]
    RequirementsPastDue,
}

impl DisabledReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisabledReason::RequirementsPastDue => "requirements.past_due",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequirementField as Field;

    const ALL_FIELDS: [Field; 20] = [
        Field::BusinessProfileMcc,
        Field::BusinessProfileUrl,
        Field::BusinessType,
        Field::CompanyAddressCity,
        Field::CompanyAddressLine1,
        Field::CompanyAddressPostalCode,
        Field::CompanyName,
        Field::CompanyTaxId,
        Field::ExternalAccount,
        Field::IndividualAddressCity,
        Field::IndividualAddressLine1,
        Field::IndividualAddressPostalCode,
        Field::IndividualDobDay,
        Field::IndividualDobMonth,
        Field::IndividualDobYear,
        Field::IndividualFirstName,
        Field::IndividualIdNumber,
        Field::IndividualLastName,
        Field::IndividualSsnLast4,
        Field::TosAcceptanceDate,
    ];

    #[test]
    fn serialized_names_match_the_listed_names_and_sort_alike() {
        for field in ALL_FIELDS {
            let json = serde_json::to_string(&field).expect("serialize");
            assert_eq!(json, format!("\"{}\"", field.as_str()));
            assert_eq!(
                serde_json::from_str::<Field>(&json).expect("deserialize"),
                field
            );
        }
        for pair in ALL_FIELDS.windows(2) {
            assert!(
                pair[0] < pair[1] && pair[0].as_str() < pair[1].as_str(),
                "{:?}",
                pair
            );
        }
    }

    #[test]
    fn disabled_reasons_use_their_wire_names() {
        let reason = DisabledReason::RequirementsPastDue;
        assert_eq!(
            serde_json::to_string(&reason).expect("json"),
            "\"requirements.past_due\""
        );
        assert_eq!(reason.as_str(), "requirements.past_due");
    }
}
