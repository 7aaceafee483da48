//! What policy test files use: sample facts built by `charge(#{…})`, `account(#{…})` and `payout(#{…})`, and `assert_eq`/`assert`.
//!
//! A sample starts from the defaults below and applies the keys given; it is then turned
//! into a map by the same code production uses, so a test sees exactly what a hook sees.

use std::collections::BTreeMap;

use rhai::{Dynamic, Engine, EvalAltResult, Map};

use super::facts::{
    AccountFacts, AccountType, CardFacts, ChargeFacts, ChargeFlow, PayoutFacts, PlatformFacts,
};
use super::helpers::{decimal_of, describe_value, helper_error};
use crate::money::{Currency, MinorUnits};

/// The creation time of sample charges: 2023-11-14T22:13:20Z.
pub const SAMPLE_CREATED_UNIX_SECONDS: i64 = 1_700_000_000;
const SAMPLE_AMOUNT_MINOR: i64 = 10_000;

type SampleResult = Result<Dynamic, Box<EvalAltResult>>;

pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn("charge", |overrides: Map| -> SampleResult {
        let mut facts = ChargeFacts::sample();
        apply_charge(&mut facts, &overrides)
            .map_err(|message| helper_error(format!("charge(): {message}")))?;
        Ok(facts.to_dynamic())
    });
    engine.register_fn("account", |overrides: Map| -> SampleResult {
        let mut facts = AccountFacts::sample();
        apply_account(&mut facts, &overrides)
            .map_err(|message| helper_error(format!("account(): {message}")))?;
        Ok(facts.to_dynamic())
    });
    engine.register_fn("payout", |overrides: Map| -> SampleResult {
        let mut facts = PayoutFacts::sample();
        apply_payout(&mut facts, &overrides)
            .map_err(|message| helper_error(format!("payout(): {message}")))?;
        Ok(facts.to_dynamic())
    });
    engine.register_fn("assert_eq", |actual: Dynamic, expected: Dynamic| {
        assert_equal(&actual, &expected, "")
    });
    engine.register_fn(
        "assert_eq",
        |actual: Dynamic, expected: Dynamic, note: &str| assert_equal(&actual, &expected, note),
    );
    engine.register_fn("assert", |condition: bool| assert_true(condition, ""));
    engine.register_fn("assert", |condition: bool, note: &str| {
        assert_true(condition, note)
    });
}

impl ChargeFacts {
    /// The charge `charge(#{})` builds in a test file: 10000 usd by card, a destination
    /// charge to an Express account in the US, created at [`SAMPLE_CREATED_UNIX_SECONDS`].
    pub fn sample() -> ChargeFacts {
        ChargeFacts {
            amount: sample_amount(),
            currency: usd(),
            flow: ChargeFlow::Destination,
            payment_method: "pm_card_visa".to_string(),
            card: CardFacts {
                brand: "visa".to_string(),
                country: "US".to_string(),
                funding: "credit".to_string(),
            },
            account: Some(AccountFacts::sample()),
            on_behalf_of: None,
            metadata: BTreeMap::new(),
            description: None,
            transfer_group: None,
            platform: PlatformFacts {
                id: "plat_sample".to_string(),
                name: "Sample platform".to_string(),
                country: "US".to_string(),
            },
            created_unix_seconds: SAMPLE_CREATED_UNIX_SECONDS,
        }
    }
}

impl AccountFacts {
    /// The account `account(#{})` builds: an Express account in the US paid in usd.
    pub fn sample() -> AccountFacts {
        AccountFacts {
            id: "acct_sample".to_string(),
            account_type: AccountType::Express,
            country: "US".to_string(),
            default_currency: usd(),
            metadata: BTreeMap::new(),
        }
    }
}

impl PayoutFacts {
    /// The payout `payout(#{})` builds: 10000 usd to the sample account.
    pub fn sample() -> PayoutFacts {
        PayoutFacts {
            amount: sample_amount(),
            currency: usd(),
            account: AccountFacts::sample(),
        }
    }
}

