//! The formats of single onboarding fields: text, digit strings, national ids, dates of birth, URLs,
//! postal codes and country codes, each refusal naming the input parameter it came from.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};

use crate::domain::details::DetailsError;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_COMPANY_NAME_CHARS: usize = 200;
pub const MAX_ADDRESS_LINE_CHARS: usize = 200;
pub const MAX_CITY_CHARS: usize = 100;
pub const MAX_STATE_CHARS: usize = 100;
pub const MAX_POSTAL_CODE_CHARS: usize = 20;
pub const MAX_NATIONAL_ID_CHARS: usize = 20;
pub const MAX_URL_CHARS: usize = 2048;
pub const MINIMUM_AGE_YEARS: u32 = 13;
pub const EARLIEST_BIRTH_YEAR: i32 = 1900;

/// Trimmed, non-blank text without control characters, within `max_chars`.
pub fn text(given: &str, param: &'static str, max_chars: usize) -> Result<String, DetailsError> {
    let trimmed = given.trim();
    if trimmed.is_empty() {
        return Err(DetailsError::Blank { param });
    }
    let length_chars = trimmed.chars().count();
    if length_chars > max_chars {
        return Err(DetailsError::TooLong {
            param,
            length_chars,
            max_chars,
        });
    }
    if trimmed.chars().any(char::is_control) {
        let expected = "text without control characters";
        return Err(DetailsError::WrongFormat { param, expected });
    }
    Ok(trimmed.to_owned())
}

/// Exactly `count` ASCII digits (surrounding spaces are ignored).
pub fn digits(
    given: &str,
    param: &'static str,
    count: usize,
    expected: &'static str,
) -> Result<String, DetailsError> {
    let trimmed = given.trim();
    if trimmed.len() != count || !trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(DetailsError::WrongFormat { param, expected });
    }
    Ok(trimmed.to_owned())
}

/// A national id or tax id outside the US: 1 to 20 letters or digits.
pub fn national_id(given: &str, param: &'static str) -> Result<String, DetailsError> {
    let trimmed = given.trim();
    let fits = (1..=MAX_NATIONAL_ID_CHARS).contains(&trimmed.len());
    if !fits || !trimmed.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        let expected = "1 to 20 letters or digits";
        return Err(DetailsError::WrongFormat { param, expected });
    }
    Ok(trimmed.to_owned())
}

pub fn postal_code(given: &str, param: &'static str) -> Result<String, DetailsError> {
    let code = text(given, param, MAX_POSTAL_CODE_CHARS)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == ' ' || c == '-';
    if !code.chars().all(allowed) {
        let expected = "letters, digits, spaces and hyphens";
        return Err(DetailsError::WrongFormat { param, expected });
    }
    Ok(code)
}

/// The shape of an ISO 3166-1 alpha-2 code; an address may be in a country the gateway does not serve.
pub fn country_code(given: &str, param: &'static str) -> Result<String, DetailsError> {
    if given.len() != 2 || !given.bytes().all(|byte| byte.is_ascii_uppercase()) {
        let expected = "an uppercase ISO 3166-1 alpha-2 code such as US";
        return Err(DetailsError::WrongFormat { param, expected });
    }
    Ok(given.to_owned())
}

