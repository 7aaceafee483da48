//! A policy backtest as the command line prints it: the totals and the largest changes as
//! a plain-text table, and every replayed charge as CSV.

use std::fmt::Write as _;

use crate::domain::charges::PricedSplit;
use crate::domain::policy_backtests::ReplayedCharge;
use crate::money::{Currency, MinorUnits, Money};
use crate::service::backtests::Backtest;

/// How many changed charges the table lists, largest differences first.
pub const REPORT_TABLE_ROWS: usize = 20;

/// The CSV header; amounts are in minor units.
pub const CSV_HEADER: &str = "charge,currency,current_fee,candidate_fee,difference,current_route,candidate_route,error_hook,error_line,error_column,error_message,facts_rebuilt";

/// The totals and the [`REPORT_TABLE_ROWS`] largest changes.
pub fn table(backtest: &Backtest) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "candidate {} ({}) against {} ({})",
        backtest.candidate_policy,
        short_version(&backtest.candidate_version),
        backtest.current_policy,
        short_version(&backtest.current_version)
    );
    let _ = writeln!(
        out,
        "{} charges replayed, {} refused by the candidate, {} with rebuilt facts",
        backtest.charges, backtest.errors, backtest.rebuilt_facts
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<8} {:>14} {:>14} {:>14}",
        "currency", "current", "candidate", "difference"
    );
    for ((current, candidate), difference) in backtest
        .current_fees
        .iter()
        .zip(&backtest.candidate_fees)
        .zip(&backtest.difference)
    {
        let _ = writeln!(
            out,
            "{:<8} {:>14} {:>14} {:>14}",
            current.currency.code(),
            current.decimal(),
            candidate.decimal(),
            difference.decimal()
        );
    }
    let changes: Vec<&ReplayedCharge> = backtest
        .results
        .iter()
        .filter(|result| result.changed())
        .take(REPORT_TABLE_ROWS)
        .collect();
    let _ = writeln!(out);
    if changes.is_empty() {
        let _ = writeln!(out, "no charge changes");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<29} {:<8} {:>12} {:>12} {:>12}  change",
        "charge", "currency", "current", "candidate", "difference"
    );
    for result in changes {
        let _ = writeln!(
            out,
            "{:<29} {:<8} {:>12} {:>12} {:>12}  {}",
            result.charge,
            result.currency.code(),
            decimal(result.current_fee, result.currency),
            decimal(result.candidate_fee, result.currency),
            result.fee_difference().map_or_else(
                |_| "-".to_owned(),
                |difference| { Money::new(difference, result.currency).decimal() }
            ),
            change_note(result)
        );
    }
    out
}

/// Every replayed charge, largest differences first, one CSV row each.
pub fn csv(backtest: &Backtest) -> String {
    let mut out = String::with_capacity(backtest.results.len() * 96);
    out.push_str(CSV_HEADER);
    out.push('\n');
    for result in &backtest.results {
        let error = result.error.as_ref();
        let fields = [
            result.charge.to_string(),
            result.currency.code().to_owned(),
            minor(result.current_fee),
            minor(result.candidate_fee),
            result
                .fee_difference()
                .map(|difference| difference.get().to_string())
                .unwrap_or_default(),
            route(result.current_route.as_deref()),
            route(result.candidate_route.as_deref()),
            error
                .and_then(|error| error.hook.clone())
                .unwrap_or_default(),
            error
                .and_then(|error| error.line)
                .map(|line| line.to_string())
                .unwrap_or_default(),
            error
                .and_then(|error| error.column)
                .map(|column| column.to_string())
                .unwrap_or_default(),
            error.map(|error| error.message.clone()).unwrap_or_default(),
            result.facts_rebuilt.to_string(),
        ];
        let row: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

fn short_version(version: &str) -> &str {
    version.get(..12).unwrap_or(version)
}

fn decimal(amount: Option<MinorUnits>, currency: Currency) -> String {
    amount.map_or_else(
        || "-".to_owned(),
        |amount| Money::new(amount, currency).decimal(),
    )
}

fn minor(amount: Option<MinorUnits>) -> String {
    amount
        .map(|amount| amount.get().to_string())
        .unwrap_or_default()
}

/// `acct_…:808;acct_…:200`, empty when there is no route.
fn route(splits: Option<&[PricedSplit]>) -> String {
    splits
        .unwrap_or_default()
        .iter()
        .map(|split| format!("{}:{}", split.destination, split.amount.get()))
        .collect::<Vec<_>>()
        .join(";")
}

fn change_note(result: &ReplayedCharge) -> String {
    if let Some(error) = &result.error {
        let mut note = String::from("refused");
        if let Some(hook) = &error.hook {
            let _ = write!(note, " in {hook}");
        }
        if let (Some(line), Some(column)) = (error.line, error.column) {
            let _ = write!(note, " at line {line}, column {column}");
        }
        let _ = write!(note, ": {}", error.message);
        return note;
    }
    if result.route_changed() {
        return format!(
            "route {} -> {}",
            route(result.current_route.as_deref()),
            route(result.candidate_route.as_deref())
        );
    }
    "fee".to_owned()
}

/// Quotes a field holding a comma, quote or line break, doubling its quotes (RFC 4180).
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_commas_quotes_or_line_breaks_are_quoted() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"no\""), "\"say \"\"no\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
