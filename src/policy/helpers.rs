//! The host functions policies call for money arithmetic: percent, bps, min, max, clamp, round_minor, is_zero_decimal.
//!
//! Every helper accepts integers and decimals in any mix. `percent` and `bps` return exact
//! decimals and leave rounding to the host, so a fee is rounded once, at the end.

use std::cmp::Ordering;

use rhai::{Dynamic, Engine, EvalAltResult, Position, INT};
use rust_decimal::Decimal;

use crate::money::{self, Currency};

type HelperResult = Result<Dynamic, Box<EvalAltResult>>;

pub(crate) fn register(engine: &mut Engine) {
    register_binary(engine, "percent", percent);
    register_binary(engine, "bps", bps);
    register_binary(engine, "min", |left, right| {
        pick("min", left, right, Ordering::Less)
    });
    register_binary(engine, "max", |left, right| {
        pick("max", left, right, Ordering::Greater)
    });
    register_clamp(engine);
    engine.register_fn("round_minor", |value: Dynamic| -> HelperResult {
        let exact = number("round_minor", &value)?;
        let rounded = money::round_minor(exact).map_err(|error| helper_error(error.to_string()))?;
        Ok(Dynamic::from(rounded.get()))
    });
    engine.register_fn(
        "is_zero_decimal",
        |code: &str| -> Result<bool, Box<EvalAltResult>> {
            Currency::parse(code)
                .map(Currency::is_zero_decimal)
                .map_err(|error| helper_error(error.to_string()))
        },
    );
}

type Binary = fn(Dynamic, Dynamic) -> HelperResult;

/// Registers a two-argument helper under exact signatures for every mix of integers and
/// decimals, and once more for any values, so that a wrong type gets a clear message.
/// Rhai finds an exact signature in one lookup, but tries every combination of argument
/// types before it reaches a `Dynamic` one, which made each helper call several times
/// slower.
fn register_binary(engine: &mut Engine, name: &str, helper: Binary) {
    engine.register_fn(name, move |left: INT, right: INT| {
        helper(left.into(), right.into())
    });
    engine.register_fn(name, move |left: INT, right: Decimal| {
        helper(left.into(), right.into())
    });
    engine.register_fn(name, move |left: Decimal, right: INT| {
        helper(left.into(), right.into())
    });
    engine.register_fn(name, move |left: Decimal, right: Decimal| {
        helper(left.into(), right.into())
    });
    engine.register_fn(name, helper);
}

/// `clamp` under the same scheme as [`register_binary`], for its three arguments.
fn register_clamp(engine: &mut Engine) {
    engine.register_fn("clamp", |value: INT, low: INT, high: INT| {
        clamp(value.into(), low.into(), high.into())
    });
    engine.register_fn("clamp", |value: INT, low: INT, high: Decimal| {
        clamp(value.into(), low.into(), high.into())
    });
    engine.register_fn("clamp", |value: INT, low: Decimal, high: INT| {
        clamp(value.into(), low.into(), high.into())
    });
    engine.register_fn("clamp", |value: INT, low: Decimal, high: Decimal| {
        clamp(value.into(), low.into(), high.into())
    });
    engine.register_fn("clamp", |value: Decimal, low: INT, high: INT| {
        clamp(value.into(), low.into(), high.into())
    });
    engine.register_fn("clamp", |value: Decimal, low: INT, high: Decimal| {
        clamp(value.into(), low.into(), high.into())
    });
    engine.register_fn("clamp", |value: Decimal, low: Decimal, high: INT| {
        clamp(value.into(), low.into(), high.into())
    });
    engine.register_fn("clamp", |value: Decimal, low: Decimal, high: Decimal| {
        clamp(value.into(), low.into(), high.into())
    });
    engine.register_fn("clamp", clamp);
}

fn percent(amount: Dynamic, percent: Dynamic) -> HelperResult {
    scaled("percent", &amount, &percent, Decimal::ONE_HUNDRED)
}

fn bps(amount: Dynamic, basis_points: Dynamic) -> HelperResult {
    scaled("bps", &amount, &basis_points, Decimal::from(10_000))
}

/// The value as an exact decimal, if it is a number (an integer or a decimal).
pub(crate) fn decimal_of(value: &Dynamic) -> Option<Decimal> {
    if let Ok(whole) = value.as_int() {
        return Some(Decimal::from(whole));
    }
    value.as_decimal().ok()
}

fn number(helper: &str, value: &Dynamic) -> Result<Decimal, Box<EvalAltResult>> {
    decimal_of(value).ok_or_else(|| {
        helper_error(format!(
            "{helper} expects numbers (integers or decimals), got a {}",
            value.type_name()
        ))
    })
}

