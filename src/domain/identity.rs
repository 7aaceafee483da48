//! Who an account belongs to: the validated individual, company and address details, the
//! requirement fields each provides, and how a later submission overlays an earlier one.
//!
//! Country-specific rules: a US individual gives `ssnLast4` (and may give the full nine-digit
//! social security number as `idNumber`, which also provides the last four); elsewhere
//! `idNumber` is 1 to 20 letters or digits and `ssnLast4` is refused. A US company's `taxId` is
//! nine digits (an EIN); elsewhere 1 to 20 letters or digits.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::countries::Country;
use crate::domain::details::{AddressInput, CompanyInput, DetailsError, IndividualInput};
use crate::domain::field_formats::{
    country_code, date_of_birth, digits, national_id, postal_code, text, MAX_ADDRESS_LINE_CHARS,
    MAX_CITY_CHARS, MAX_COMPANY_NAME_CHARS, MAX_NAME_CHARS, MAX_STATE_CHARS,
};
use crate::domain::requirement_fields::RequirementField as Field;

/// Digits in a full US social security number.
const US_SSN_DIGITS: usize = 9;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Individual {
    first_name: Option<String>,
    last_name: Option<String>,
    date_of_birth: Option<NaiveDate>,
    ssn_last_4: Option<String>,
    id_number: Option<String>,
    address: Option<Address>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    name: Option<String>,
    tax_id: Option<String>,
    address: Option<Address>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    line1: Option<String>,
    city: Option<String>,
    postal_code: Option<String>,
    state: Option<String>,
    country: Option<String>,
}

/// The input names of an address's parts, for errors.
struct AddressParams {
    line1: &'static str,
    city: &'static str,
    postal_code: &'static str,
    state: &'static str,
    country: &'static str,
    /// The requirement fields of line1, city and postal code.
    fields: [Field; 3],
}

const INDIVIDUAL_ADDRESS: AddressParams = AddressParams {
    line1: "individual.address.line1",
    city: "individual.address.city",
    postal_code: "individual.address.postalCode",
    state: "individual.address.state",
    country: "individual.address.country",
    fields: [
        Field::IndividualAddressLine1,
        Field::IndividualAddressCity,
        Field::IndividualAddressPostalCode,
    ],
};

const COMPANY_ADDRESS: AddressParams = AddressParams {
    line1: "company.address.line1",
    city: "company.address.city",
    postal_code: "company.address.postalCode",
    state: "company.address.state",
    country: "company.address.country",
    fields: [
        Field::CompanyAddressLine1,
        Field::CompanyAddressCity,
        Field::CompanyAddressPostalCode,
    ],
};

fn optional<T>(
    given: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, DetailsError>,
) -> Result<Option<T>, DetailsError> {
    given.as_deref().map(parse).transpose()
}

fn newer_or<T: Clone>(older: &Option<T>, newer: &Option<T>) -> Option<T> {
    newer.clone().or_else(|| older.clone())
}

/// Overlays two optional parts: both present are combined field by field.
pub(crate) fn overlay<T: Clone>(
    older: &Option<T>,
    newer: &Option<T>,
    combine: fn(&T, &T) -> T,
) -> Option<T> {
    match (older, newer) {
        (Some(older), Some(newer)) => Some(combine(older, newer)),
        _ => newer_or(older, newer),
    }
}

/// The fields whose flag is set.
fn present(flags: &[(bool, Field)]) -> Vec<Field> {
    flags
        .iter()
        .filter(|(given, _)| *given)
        .map(|(_, field)| *field)
        .collect()
}

impl Individual {
    pub fn first_name(&self) -> Option<&str> {
        self.first_name.as_deref()
    }
    pub fn last_name(&self) -> Option<&str> {
        self.last_name.as_deref()
    }
    pub fn date_of_birth(&self) -> Option<NaiveDate> {
        self.date_of_birth
    }
    pub fn address(&self) -> Option<&Address> {
        self.address.as_ref()
    }