fn usd() -> Currency {
    Currency::parse("usd").expect("usd is in the currency table")
}

fn sample_amount() -> MinorUnits {
    MinorUnits::positive_amount(SAMPLE_AMOUNT_MINOR)
        .expect("the sample amount is within the per-operation limit")
}

fn apply_charge(facts: &mut ChargeFacts, overrides: &Map) -> Result<(), String> {
    for (key, value) in overrides {
        match key.as_str() {
            "amount" => facts.amount = amount_of(key, value)?,
            "currency" => facts.currency = currency_of(key, value)?,
            "flow" => {
                facts.flow = ChargeFlow::parse(&text_of(key, value)?)
                    .ok_or_else(|| format!("flow must be \"direct\", \"destination\" or \"separate\", got {}", describe_value(value)))?;
            }
            "payment_method" => facts.payment_method = text_of(key, value)?,
            "card" => apply_card(&mut facts.card, &*map_of(key, value)?)?,
            "account" if value.is_unit() => facts.account = None,
            "account" => {
                let mut account = facts.account.take().unwrap_or_else(AccountFacts::sample);
                apply_account(&mut account, &*map_of(key, value)?)?;
                facts.account = Some(account);
            }
            "on_behalf_of" => facts.on_behalf_of = optional_text_of(key, value)?,
            "metadata" => facts.metadata = metadata_of(value)?,
            "description" => facts.description = optional_text_of(key, value)?,
            "transfer_group" => facts.transfer_group = optional_text_of(key, value)?,
            "platform" => apply_platform(&mut facts.platform, &*map_of(key, value)?)?,
            "created" => facts.created_unix_seconds = value.as_int().map_err(|_| expected(key, "an integer (unix seconds)", value))?,
            other => return Err(unknown_key(other, "amount, currency, flow, payment_method, card, account, on_behalf_of, metadata, description, transfer_group, platform, created")),
        }
    }
    Ok(())
}

fn apply_card(card: &mut CardFacts, overrides: &Map) -> Result<(), String> {
    for (key, value) in overrides {
        match key.as_str() {
            "brand" => card.brand = text_of(key, value)?,
            "country" => card.country = text_of(key, value)?,
            "funding" => card.funding = text_of(key, value)?,
            other => return Err(unknown_key(other, "brand, country, funding")),
        }
    }
    Ok(())
}

fn apply_account(account: &mut AccountFacts, overrides: &Map) -> Result<(), String> {
    for (key, value) in overrides {
        match key.as_str() {
            "id" => account.id = text_of(key, value)?,
            "type" => {
                account.account_type =
                    AccountType::parse(&text_of(key, value)?).ok_or_else(|| {
                        format!(
                            "type must be \"standard\", \"express\" or \"custom\", got {}",
                            describe_value(value)
                        )
                    })?;
            }
            "country" => account.country = text_of(key, value)?,
            "default_currency" => account.default_currency = currency_of(key, value)?,
            "metadata" => account.metadata = metadata_of(value)?,
            other => {
                return Err(unknown_key(
                    other,
                    "id, type, country, default_currency, metadata",
                ))
            }
        }
    }
    Ok(())
}

fn apply_platform(platform: &mut PlatformFacts, overrides: &Map) -> Result<(), String> {
    for (key, value) in overrides {
        match key.as_str() {
            "id" => platform.id = text_of(key, value)?,
            "name" => platform.name = text_of(key, value)?,
            "country" => platform.country = text_of(key, value)?,
            other => return Err(unknown_key(other, "id, name, country")),
        }
    }
    Ok(())
}

fn apply_payout(payout: &mut PayoutFacts, overrides: &Map) -> Result<(), String> {
    for (key, value) in overrides {
        match key.as_str() {
            "amount" => payout.amount = amount_of(key, value)?,
            "currency" => payout.currency = currency_of(key, value)?,
            "account" => apply_account(&mut payout.account, &*map_of(key, value)?)?,
            other => return Err(unknown_key(other, "amount, currency, account")),
        }
    }
    Ok(())
}

