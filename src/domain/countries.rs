//! The one table of countries the gateway supports, and the `Country` type that can only come from it.
//!
//! Each row says how a country's payouts behave: its default settlement currency, whether
//! payout delays count business days (Monday to Friday) or calendar days, whether Instant
//! Payouts are offered there, whether a platform located there may create Custom accounts,
//! and the gateway's minimum payout delay.
//!
//! Sources: the day count follows Stripe's "delay behavior per account country" table
//! (business days for AE, AU, IN, JP, MY, NZ, TH, US; calendar days for BR, CA, HK, MX, NO,
//! SG, CH, GB and the EU). Instant Payouts: AE, AU, CA, DK, EU members, GB, HK, MY, NO, NZ,
//! SE, SG, US. Custom platforms: AU, AT, BE, CA, DK, FI, FR, DE, HK, IE, IT, JP, LU, NL, NZ,
//! NO, PT, ES, SE, CH, GB, US.
//!
//! The minimum payout delay is the gateway's own choice: 2 days (the gateway's default
//! availability delay) wherever card funds settle quickly, and longer where settlement is
//! known to be slower: IN, MX, MY and SG 3; HK and JP 4; AE, BR and TH 7.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::money::Currency;

/// How a country counts the days of a payout delay.
/// Serialized in snake_case ("business", "calendar").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelayDayCount {
    /// Monday to Friday only; weekends are skipped (no public holidays are modelled).
    Business,
    /// Every day counts.
    Calendar,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountryError {
    #[error("'{given}' must be uppercase: country codes are ISO 3166-1 alpha-2 in capitals, e.g. US or FR")]
    NotUppercase { given: String },
    #[error("'{given}' is not a country the gateway supports; use an uppercase ISO 3166-1 alpha-2 code such as US, GB or FR")]
    Unsupported { given: String },
}

/// The longest piece of a refused code echoed back in an error message.
const MAX_ECHOED_CODE_CHARS: usize = 16;

/// One row of the country table.
struct CountryRow {
    code: &'static str,
    default_currency: &'static str,
    delay_day_count: DelayDayCount,
    instant_payouts_supported: bool,
    custom_accounts_allowed_for_platform: bool,
    minimum_payout_delay_days: u16,
}

use DelayDayCount::{Business, Calendar};

const fn row(
    code: &'static str,
    default_currency: &'static str,
    delay_day_count: DelayDayCount,
    instant_payouts_supported: bool,
    custom_accounts_allowed_for_platform: bool,
    minimum_payout_delay_days: u16,
) -> CountryRow {
    CountryRow {
        code,
        default_currency,
        delay_day_count,
        instant_payouts_supported,
        custom_accounts_allowed_for_platform,
        minimum_payout_delay_days,
    }
}