/// A well-formed http or https URL with a host, kept as given (trimmed).
pub fn business_url(given: &str) -> Result<String, DetailsError> {
    let param = "businessUrl";
    let trimmed = text(given, param, MAX_URL_CHARS)?;
    let url = url::Url::parse(&trimmed).map_err(|error| DetailsError::UrlMalformed {
        reason: error.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        let expected = "an http or https URL";
        return Err(DetailsError::WrongFormat { param, expected });
    }
    if url.host_str().is_none_or(str::is_empty) {
        let reason = "it has no host".to_owned();
        return Err(DetailsError::UrlMalformed { reason });
    }
    Ok(trimmed)
}

/// A real calendar date, in the past, of someone at least 13 years old at `now`; all three
/// parts or none.
pub fn date_of_birth(
    day: Option<i64>,
    month: Option<i64>,
    year: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<NaiveDate>, DetailsError> {
    let (day, month, year) = match (day, month, year) {
        (None, None, None) => return Ok(None),
        (Some(day), Some(month), Some(year)) => (day, month, year),
        (None, _, _) => {
            return Err(DetailsError::DateOfBirthIncomplete {
                param: "individual.dobDay",
            })
        }
        (_, None, _) => {
            return Err(DetailsError::DateOfBirthIncomplete {
                param: "individual.dobMonth",
            })
        }
        (_, _, None) => {
            return Err(DetailsError::DateOfBirthIncomplete {
                param: "individual.dobYear",
            })
        }
    };
    let today = now.date_naive();
    if year < i64::from(EARLIEST_BIRTH_YEAR) || year > i64::from(today.year()) {
        let expected = "a year from 1900 to the current year";
        return Err(DetailsError::WrongFormat {
            param: "individual.dobYear",
            expected,
        });
    }
    if !(1..=12).contains(&month) {
        let expected = "a month from 1 to 12";
        return Err(DetailsError::WrongFormat {
            param: "individual.dobMonth",
            expected,
        });
    }
    let date = match (
        i32::try_from(year),
        u32::try_from(month),
        u32::try_from(day),
    ) {
        (Ok(year), Ok(month), Ok(day)) => NaiveDate::from_ymd_opt(year, month, day),
        _ => None,
    }
    .ok_or(DetailsError::NotACalendarDate { year, month, day })?;
    if date >= today {
        return Err(DetailsError::DateOfBirthNotInPast);
    }
    let age_reached = date.checked_add_months(Months::new(MINIMUM_AGE_YEARS * 12));
    if age_reached.is_none_or(|date_of_age| date_of_age > today) {
        return Err(DetailsError::TooYoung);
    }
    Ok(Some(date))
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

    #[test]
    fn dates_of_birth() {
        let year = |param| E::WrongFormat {
            param,
            expected: "a year from 1900 to the current year",
        };
        let month = E::WrongFormat {
            param: "individual.dobMonth",
            expected: "a month from 1 to 12",
        };
        // (day, month, year, expected)
        let cases = [
            (Some(15), Some(6), Some(1990), Ok(Some("1990-06-15"))),
            (None, None, None, Ok(None)),
            (Some(29), Some(2), Some(2000), Ok(Some("2000-02-29"))),
            (Some(27), Some(11), Some(2013), Ok(Some("2013-11-27"))),
            (Some(28), Some(11), Some(2013), Err(E::TooYoung)),
            (Some(1), Some(1), Some(2026), Err(E::TooYoung)),
            (Some(28), Some(11), Some(2026), Err(E::DateOfBirthNotInPast)),
            (
                Some(29),
                Some(2),
                Some(2001),
                Err(E::NotACalendarDate {
                    year: 2001,
                    month: 2,
                    day: 29,
                }),
            ),
            (
                Some(31),
                Some(4),
                Some(1990),
                Err(E::NotACalendarDate {
                    year: 1990,
                    month: 4,
                    day: 31,
                }),
            ),
            (
                Some(0),
                Some(4),
                Some(1990),
                Err(E::NotACalendarDate {
                    year: 1990,
                    month: 4,
                    day: 0,
                }),
            ),
            (Some(1), Some(13), Some(1990), Err(month)),
            (
                Some(1),
                Some(1),
                Some(1899),
                Err(year("individual.dobYear")),
            ),
            (
                Some(1),
                Some(1),
                Some(2027),
                Err(year("individual.dobYear")),
            ),
            (
                None,
                Some(1),
                Some(1990),
                Err(E::DateOfBirthIncomplete {
                    param: "individual.dobDay",
                }),
            ),
            (
                Some(1),
                None,
                Some(1990),
                Err(E::DateOfBirthIncomplete {
                    param: "individual.dobMonth",
                }),
            ),
            (
                Some(1),
                Some(1),
                None,
                Err(E::DateOfBirthIncomplete {
                    param: "individual.dobYear",
                }),
            ),
        ];
        for (day, month, year, expected) in cases {
            let result = date_of_birth(day, month, year, now());
            let expected =
                expected.map(|date| date.map(|text| text.parse::<NaiveDate>().expect(text)));
            assert_eq!(result, expected, "{day:?}-{month:?}-{year:?}");
        }
    }

    #[test]
    fn urls() {
        let scheme = E::WrongFormat {
            param: "businessUrl",
            expected: "an http or https URL",
        };
        let cases = [
            ("https://shop.example.com", Ok("https://shop.example.com")),
            (
                " http://example.com/about?x=1 ",
                Ok("http://example.com/about?x=1"),
            ),
            ("ftp://example.com", Err(scheme.clone())),
            ("mailto:jo@example.com", Err(scheme)),
            (
                "",
                Err(E::Blank {
                    param: "businessUrl",
                }),
            ),
        ];
        for (given, expected) in cases {
            assert_eq!(business_url(given), expected.map(str::to_owned), "{given}");
        }
        for malformed in ["example.com", "https://", "http://exa mple.com"] {
            let error = business_url(malformed).unwrap_err();
            assert!(
                matches!(error, E::UrlMalformed { .. }),
                "{malformed}: {error:?}"
            );
            assert_eq!(error.param(), "businessUrl");
        }
    }

    #[test]
    fn text_digits_and_ids() {
        let param = "company.name";
        assert_eq!(text("  Acme  ", param, 10), Ok("Acme".to_owned()));
        assert_eq!(text("   ", param, 10), Err(E::Blank { param }));
        let too_long = E::TooLong {
            param,
            length_chars: 11,
            max_chars: 10,
        };
        assert_eq!(
            text("Acmeéééééééé", param, 10).map_err(|e| e.to_string()),
            Err("company.name is 12 characters long; at most 10 are allowed".to_owned())
        );
        assert_eq!(text("Acme Acme!!", param, 10), Err(too_long));
        let four = |given| digits(given, "individual.ssnLast4", 4, "exactly four digits");
        assert_eq!(four("1234"), Ok("1234".to_owned()));
        for bad in ["123", "12345", "12a4", "١٢٣٤"] {
            assert_eq!(
                four(bad).map_err(|e| e.to_string()),
                Err("individual.ssnLast4 must be exactly four digits".to_owned()),
                "{bad}"
            );
        }
        assert_eq!(
            national_id("AB123456C", "company.taxId"),
            Ok("AB123456C".to_owned())
        );
        assert!(national_id("AB-123", "company.taxId").is_err());
        assert!(national_id(&"1".repeat(21), "company.taxId").is_err());
        assert_eq!(postal_code("SW1A 1AA", "p"), Ok("SW1A 1AA".to_owned()));
        assert!(postal_code("SW1A_1AA", "p").is_err());
        assert_eq!(country_code("GB", "c"), Ok("GB".to_owned()));
        assert!(country_code("gb", "c").is_err());
    }
}