/// `amount × rate ÷ divisor`, exact: percent(10000, 2.9) is 290.0.
fn scaled(helper: &str, amount: &Dynamic, rate: &Dynamic, divisor: Decimal) -> HelperResult {
    let amount = number(helper, amount)?;
    let rate = number(helper, rate)?;
    amount
        .checked_mul(rate)
        .and_then(|product| product.checked_div(divisor))
        // Normalised, so that messages and test output read 290, not 290.000.
        .map(|exact| Dynamic::from(exact.normalize()))
        .ok_or_else(|| helper_error(format!("{helper}({amount}, {rate}) overflowed")))
}

/// Returns whichever argument compares as `wanted`, keeping its type (integer or decimal).
fn pick(helper: &str, left: Dynamic, right: Dynamic, wanted: Ordering) -> HelperResult {
    let ordering = number(helper, &right)?.cmp(&number(helper, &left)?);
    Ok(if ordering == wanted { right } else { left })
}

fn clamp(value: Dynamic, low: Dynamic, high: Dynamic) -> HelperResult {
    let exact = number("clamp", &value)?;
    let low_exact = number("clamp", &low)?;
    let high_exact = number("clamp", &high)?;
    if low_exact > high_exact {
        return Err(helper_error(format!(
            "clamp needs low ≤ high, got low {low_exact} and high {high_exact}"
        )));
    }
    Ok(if exact < low_exact {
        low
    } else if exact > high_exact {
        high
    } else {
        value
    })
}

/// A short, quoted rendering of a script value for error messages: strings in quotes,
/// everything else as Rhai prints it, cut at a bounded length.
pub(crate) fn describe_value(value: &Dynamic) -> String {
    const MAX_DESCRIBED_CHARS: usize = 80;
    let rendered = if value.is_string() {
        format!("{:?}", value.to_string())
    } else if value.is_unit() {
        "()".to_string()
    } else {
        value.to_string()
    };
    if rendered.chars().count() <= MAX_DESCRIBED_CHARS {
        return rendered;
    }
    let shortened: String = rendered.chars().take(MAX_DESCRIBED_CHARS).collect();
    format!("{shortened}…")
}

/// A runtime error without a position: Rhai fills in the position of the call site.
pub(crate) fn helper_error(message: String) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(Dynamic::from(message), Position::NONE).into()
}

#[cfg(test)]
mod tests {
    use super::super::PolicyEngine;
    use rhai::Dynamic;

    fn evaluate(expression: &str) -> String {
        let engine = PolicyEngine::new();
        let source = format!("fn hook(x) {{ {expression} }}");
        let ast = engine.compile(&source).expect("compiles");
        match engine.call(&ast, "hook", vec![Dynamic::UNIT]) {
            Ok(value) => format!("{value} {}", value.type_name()),
            Err(error) => format!("error: {error}"),
        }
    }

    #[test]
    fn helpers_mix_integers_and_decimals() {
        let cases = [
            ("percent(10000, 2.9)", "290 decimal"),
            ("percent(1001, 50)", "500.5 decimal"),
            ("bps(10000, 150)", "150 decimal"),
            ("min(3, 2.5)", "2.5 decimal"),
            ("min(3, 4)", "3 i64"),
            ("max(49.9, 50)", "50 i64"),
            ("max(2.5, 1.5)", "2.5 decimal"),
            ("clamp(20, 50, 2000)", "50 i64"),
            ("clamp(512.5, 50, 2000)", "512.5 decimal"),
            ("clamp(2500.0, 50, 2000)", "2000 i64"),
            ("round_minor(0.5)", "1 i64"),
            ("round_minor(2.5)", "3 i64"),
            ("round_minor(-2.5)", "-3 i64"),
            ("round_minor(percent(10, 10.5))", "1 i64"),
            ("round_minor(7)", "7 i64"),
            ("is_zero_decimal(\"jpy\")", "true bool"),
            ("is_zero_decimal(\"usd\")", "false bool"),
        ];
        for (expression, expected) in cases {
            assert_eq!(evaluate(expression), expected, "{expression}");
        }
    }

    #[test]
    fn helpers_reject_what_is_not_a_number() {
        assert!(evaluate("percent(\"100\", 5)")
            .starts_with("error: Runtime error: percent expects numbers"));
        assert!(
            evaluate("clamp(5, 10, 1)").starts_with("error: Runtime error: clamp needs low ≤ high")
        );
        assert!(evaluate("is_zero_decimal(\"USD\")")
            .starts_with("error: Runtime error: 'USD' is not a currency"));
    }
}