/// The supported countries, sorted by code (lookup is a binary search).
/// Columns: code, default currency, delay day count, instant payouts, Custom platforms, minimum delay days.
#[rustfmt::skip]
const COUNTRY_TABLE: &[CountryRow] = &[
    row("AE", "aed", Business, true,  false, 7),
    row("AT", "eur", Calendar, true,  true,  2),
    row("AU", "aud", Business, true,  true,  2),
    row("BE", "eur", Calendar, true,  true,  2),
    row("BG", "eur", Calendar, true,  false, 2),
    row("BR", "brl", Calendar, false, false, 7),
    row("CA", "cad", Calendar, true,  true,  2),
    row("CH", "chf", Calendar, false, true,  2),
    row("CY", "eur", Calendar, true,  false, 2),
    row("CZ", "czk", Calendar, true,  false, 2),
    row("DE", "eur", Calendar, true,  true,  2),
    row("DK", "dkk", Calendar, true,  true,  2),
    row("EE", "eur", Calendar, true,  false, 2),
    row("ES", "eur", Calendar, true,  true,  2),
    row("FI", "eur", Calendar, true,  true,  2),
    row("FR", "eur", Calendar, true,  true,  2),
    row("GB", "gbp", Calendar, true,  true,  2),
    row("GR", "eur", Calendar, true,  false, 2),
    row("HK", "hkd", Calendar, true,  true,  4),
    row("HR", "eur", Calendar, true,  false, 2),
    row("HU", "huf", Calendar, true,  false, 2),
    row("IE", "eur", Calendar, true,  true,  2),
    row("IN", "inr", Business, false, false, 3),
    row("IT", "eur", Calendar, true,  true,  2),
    row("JP", "jpy", Business, false, true,  4),
    row("LT", "eur", Calendar, true,  false, 2),
    row("LU", "eur", Calendar, true,  true,  2),
    row("LV", "eur", Calendar, true,  false, 2),
    row("MT", "eur", Calendar, true,  false, 2),
    row("MX", "mxn", Calendar, false, false, 3),
    row("MY", "myr", Business, true,  false, 3),
    row("NL", "eur", Calendar, true,  true,  2),
    row("NO", "nok", Calendar, true,  true,  2),
    row("NZ", "nzd", Business, true,  true,  2),
    row("PL", "pln", Calendar, true,  false, 2),
    row("PT", "eur", Calendar, true,  true,  2),
    row("RO", "ron", Calendar, true,  false, 2),
    row("SE", "sek", Calendar, true,  true,  2),
    row("SG", "sgd", Calendar, true,  false, 3),
    row("SI", "eur", Calendar, true,  false, 2),
    row("SK", "eur", Calendar, true,  false, 2),
    row("TH", "thb", Business, false, false, 7),
    row("US", "usd", Business, true,  true,  2),
];

/// A country the gateway supports. Made only from the table, so an unsupported country cannot exist.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country(u8);

impl Country {
    /// Parses an uppercase ISO 3166-1 alpha-2 code. Lowercase is refused: the API's convention is uppercase.
    pub fn parse(code: &str) -> Result<Country, CountryError> {
        let echoed: String = code.chars().take(MAX_ECHOED_CODE_CHARS).collect();
        if code.chars().any(|character| character.is_ascii_lowercase()) {
            return Err(CountryError::NotUppercase { given: echoed });
        }
        COUNTRY_TABLE
            .binary_search_by(|row| row.code.cmp(code))
            .ok()
            .and_then(|index| u8::try_from(index).ok())
            .map(Country)
            .ok_or(CountryError::Unsupported { given: echoed })
    }

