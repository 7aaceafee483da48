//! Money: the ISO 4217 currency table, integer minor units with checked arithmetic, and the one rounding function.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// The largest magnitude a JSON integer can carry exactly: 2^53 − 1.
pub const MAX_JSON_INTEGER: i64 = (1 << 53) - 1;

/// The largest amount a single charge, transfer, payout or top-up may move.
pub const MAX_AMOUNT_PER_OPERATION: i64 = 99_999_999;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("'{0}' is not a currency the gateway supports; use a lowercase ISO 4217 code such as usd, eur or jpy")]
    UnknownCurrency(String),
    #[error("{0} is outside the range of a JSON integer (±9007199254740991)")]
    OutOfRange(i128),
    #[error("the amount overflowed while computing it")]
    Overflow,
    #[error("the amount must be greater than zero")]
    NotPositive,
    #[error("the amount must not be negative")]
    Negative,
    #[error("the amount {0} is above the limit of {MAX_AMOUNT_PER_OPERATION}")]
    AboveLimit(i64),
    #[error("amounts in {0} and {1} cannot be combined")]
    CurrencyMismatch(Currency, Currency),
}

/// One row of the currency table: the lowercase code and its number of decimal places.
struct CurrencyRow {
    code: &'static str,
    exponent: u32,
}

const fn row(code: &'static str, exponent: u32) -> CurrencyRow {
    CurrencyRow { code, exponent }
}

/// The currencies the gateway supports, sorted by code, with their ISO 4217 exponents.
/// Zero-decimal currencies (bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf)
/// have exponent 0: their amounts are never multiplied.
const CURRENCY_TABLE: &[CurrencyRow] = &[
    row("aed", 2),
    row("aud", 2),
    row("bgn", 2),
    row("bif", 0),
    row("brl", 2),
    row("cad", 2),
    row("chf", 2),
    row("clp", 0),
    row("cny", 2),
    row("czk", 2),
    row("djf", 0),
    row("dkk", 2),
    row("eur", 2),
    row("gbp", 2),
    row("gnf", 0),
    row("hkd", 2),
    row("huf", 2),
    row("idr", 2),
    row("ils", 2),
    row("inr", 2),
    row("isk", 0),
    row("jpy", 0),
    row("kmf", 0),
    row("krw", 0),
    row("mga", 0),
    row("mxn", 2),
    row("myr", 2),
    row("nok", 2),
    row("nzd", 2),
    row("php", 2),
    row("pln", 2),
    row("pyg", 0),
    row("ron", 2),
    row("rwf", 0),
    row("sek", 2),
    row("sgd", 2),
    row("thb", 2),
    row("try", 2),
    row("ugx", 0),
    row("usd", 2),
    row("vnd", 0),
    row("vuv", 0),
    row("xaf", 0),
    row("xof", 0),
    row("xpf", 0),
    row("zar", 2),
];

/// A currency the gateway supports. Constructed only from the table, so an unknown code cannot exist.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(u8);