    pub fn parse(
        input: IndividualInput,
        country: Country,
        now: DateTime<Utc>,
    ) -> Result<Individual, DetailsError> {
        let IndividualInput {
            first_name,
            last_name,
            dob_day,
            dob_month,
            dob_year,
            ssn_last_4,
            id_number,
            address,
        } = input;
        let united_states = country.is_united_states();
        if ssn_last_4.is_some() && !united_states {
            return Err(DetailsError::OnlyInUnitedStates {
                param: "individual.ssnLast4",
            });
        }
        let id_param = "individual.idNumber";
        let ssn_expected = "a nine-digit social security number";
        let mut individual = Individual {
            first_name: optional(first_name, |given| {
                text(given, "individual.firstName", MAX_NAME_CHARS)
            })?,
            last_name: optional(last_name, |given| {
                text(given, "individual.lastName", MAX_NAME_CHARS)
            })?,
            date_of_birth: date_of_birth(dob_day, dob_month, dob_year, now)?,
            ssn_last_4: optional(ssn_last_4, |given| {
                digits(given, "individual.ssnLast4", 4, "exactly four digits")
            })?,
            id_number: optional(id_number, |given| {
                if united_states {
                    digits(given, id_param, US_SSN_DIGITS, ssn_expected)
                } else {
                    national_id(given, id_param)
                }
            })?,
            address: address
                .map(|given| Address::parse(given, &INDIVIDUAL_ADDRESS))
                .transpose()?,
        };
        // A full US social security number also provides its last four digits.
        if united_states && individual.ssn_last_4.is_none() {
            let last_4 = |id: &String| id.get(US_SSN_DIGITS - 4..).map(str::to_owned);
            individual.ssn_last_4 = individual.id_number.as_ref().and_then(last_4);
        }
        Ok(individual)
    }

    pub fn provided_fields(&self) -> Vec<Field> {
        let dob = self.date_of_birth.is_some();
        let mut fields = present(&[
            (self.first_name.is_some(), Field::IndividualFirstName),
            (self.last_name.is_some(), Field::IndividualLastName),
            (dob, Field::IndividualDobDay),
            (dob, Field::IndividualDobMonth),
            (dob, Field::IndividualDobYear),
            (self.ssn_last_4.is_some(), Field::IndividualSsnLast4),
            (self.id_number.is_some(), Field::IndividualIdNumber),
        ]);
        fields.extend(Address::provided_fields(&self.address, &INDIVIDUAL_ADDRESS));
        fields
    }

    pub fn overlaid_with(&self, newer: &Individual) -> Individual {
        Individual {
            first_name: newer_or(&self.first_name, &newer.first_name),
            last_name: newer_or(&self.last_name, &newer.last_name),
            date_of_birth: newer_or(&self.date_of_birth, &newer.date_of_birth),
            ssn_last_4: newer_or(&self.ssn_last_4, &newer.ssn_last_4),
            id_number: newer_or(&self.id_number, &newer.id_number),
            address: overlay(&self.address, &newer.address, Address::overlaid_with),
        }
    }
}

impl Company {
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    pub fn address(&self) -> Option<&Address> {
        self.address.as_ref()
    }

    pub fn parse(input: CompanyInput, country: Country) -> Result<Company, DetailsError> {
        let CompanyInput {
            name,
            tax_id,
            address,
        } = input;
        let tax_param = "company.taxId";
        Ok(Company {
            name: optional(name, |given| {
                text(given, "company.name", MAX_COMPANY_NAME_CHARS)
            })?,
            tax_id: optional(tax_id, |given| {
                if country.is_united_states() {
                    digits(given, tax_param, 9, "nine digits (an EIN)")
                } else {
                    national_id(given, tax_param)
                }
            })?,
            address: address
                .map(|given| Address::parse(given, &COMPANY_ADDRESS))
                .transpose()?,
        })
    }

    pub fn provided_fields(&self) -> Vec<Field> {
        let mut fields = present(&[
            (self.name.is_some(), Field::CompanyName),
            (self.tax_id.is_some(), Field::CompanyTaxId),
        ]);
        fields.extend(Address::provided_fields(&self.address, &COMPANY_ADDRESS));
        fields
    }

    pub fn overlaid_with(&self, newer: &Company) -> Company {
        Company {
            name: newer_or(&self.name, &newer.name),
            tax_id: newer_or(&self.tax_id, &newer.tax_id),
            address: overlay(&self.address, &newer.address, Address::overlaid_with),
        }
    }
}

impl Address {
    pub fn line1(&self) -> Option<&str> {
        self.line1.as_deref()
    }
    pub fn city(&self) -> Option<&str> {
        self.city.as_deref()
    }
    pub fn postal_code(&self) -> Option<&str> {
        self.postal_code.as_deref()
    }
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    fn parse(input: AddressInput, params: &AddressParams) -> Result<Address, DetailsError> {
        let AddressInput {
            line1,
            city,
            postal_code: postal,
            state,
            country,
        } = input;
        Ok(Address {
            line1: optional(line1, |given| {
                text(given, params.line1, MAX_ADDRESS_LINE_CHARS)
            })?,
            city: optional(city, |given| text(given, params.city, MAX_CITY_CHARS))?,
            postal_code: optional(postal, |given| postal_code(given, params.postal_code))?,
            state: optional(state, |given| text(given, params.state, MAX_STATE_CHARS))?,
            country: optional(country, |given| country_code(given, params.country))?,
        })
    }