    fn row(self) -> &'static CountryRow {
        &COUNTRY_TABLE[usize::from(self.0)]
    }

    pub fn code(self) -> &'static str {
        self.row().code
    }

    /// The currency a new account in this country settles in unless told otherwise.
    pub fn default_currency(self) -> Currency {
        // Both tables are constants and a test parses every row, so this cannot fail at run time.
        Currency::parse(self.row().default_currency)
            .expect("every default currency in the country table is in the currency table")
    }

    pub fn delay_day_count(self) -> DelayDayCount {
        self.row().delay_day_count
    }

    pub fn counts_business_days(self) -> bool {
        self.delay_day_count() == DelayDayCount::Business
    }

    pub fn instant_payouts_supported(self) -> bool {
        self.row().instant_payouts_supported
    }

    /// Whether a platform located in this country may create Custom accounts.
    pub fn custom_accounts_allowed_for_platform(self) -> bool {
        self.row().custom_accounts_allowed_for_platform
    }

    /// The smallest `delay_days` a payout schedule may have for an account in this country.
    pub fn minimum_payout_delay_days(self) -> u16 {
        self.row().minimum_payout_delay_days
    }

    pub fn is_united_states(self) -> bool {
        self.code() == "US"
    }

    /// Every supported country, in code order.
    pub fn all() -> impl Iterator<Item = Country> {
        (0..COUNTRY_TABLE.len()).filter_map(|index| u8::try_from(index).ok().map(Country))
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Country::parse(&code).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(code: &str) -> Country {
        Country::parse(code).expect(code)
    }

    #[test]
    fn table_is_sorted_and_every_currency_exists() {
        for pair in COUNTRY_TABLE.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} before {}",
                pair[0].code,
                pair[1].code
            );
        }
        for row in COUNTRY_TABLE {
            assert!(
                Currency::parse(row.default_currency).is_ok(),
                "{}",
                row.code
            );
            assert!(
                (2..=7).contains(&row.minimum_payout_delay_days),
                "{}",
                row.code
            );
        }
        assert_eq!(Country::all().count(), COUNTRY_TABLE.len());
    }

    #[test]
    fn parse_refuses_lowercase_and_unknown_codes() {
        let cases = [
            ("us", CountryError::NotUppercase { given: "us".into() }),
            ("Us", CountryError::NotUppercase { given: "Us".into() }),
            ("XX", CountryError::Unsupported { given: "XX".into() }),
            ("", CountryError::Unsupported { given: "".into() }),
            (
                "USA",
                CountryError::Unsupported {
                    given: "USA".into(),
                },
            ),
            ("RU", CountryError::Unsupported { given: "RU".into() }),
        ];
        for (code, expected) in cases {
            assert_eq!(Country::parse(code), Err(expected), "{code}");
        }
        let message = Country::parse("fr").map(|_| ()).unwrap_err().to_string();
        assert_eq!(message, "'fr' must be uppercase: country codes are ISO 3166-1 alpha-2 in capitals, e.g. US or FR");
    }

    #[test]
    fn rows_have_the_documented_values() {
        // (code, currency, business days, instant, custom platform, minimum delay days)
        let cases = [
            ("US", "usd", true, true, true, 2),
            ("GB", "gbp", false, true, true, 2),
            ("CA", "cad", false, true, true, 2),
            ("AU", "aud", true, true, true, 2),
            ("JP", "jpy", true, false, true, 4),
            ("NZ", "nzd", true, true, true, 2),
            ("FR", "eur", false, true, true, 2),
            ("CH", "chf", false, false, true, 2),
            ("HK", "hkd", false, true, true, 4),
            ("SG", "sgd", false, true, false, 3),
            ("AE", "aed", true, true, false, 7),
            ("BR", "brl", false, false, false, 7),
            ("IN", "inr", true, false, false, 3),
            ("PL", "pln", false, true, false, 2),
        ];
        for (code, currency, business, instant, custom, minimum) in cases {
            let country = country(code);
            assert_eq!(country.code(), code);
            assert_eq!(country.default_currency().code(), currency, "{code}");
            assert_eq!(country.counts_business_days(), business, "{code}");
            assert_eq!(country.instant_payouts_supported(), instant, "{code}");
            assert_eq!(
                country.custom_accounts_allowed_for_platform(),
                custom,
                "{code}"
            );
            assert_eq!(country.minimum_payout_delay_days(), minimum, "{code}");
        }
    }

    #[test]
    fn custom_platform_countries_are_exactly_the_published_list() {
        let mut expected = [
            "AU", "AT", "BE", "CA", "DK", "FI", "FR", "DE", "HK", "IE", "IT", "JP", "LU", "NL",
            "NZ", "NO", "PT", "ES", "SE", "CH", "GB", "US",
        ];
        expected.sort_unstable();
        let allowed: Vec<&str> = Country::all()
            .filter(|country| country.custom_accounts_allowed_for_platform())
            .map(Country::code)
            .collect();
        assert_eq!(allowed, expected);
    }

    #[test]
    fn business_day_countries_are_exactly_the_published_list() {
        let counted: Vec<&str> = Country::all()
            .filter(|country| country.counts_business_days())
            .map(Country::code)
            .collect();
        assert_eq!(counted, ["AE", "AU", "IN", "JP", "MY", "NZ", "TH", "US"]);
    }

    #[test]
    fn countries_serialize_as_their_code() {
        let json = serde_json::to_string(&country("DE")).expect("serialize");
        assert_eq!(json, "\"DE\"");
        let back: Country = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, country("DE"));
        assert!(serde_json::from_str::<Country>("\"de\"").is_err());
    }
}