impl Currency {
    /// Parses a lowercase ISO 4217 code. Uppercase codes are refused: the API's convention is lowercase.
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        CURRENCY_TABLE
            .binary_search_by(|row| row.code.cmp(code))
            .ok()
            .and_then(|index| u8::try_from(index).ok())
            .map(Currency)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.chars().take(16).collect()))
    }

    pub fn code(self) -> &'static str {
        CURRENCY_TABLE[usize::from(self.0)].code
    }

    /// The number of decimal places of the minor unit: 2 for usd, 0 for jpy.
    pub fn exponent(self) -> u32 {
        CURRENCY_TABLE[usize::from(self.0)].exponent
    }

    pub fn is_zero_decimal(self) -> bool {
        self.exponent() == 0
    }

    /// Every supported currency, in code order.
    pub fn all() -> impl Iterator<Item = Currency> {
        (0..CURRENCY_TABLE.len()).filter_map(|index| u8::try_from(index).ok().map(Currency))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// An amount in a currency's smallest unit, signed, always within ±(2^53 − 1).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct MinorUnits(i64);

impl MinorUnits {
    pub const ZERO: MinorUnits = MinorUnits(0);

    pub fn new(value: i64) -> Result<MinorUnits, MoneyError> {
        if value.unsigned_abs() > MAX_JSON_INTEGER.unsigned_abs() {
            return Err(MoneyError::OutOfRange(i128::from(value)));
        }
        Ok(MinorUnits(value))
    }

    /// Parses an amount given for a single operation: positive and at most the per-operation limit.
    pub fn positive_amount(value: i64) -> Result<MinorUnits, MoneyError> {
        let amount = MinorUnits::new(value)?;
        if value <= 0 {
            return Err(MoneyError::NotPositive);
        }
        if value > MAX_AMOUNT_PER_OPERATION {
            return Err(MoneyError::AboveLimit(value));
        }
        Ok(amount)
    }

    /// Parses a fee: zero or more, at most the per-operation limit.
    pub fn fee_amount(value: i64) -> Result<MinorUnits, MoneyError> {
        let amount = MinorUnits::new(value)?;
        if value < 0 {
            return Err(MoneyError::Negative);
        }
        if value > MAX_AMOUNT_PER_OPERATION {
            return Err(MoneyError::AboveLimit(value));
        }
        Ok(amount)
    }

    pub fn get(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn checked_add(self, other: MinorUnits) -> Result<MinorUnits, MoneyError> {
        self.0
            .checked_add(other.0)
            .ok_or(MoneyError::Overflow)
            .and_then(MinorUnits::new)
    }

    pub fn checked_sub(self, other: MinorUnits) -> Result<MinorUnits, MoneyError> {
        self.0
            .checked_sub(other.0)
            .ok_or(MoneyError::Overflow)
            .and_then(MinorUnits::new)
    }

    pub fn min(self, other: MinorUnits) -> MinorUnits {
        MinorUnits(self.0.min(other.0))
    }

    pub fn max(self, other: MinorUnits) -> MinorUnits {
        MinorUnits(self.0.max(other.0))
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::from(self.0)
    }
}

impl std::ops::Neg for MinorUnits {
    type Output = MinorUnits;
    fn neg(self) -> MinorUnits {
        // The range is symmetric, so negation never leaves it.
        MinorUnits(-self.0)
    }
}

impl TryFrom<i64> for MinorUnits {
    type Error = MoneyError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        MinorUnits::new(value)
    }
}

impl From<MinorUnits> for i64 {
    fn from(value: MinorUnits) -> i64 {
        value.0
    }
}

impl fmt::Display for MinorUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The one rounding function: a decimal amount of minor units to whole minor units,
/// half away from zero (0.5 → 1, −0.5 → −1). No other code rounds money.
pub fn round_minor(value: Decimal) -> Result<MinorUnits, MoneyError> {
    let rounded = value.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    let whole: i64 = rounded
        .try_into()
        .map_err(|_| MoneyError::OutOfRange(i128::MAX))?;
    MinorUnits::new(whole)
}

/// `amount × numerator ÷ denominator`, rounded once: the share of an amount in proportion,
/// e.g. the part of an application fee returned with a partial refund.
pub fn proportion(
    amount: MinorUnits,
    numerator: MinorUnits,
    denominator: MinorUnits,
) -> Result<MinorUnits, MoneyError> {
    if denominator.is_zero() {
        return Ok(MinorUnits::ZERO);
    }
    let product = amount
        .to_decimal()
        .checked_mul(numerator.to_decimal())
        .ok_or(MoneyError::Overflow)?;
    let share = product
        .checked_div(denominator.to_decimal())
        .ok_or(MoneyError::Overflow)?;
    round_minor(share)
}

/// Splits `total` by weights; every part is rounded toward zero and the leftover units go
/// to the first part, so the parts always sum exactly to `total`.
pub fn allocate(total: MinorUnits, weights: &[Decimal]) -> Result<Vec<MinorUnits>, MoneyError> {
    let weight_sum: Decimal = weights.iter().copied().sum();
    if weights.is_empty() || weight_sum.is_zero() {
        return Ok(vec![MinorUnits::ZERO; weights.len()]);
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut assigned = MinorUnits::ZERO;
    for weight in weights {
        let exact = total
            .to_decimal()
            .checked_mul(*weight)
            .and_then(|product| product.checked_div(weight_sum))
            .ok_or(MoneyError::Overflow)?;
        let part: i64 = exact.trunc().try_into().map_err(|_| MoneyError::Overflow)?;
        let part = MinorUnits::new(part)?;
        assigned = assigned.checked_add(part)?;
        parts.push(part);
    }
    let leftover = total.checked_sub(assigned)?;
    if let Some(first) = parts.first_mut() {
        *first = first.checked_add(leftover)?;
    }
    Ok(parts)
}

/// An amount with its currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: MinorUnits,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: MinorUnits, currency: Currency) -> Money {
        Money { amount, currency }
    }

    pub fn zero(currency: Currency) -> Money {
        Money::new(MinorUnits::ZERO, currency)
    }

    /// The amount in major units as a decimal string with exactly the currency's decimal
    /// places: 1234 usd → "12.34", −5 usd → "-0.05", 500 jpy → "500".
    pub fn decimal(&self) -> String {
        let mut value = Decimal::from(self.amount.get());
        // Setting the scale divides by 10^exponent exactly and keeps trailing zeros.
        value
            .set_scale(self.currency.exponent())
            .map_or_else(|_| self.amount.to_string(), |()| value.to_string())
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        Ok(Money::new(
            self.amount.checked_add(other.amount)?,
            self.currency,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).expect("test decimal")
    }

    #[test]
    fn currency_table_is_sorted_so_lookup_finds_every_code() {
        for pair in CURRENCY_TABLE.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} before {}",
                pair[0].code,
                pair[1].code
            );
        }
        for currency in Currency::all() {
            assert_eq!(Currency::parse(currency.code()), Ok(currency));
        }
    }

    #[test]
    fn zero_decimal_currencies_have_exponent_zero() {
        for code in [
            "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
            "vuv", "xaf", "xof", "xpf",
        ] {
            let currency = Currency::parse(code).expect(code);
            assert_eq!(currency.exponent(), 0, "{code}");
        }
        assert_eq!(Currency::parse("usd").map(Currency::exponent), Ok(2));
    }

    #[test]
    fn unknown_and_uppercase_codes_are_refused() {
        for code in ["USD", "Usd", "xyz", "", "usdd"] {
            assert!(Currency::parse(code).is_err(), "{code}");
        }
    }

    #[test]
    fn minor_units_stay_within_json_integers() {
        assert_eq!(
            MinorUnits::new(MAX_JSON_INTEGER).map(MinorUnits::get),
            Ok(MAX_JSON_INTEGER)
        );
        assert!(MinorUnits::new(MAX_JSON_INTEGER + 1).is_err());
        assert!(MinorUnits::new(-MAX_JSON_INTEGER - 1).is_err());
        let max = MinorUnits::new(MAX_JSON_INTEGER).expect("max");
        assert_eq!(
            max.checked_add(MinorUnits(1)),
            Err(MoneyError::OutOfRange(i128::from(MAX_JSON_INTEGER) + 1))
        );
    }

    #[test]
    fn operation_amounts_are_positive_and_limited() {
        assert_eq!(MinorUnits::positive_amount(0), Err(MoneyError::NotPositive));
        assert_eq!(
            MinorUnits::positive_amount(-1),
            Err(MoneyError::NotPositive)
        );
        assert_eq!(
            MinorUnits::positive_amount(100_000_000),
            Err(MoneyError::AboveLimit(100_000_000))
        );
        assert_eq!(
            MinorUnits::positive_amount(99_999_999).map(MinorUnits::get),
            Ok(99_999_999)
        );
        assert_eq!(MinorUnits::fee_amount(0).map(MinorUnits::get), Ok(0));
        assert_eq!(MinorUnits::fee_amount(-1), Err(MoneyError::Negative));
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        let cases = [
            ("0.5", 1),
            ("1.5", 2),
            ("2.5", 3),
            ("-0.5", -1),
            ("-2.5", -3),
            ("2.4999", 2),
            ("319.99", 320),
            ("0", 0),
        ];
        for (input, expected) in cases {
            assert_eq!(
                round_minor(dec(input)).map(MinorUnits::get),
                Ok(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn proportion_rounds_once() {
        let fee = MinorUnits(1000);
        assert_eq!(
            proportion(fee, MinorUnits(1500), MinorUnits(2000)).map(MinorUnits::get),
            Ok(750)
        );
        assert_eq!(
            proportion(MinorUnits(333), MinorUnits(1), MinorUnits(2)).map(MinorUnits::get),
            Ok(167)
        );
        assert_eq!(
            proportion(fee, MinorUnits(1), MinorUnits::ZERO).map(MinorUnits::get),
            Ok(0)
        );
    }

    #[test]
    fn allocation_gives_the_leftover_to_the_first_part() {
        let parts = allocate(MinorUnits(1001), &[dec("1"), dec("1"), dec("1")]).expect("allocate");
        assert_eq!(
            parts,
            vec![MinorUnits(335), MinorUnits(333), MinorUnits(333)]
        );
        let parts = allocate(MinorUnits(10), &[dec("80"), dec("20")]).expect("allocate");
        assert_eq!(parts, vec![MinorUnits(8), MinorUnits(2)]);
    }

    #[test]
    fn decimal_strings_follow_the_exponent() {
        let usd = Currency::parse("usd").expect("usd");
        let jpy = Currency::parse("jpy").expect("jpy");
        assert_eq!(Money::new(MinorUnits(1234), usd).decimal(), "12.34");
        assert_eq!(Money::new(MinorUnits(-5), usd).decimal(), "-0.05");
        assert_eq!(Money::new(MinorUnits(1000), usd).decimal(), "10.00");
        assert_eq!(Money::new(MinorUnits(500), jpy).decimal(), "500");
    }
}