    fn provided_fields(address: &Option<Address>, params: &AddressParams) -> Vec<Field> {
        let Some(address) = address else {
            return Vec::new();
        };
        let [line1, city, postal_code] = params.fields;
        present(&[
            (address.line1.is_some(), line1),
            (address.city.is_some(), city),
            (address.postal_code.is_some(), postal_code),
        ])
    }

    fn overlaid_with(&self, newer: &Address) -> Address {
        Address {
            line1: newer_or(&self.line1, &newer.line1),
            city: newer_or(&self.city, &newer.city),
            postal_code: newer_or(&self.postal_code, &newer.postal_code),
            state: newer_or(&self.state, &newer.state),
            country: newer_or(&self.country, &newer.country),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DetailsError as E;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .expect("now")
            .to_utc()
    }

    fn country(code: &str) -> Country {
        Country::parse(code).expect(code)
    }

    fn names(fields: Vec<Field>) -> Vec<&'static str> {
        fields.into_iter().map(Field::as_str).collect()
    }

    #[test]
    fn national_ids_by_country() {
        let person = |ssn_last_4: Option<&str>, id_number: Option<&str>| IndividualInput {
            ssn_last_4: ssn_last_4.map(str::to_owned),
            id_number: id_number.map(str::to_owned),
            ..IndividualInput::default()
        };
        let ssn = E::WrongFormat {
            param: "individual.idNumber",
            expected: "a nine-digit social security number",
        };
        let other = E::WrongFormat {
            param: "individual.idNumber",
            expected: "1 to 20 letters or digits",
        };
        // (country, ssnLast4, idNumber, expected provided fields)
        let cases = [
            ("US", Some("1234"), None, Ok(vec!["individual.ssn_last_4"])),
            (
                "US",
                None,
                Some("123456789"),
                Ok(vec!["individual.ssn_last_4", "individual.id_number"]),
            ),
            (
                "GB",
                None,
                Some("QQ123456C"),
                Ok(vec!["individual.id_number"]),
            ),
            ("US", None, Some("QQ123456C"), Err(ssn)),
            ("GB", None, Some("QQ-12"), Err(other)),
            (
                "GB",
                Some("1234"),
                None,
                Err(E::OnlyInUnitedStates {
                    param: "individual.ssnLast4",
                }),
            ),
            (
                "US",
                Some("12345"),
                None,
                Err(E::WrongFormat {
                    param: "individual.ssnLast4",
                    expected: "exactly four digits",
                }),
            ),
        ];
        for (code, ssn_last_4, id_number, expected) in cases {
            let result = Individual::parse(person(ssn_last_4, id_number), country(code), now());
            assert_eq!(
                result.map(|individual| names(individual.provided_fields())),
                expected,
                "{code}"
            );
        }
    }

    #[test]
    fn company_tax_ids_and_address_params() {
        let company = |tax_id: &str, postal: &str| CompanyInput {
            name: Some("Acme".into()),
            tax_id: Some(tax_id.into()),
            address: Some(AddressInput {
                postal_code: Some(postal.into()),
                ..AddressInput::default()
            }),
        };
        let postal = E::WrongFormat {
            param: "company.address.postalCode",
            expected: "letters, digits, spaces and hyphens",
        };
        let cases = [
            (
                "US",
                "123456789",
                "94107",
                Ok(vec![
                    "company.address.postal_code",
                    "company.name",
                    "company.tax_id",
                ]),
            ),
            (
                "US",
                "12345678",
                "94107",
                Err(E::WrongFormat {
                    param: "company.taxId",
                    expected: "nine digits (an EIN)",
                }),
            ),
            (
                "FR",
                "FR12345678901",
                "75001",
                Ok(vec![
                    "company.address.postal_code",
                    "company.name",
                    "company.tax_id",
                ]),
            ),
            ("FR", "FR12345678901", "75_001", Err(postal)),
        ];
        for (code, tax_id, postal_code, expected) in cases {
            let result =
                Company::parse(company(tax_id, postal_code), country(code)).map(|company| {
                    let mut fields = names(company.provided_fields());
                    fields.sort_unstable();
                    fields
                });
            assert_eq!(result, expected, "{code} {tax_id} {postal_code}");
        }
    }
}