fn amount_of(key: &str, value: &Dynamic) -> Result<MinorUnits, String> {
    let whole = value
        .as_int()
        .map_err(|_| expected(key, "an integer amount in minor units", value))?;
    MinorUnits::positive_amount(whole).map_err(|error| format!("{key}: {error}"))
}

fn currency_of(key: &str, value: &Dynamic) -> Result<Currency, String> {
    Currency::parse(&text_of(key, value)?).map_err(|error| format!("{key}: {error}"))
}

fn text_of(key: &str, value: &Dynamic) -> Result<String, String> {
    value
        .clone()
        .into_string()
        .map_err(|_| expected(key, "a string", value))
}

fn optional_text_of(key: &str, value: &Dynamic) -> Result<Option<String>, String> {
    if value.is_unit() {
        return Ok(None);
    }
    text_of(key, value).map(Some)
}

fn map_of<'a>(
    key: &str,
    value: &'a Dynamic,
) -> Result<impl std::ops::Deref<Target = Map> + 'a, String> {
    value
        .as_map_ref()
        .map_err(|_| expected(key, "a map", value))
}

/// Metadata values are strings, as in production; numbers and booleans given in a test
/// are turned into their text so that `parse_int(charge.metadata.tip)` works in both.
fn metadata_of(value: &Dynamic) -> Result<BTreeMap<String, String>, String> {
    let entries = map_of("metadata", value)?;
    entries
        .iter()
        .map(|(key, entry)| {
            if entry.is_string() || entry.is_int() || entry.is_decimal() || entry.is_bool() {
                Ok((key.to_string(), entry.to_string()))
            } else {
                Err(expected(
                    &format!("metadata.{key}"),
                    "a string or a number",
                    entry,
                ))
            }
        })
        .collect()
}

fn expected(key: &str, wanted: &str, value: &Dynamic) -> String {
    format!("{key} must be {wanted}, got {}", describe_value(value))
}

fn unknown_key(key: &str, known: &str) -> String {
    format!("there is no field '{key}' (fields: {known})")
}

fn assert_equal(
    actual: &Dynamic,
    expected: &Dynamic,
    note: &str,
) -> Result<(), Box<EvalAltResult>> {
    if values_equal(actual, expected) {
        return Ok(());
    }
    let suffix = if note.is_empty() {
        String::new()
    } else {
        format!(" ({note})")
    };
    Err(helper_error(format!(
        "assert_eq failed: got {}, expected {}{suffix}",
        describe_value(actual),
        describe_value(expected)
    )))
}

fn assert_true(condition: bool, note: &str) -> Result<(), Box<EvalAltResult>> {
    if condition {
        return Ok(());
    }
    let suffix = if note.is_empty() {
        String::new()
    } else {
        format!(": {note}")
    };
    Err(helper_error(format!("assert failed{suffix}")))
}

/// Equality for test assertions: numbers compare by value whether integer or decimal
/// (320 equals 320.000), arrays and maps element by element, other values by type and text.
pub(crate) fn values_equal(left: &Dynamic, right: &Dynamic) -> bool {
    if let (Some(left_number), Some(right_number)) = (decimal_of(left), decimal_of(right)) {
        return left_number == right_number;
    }
    if let (Ok(left_items), Ok(right_items)) = (left.as_array_ref(), right.as_array_ref()) {
        return left_items.len() == right_items.len()
            && left_items
                .iter()
                .zip(right_items.iter())
                .all(|(a, b)| values_equal(a, b));
    }
    if let (Ok(left_map), Ok(right_map)) = (left.as_map_ref(), right.as_map_ref()) {
        return left_map.len() == right_map.len()
            && left_map.iter().all(|(key, value)| {
                right_map
                    .get(key)
                    .is_some_and(|other| values_equal(value, other))
            });
    }
    left.type_name() == right.type_name() && left.to_string() == right.to_string()
}
