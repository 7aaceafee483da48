//! Onboarding details as submitted (`submitAccountDetails` or the hosted form), validated field by
//! field into `Details`, which reports the requirement fields it provides.
//!
//! Every refusal names the offending input in GraphQL naming (`individual.dobDay`,
//! `company.address.postalCode`, `businessUrl`). Only present fields are checked. Stored
//! details were validated when accepted, so reading them back does not check them again.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::accounts::BusinessType;
use crate::domain::countries::Country;
use crate::domain::field_formats::{business_url, digits, MINIMUM_AGE_YEARS};
use crate::domain::identity::{overlay, Company, Individual};
use crate::domain::requirement_fields::RequirementField as Field;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetailsError {
    #[error("{param} must not be blank")]
    Blank { param: &'static str },
    #[error("{param} is {length_chars} characters long; at most {max_chars} are allowed")]
    TooLong {
        param: &'static str,
        length_chars: usize,
        max_chars: usize,
    },
    #[error("{param} must be {expected}")]
    WrongFormat {
        param: &'static str,
        expected: &'static str,
    },
    #[error("{param} is required when any of dobDay, dobMonth and dobYear is given")]
    DateOfBirthIncomplete { param: &'static str },
    #[error("{year:04}-{month:02}-{day:02} is not a real calendar date")]
    NotACalendarDate { year: i64, month: i64, day: i64 },
    #[error("the date of birth must be in the past")]
    DateOfBirthNotInPast,
    #[error("the person must be at least {MINIMUM_AGE_YEARS} years old")]
    TooYoung,
    #[error("{param} is only collected for accounts in the US")]
    OnlyInUnitedStates { param: &'static str },
    #[error("businessUrl is not a well-formed URL: {reason}")]
    UrlMalformed { reason: String },
    #[error("tosAcceptance can only be true: it records that the terms were accepted")]
    TosAcceptanceNotTrue,
}

impl DetailsError {
    /// The input parameter at fault, for the API error's `param` (GraphQL input naming).
    pub fn param(&self) -> &'static str {
        match self {
            DetailsError::Blank { param }
            | DetailsError::TooLong { param, .. }
            | DetailsError::WrongFormat { param, .. }
            | DetailsError::DateOfBirthIncomplete { param }
            | DetailsError::OnlyInUnitedStates { param } => param,
            DetailsError::NotACalendarDate { .. } => "individual.dobDay",
            DetailsError::DateOfBirthNotInPast | DetailsError::TooYoung => "individual.dobYear",
            DetailsError::UrlMalformed { .. } => "businessUrl",
            DetailsError::TosAcceptanceNotTrue => "tosAcceptance",
        }
    }
}

/// The submission as received; mirrors the contract's SubmitAccountDetailsInput, plus an
/// optional business type for STANDARD accounts created without one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailsInput {
    pub business_type: Option<BusinessType>,
    pub individual: Option<IndividualInput>,
    pub company: Option<CompanyInput>,
    pub business_url: Option<String>,
    pub mcc: Option<String>,
    pub tos_acceptance: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndividualInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub dob_day: Option<i64>,
    pub dob_month: Option<i64>,
    pub dob_year: Option<i64>,
    pub ssn_last_4: Option<String>,
    pub id_number: Option<String>,
    pub address: Option<AddressInput>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyInput {
    pub name: Option<String>,
    pub tax_id: Option<String>,
    pub address: Option<AddressInput>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressInput {
    pub line1: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
}

/// Validated details. Made only by `Details::parse`, or read back from storage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    business_type: Option<BusinessType>,
    individual: Option<Individual>,
    company: Option<Company>,
    business_url: Option<String>,
    mcc: Option<String>,
    tos_accepted_at: Option<DateTime<Utc>>,
}

impl Details {
    /// Validates a submission for an account in `country`. `now` dates the terms acceptance and
    /// is the reference for the date of birth.
    pub fn parse(
        input: DetailsInput,
        country: Country,
        now: DateTime<Utc>,
    ) -> Result<Details, DetailsError> {
        let DetailsInput {
            business_type,
            individual,
            company,
            business_url: url,
            mcc,
            tos_acceptance,
        } = input;
        let tos_accepted_at = match tos_acceptance {
            None => None,
            Some(true) => Some(now),
            Some(false) => return Err(DetailsError::TosAcceptanceNotTrue),
        };
        Ok(Details {
            business_type,
            individual: individual
                .map(|given| Individual::parse(given, country, now))
                .transpose()?,
            company: company
                .map(|given| Company::parse(given, country))
                .transpose()?,
            business_url: url.as_deref().map(business_url).transpose()?,
            mcc: mcc
                .as_deref()
                .map(|given| digits(given, "mcc", 4, "exactly four digits"))
                .transpose()?,
            tos_accepted_at,
        })
    }

    pub fn business_type(&self) -> Option<BusinessType> {
        self.business_type
    }
    pub fn individual(&self) -> Option<&Individual> {
        self.individual.as_ref()
    }
    pub fn company(&self) -> Option<&Company> {
        self.company.as_ref()
    }
    pub fn business_url(&self) -> Option<&str> {
        self.business_url.as_deref()
    }
    pub fn mcc(&self) -> Option<&str> {
        self.mcc.as_deref()
    }
    pub fn tos_accepted_at(&self) -> Option<DateTime<Utc>> {
        self.tos_accepted_at
    }

    /// The requirement fields this submission provides.
    pub fn provided_fields(&self) -> BTreeSet<Field> {
        let mut fields = BTreeSet::new();
        fields.extend(self.individual.iter().flat_map(Individual::provided_fields));
        fields.extend(self.company.iter().flat_map(Company::provided_fields));
        fields.extend(
            self.business_url
                .as_ref()
                .map(|_| Field::BusinessProfileUrl),
        );
        fields.extend(self.mcc.as_ref().map(|_| Field::BusinessProfileMcc));
        fields.extend(self.tos_accepted_at.map(|_| Field::TosAcceptanceDate));
        fields
    }

    /// The stored profile after a later submission: each field the newer one gives replaces the
    /// older value; each field it leaves out keeps it.
    pub fn overlaid_with(&self, newer: &Details) -> Details {
        Details {
            business_type: newer.business_type.or(self.business_type),
            individual: overlay(
                &self.individual,
                &newer.individual,
                Individual::overlaid_with,
            ),
            company: overlay(&self.company, &newer.company, Company::overlaid_with),
            business_url: newer
                .business_url
                .clone()
                .or_else(|| self.business_url.clone()),
            mcc: newer.mcc.clone().or_else(|| self.mcc.clone()),
            tos_accepted_at: newer.tos_accepted_at.or(self.tos_accepted_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change made to an empty submission.
    type Change = fn(&mut DetailsInput);

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .expect("now")
            .to_utc()
    }

    fn us() -> Country {
        Country::parse("US").expect("US")
    }

    fn us_individual() -> IndividualInput {
        IndividualInput {
            first_name: Some("Jenny".into()),
            last_name: Some("Rosen".into()),
            dob_day: Some(1),
            dob_month: Some(1),
            dob_year: Some(1990),
            ssn_last_4: Some("0000".into()),
            id_number: None,
            address: Some(AddressInput {
                line1: Some("510 Townsend St".into()),
                city: Some("San Francisco".into()),
                postal_code: Some("94103".into()),
                state: Some("CA".into()),
                country: Some("US".into()),
            }),
        }
    }

    #[test]
    fn a_complete_submission_provides_every_field_it_names() {
        let input = DetailsInput {
            business_type: Some(BusinessType::Individual),
            individual: Some(us_individual()),
            company: None,
            business_url: Some("https://rosen.example".into()),
            mcc: Some("5734".into()),
            tos_acceptance: Some(true),
        };
        let details = Details::parse(input, us(), now()).expect("parse");
        let names: Vec<&str> = details
            .provided_fields()
            .into_iter()
            .map(Field::as_str)
            .collect();
        assert_eq!(
            names,
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
        assert_eq!(details.tos_accepted_at(), Some(now()));
    }

    #[test]
    fn refusals_name_the_input_parameter() {
        let with = |change: fn(&mut DetailsInput)| {
            let mut input = DetailsInput::default();
            change(&mut input);
            Details::parse(input, us(), now()).map_err(|error| (error.param(), error.to_string()))
        };
        let cases: [(Change, &str, &str); 7] = [
            (
                |input| input.mcc = Some("57a4".into()),
                "mcc",
                "mcc must be exactly four digits",
            ),
            (
                |input| input.tos_acceptance = Some(false),
                "tosAcceptance",
                "tosAcceptance can only be true: it records that the terms were accepted",
            ),
            (
                |input| input.business_url = Some("not a url".into()),
                "businessUrl",
                "businessUrl is not a well-formed URL: relative URL without a base",
            ),
            (
                |input| {
                    input.individual = Some(IndividualInput {
                        dob_day: Some(31),
                        dob_month: Some(2),
                        dob_year: Some(1990),
                        ..us_individual()
                    })
                },
                "individual.dobDay",
                "1990-02-31 is not a real calendar date",
            ),
            (
                |input| {
                    input.individual = Some(IndividualInput {
                        dob_year: Some(2020),
                        ..us_individual()
                    })
                },
                "individual.dobYear",
                "the person must be at least 13 years old",
            ),
            (
                |input| {
                    input.individual = Some(IndividualInput {
                        first_name: Some(" ".into()),
                        ..us_individual()
                    })
                },
                "individual.firstName",
                "individual.firstName must not be blank",
            ),
            (
                |input| {
                    input.company = Some(CompanyInput {
                        name: Some("n".repeat(201)),
                        ..CompanyInput::default()
                    })
                },
                "company.name",
                "company.name is 201 characters long; at most 200 are allowed",
            ),
        ];
        for (change, param, message) in cases {
            assert_eq!(with(change), Err((param, message.to_owned())));
        }
    }

    #[test]
    fn overlaying_keeps_earlier_fields() {
        let first = DetailsInput {
            mcc: Some("5734".into()),
            individual: Some(IndividualInput {
                first_name: Some("Jo".into()),
                address: Some(AddressInput {
                    city: Some("Lyon".into()),
                    ..AddressInput::default()
                }),
                ..IndividualInput::default()
            }),
            ..DetailsInput::default()
        };
        let second = DetailsInput {
            tos_acceptance: Some(true),
            individual: Some(IndividualInput {
                first_name: Some("Joanna".into()),
                address: Some(AddressInput {
                    line1: Some("1 Rue".into()),
                    ..AddressInput::default()
                }),
                ..IndividualInput::default()
            }),
            ..DetailsInput::default()
        };
        let parse = |input| Details::parse(input, us(), now()).expect("parse");
        let merged = parse(first).overlaid_with(&parse(second));
        assert_eq!(
            (merged.mcc(), merged.tos_accepted_at()),
            (Some("5734"), Some(now()))
        );
        let stored = serde_json::to_value(&merged).expect("json");
        let individual = &stored["individual"];
        assert_eq!(individual["first_name"], "Joanna");
        assert_eq!(
            (
                &individual["address"]["line1"],
                &individual["address"]["city"]
            ),
            (&"1 Rue".into(), &"Lyon".into())
        );
        let names: Vec<&str> = merged
            .provided_fields()
            .into_iter()
            .map(Field::as_str)
            .collect();
        assert_eq!(
            names,
            [
                "business_profile.mcc",
                "individual.address.city",
                "individual.address.line1",
                "individual.first_name",
                "tos_acceptance.date"
            ]
        );
    }
}
