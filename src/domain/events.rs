//! An event (`evt_…`): a record of a change, written in the same commit as the change, and
//! the catalogue of every event type with when it fires and what its object is.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{AccountId, EventId};
use crate::money::{Currency, MinorUnits, Money};

/// The longest event type name accepted in filters.
pub const MAX_EVENT_TYPE_CHARS: usize = 64;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub event_type: String,
    pub account: Option<AccountId>,
    /// The object as it was when the event happened, with the field names of its GraphQL
    /// type (see [`wire_object`]).
    pub data: serde_json::Value,
    /// For updates: the fields that changed, with their values before the change.
    #[serde(default)]
    pub previous_attributes: Option<serde_json::Value>,
    pub created: DateTime<Utc>,
}

/// One type of event: its name, when it fires and what `data.object` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventType {
    pub name: &'static str,
    pub fires_when: &'static str,
    pub object: &'static str,
}

const fn event_type(
    name: &'static str,
    fires_when: &'static str,
    object: &'static str,
) -> EventType {
    EventType {
        name,
        fires_when,
        object,
    }
}

/// Every event type the server writes. Webhook endpoints may only ask for these (or `*`),
/// and the README's event catalogue is generated from this table.
pub const EVENT_CATALOGUE: &[EventType] = &[
    event_type(
        "account.updated",
        "a connected account's details, requirements or status change",
        "Account",
    ),
    event_type(
        "account.external_account.created",
        "a bank account or debit card is added to a connected account",
        "ExternalAccount",
    ),
    event_type(
        "account.external_account.deleted",
        "the platform deletes a bank account or debit card from a connected account",
        "ExternalAccount",
    ),
    event_type(
        "account.external_account.updated",
        "an external account's status changes (e.g. errored after a failed payout), or it is made its currency's default or its holder renamed",
        "ExternalAccount",
    ),
    event_type(
        "account.application.authorized",
        "a platform redeems a standalone account's authorization (connectAccount)",
        "{id, name, scope}: the platform",
    ),
    event_type(
        "account.application.deauthorized",
        "a connection ends: the platform disconnects the account or the account revokes the platform",
        "{id, name, scope}: the platform",
    ),
    event_type(
        "account_debit.created",
        "the platform debits a connected account",
        "AccountDebit",
    ),
    event_type(
        "application_fee.created",
        "a charge collects an application fee for the platform",
        "ApplicationFee",
    ),
    event_type(
        "application_fee.refunded",
        "an application fee is refunded, wholly or partly",
        "ApplicationFee",
    ),
    event_type(
        "balance.available",
        "pending funds become available",
        "{holder, released: {currency: minor units}}",
    ),
    event_type(
        "capability.updated",
        "a capability of a connected account changes status",
        "Capability {account, name, requested, status}",
    ),
    event_type(
        "charge.captured",
        "an authorized charge is captured",
        "Charge",
    ),
    event_type(
        "charge.dispute.closed",
        "a dispute is won or lost",
        "Dispute",
    ),
    event_type(
        "charge.dispute.created",
        "a customer disputes a charge",
        "Dispute",
    ),
    event_type(
        "charge.dispute.updated",
        "evidence is submitted for a dispute",
        "Dispute",
    ),
    event_type(
        "charge.expired",
        "an uncaptured charge's authorization lapses",
        "Charge",
    ),
    event_type("charge.failed", "a charge is declined", "Charge"),
    event_type(
        "charge.refunded",
        "a charge is refunded, wholly or partly",
        "Charge",
    ),
    event_type("charge.succeeded", "a charge succeeds", "Charge"),
    event_type(
        "payout.canceled",
        "a payout is canceled before it is paid",
        "Payout",
    ),
    event_type(
        "payout.created",
        "a payout is created, by request or by the payout schedule",
        "Payout",
    ),
    event_type("payout.failed", "the bank returns a payout", "Payout"),
    event_type("payout.paid", "a payout arrives at the bank", "Payout"),
    event_type(
        "payout.updated",
        "a payout is submitted to the bank",
        "Payout",
    ),
    event_type(
        "policy.load_failed",
        "a changed policy file fails to compile or its tests fail; the last good version stays",
        "{policy, error}",
    ),
    event_type(
        "policy.updated",
        "a changed policy file is swapped in",
        "{policy, version}",
    ),
    event_type(
        "timer.failed",
        "scheduled work (a release, a payout run, …) failed every retry and was set aside",
        "{kind, subject, attempts}",
    ),
    event_type("topup.created", "the platform tops up its balance", "Topup"),
    event_type(
        "topup.succeeded",
        "a top-up's funds become available",
        "Topup",
    ),
    event_type(
        "transfer.created",
        "money moves from the platform to a connected account",
        "Transfer",
    ),
    event_type(
        "transfer.reversed",
        "a transfer is reversed, wholly or partly",
        "Transfer",
    ),
    event_type(
        "webhook_endpoint.created",
        "a webhook endpoint is registered",
        "WebhookEndpoint",
    ),
    event_type(
        "webhook_endpoint.updated",
        "a webhook endpoint's URL, event types or state change, or its secret is rolled",
        "WebhookEndpoint",
    ),
    event_type(
        "webhook_endpoint.deleted",
        "a webhook endpoint is deleted",
        "WebhookEndpoint",
    ),
    event_type(
        "webhook_endpoint.disabled",
        "an endpoint that failed every delivery attempt for three days is disabled",
        "WebhookEndpoint",
    ),
];

/// Whether the server writes events of this type.
pub fn is_cataloged(name: &str) -> bool {
    EVENT_CATALOGUE.iter().any(|entry| entry.name == name)
}

/// The catalogue as a Markdown table, for the README.
pub fn catalogue_markdown() -> String {
    let mut table = String::from("| type | fires when | `data.object` |\n|---|---|---|\n");
    for entry in EVENT_CATALOGUE {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            entry.name, entry.fires_when, entry.object
        ));
    }
    table
}

/// An object's JSON as events carry it, in the shape of its GraphQL type: the record's
/// `snake_case` field names become `camelCase` at every depth, and amounts in minor units
/// beside a `currency` (`amount`, `amount_refunded`, …) become `Money` objects with their
/// `decimal`, as the API shows them.
pub fn wire_object(value: Value) -> Value {
    match value {
        Value::Object(fields) => {
            if let Some(money) = money_object(&fields) {
                return money;
            }
            let currency = fields
                .get("currency")
                .and_then(Value::as_str)
                .and_then(|code| Currency::parse(code).ok());
            Value::Object(
                fields
                    .into_iter()
                    .map(|(name, value)| {
                        let value = match (currency, &value) {
                            (Some(currency), Value::Number(amount)) if is_amount_field(&name) => {
                                amount
                                    .as_i64()
                                    .and_then(|amount| money_json(amount, currency))
                            }
                            _ => None,
                        }
                        .unwrap_or_else(|| wire_object(value));
                        (camel_case(&name), value)
                    })
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(wire_object).collect()),
        other => other,
    }
}

fn is_amount_field(name: &str) -> bool {
    name == "amount" || name.starts_with("amount_")
}

/// `{amount, currency}` as the GraphQL `Money` type shows it, or `None` when it is not one.
fn money_object(fields: &Map<String, Value>) -> Option<Value> {
    if fields.len() != 2 {
        return None;
    }
    let amount = fields.get("amount")?.as_i64()?;
    let currency = Currency::parse(fields.get("currency")?.as_str()?).ok()?;
    money_json(amount, currency)
}

fn money_json(amount: i64, currency: Currency) -> Option<Value> {
    let money = Money::new(MinorUnits::new(amount).ok()?, currency);
    Some(serde_json::json!({
        "amount": amount,
        "currency": currency.code(),
        "decimal": money.decimal(),
    }))
}

fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper_next = false;
    for character in name.chars() {
        if character == '_' && !out.is_empty() {
            upper_next = true;
        } else if upper_next {
            out.extend(character.to_uppercase());
            upper_next = false;
        } else {
            out.push(character);
        }
    }
    out
}

/// The top-level fields of `before` whose values differ in `after`, with their old values;
/// `None` when nothing changed or either side is not an object.
pub fn previous_attributes(before: &Value, after: &Value) -> Option<Value> {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return None;
    };
    let mut changed = Map::new();
    for (name, old) in before {
        if after.get(name) != Some(old) {
            changed.insert(name.clone(), old.clone());
        }
    }
    for name in after.keys() {
        if !before.contains_key(name) {
            changed.insert(name.clone(), Value::Null);
        }
    }
    (!changed.is_empty()).then_some(Value::Object(changed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_take_their_graphql_field_names() {
        assert_eq!(
            wire_object(
                json!({"id": "ch_1", "amount_refunded": {"amount": 5}, "fee_details": [{"fee_type": "x"}]})
            ),
            json!({"id": "ch_1", "amountRefunded": {"amount": 5}, "feeDetails": [{"feeType": "x"}]})
        );
    }

    #[test]
    fn previous_attributes_hold_only_changed_fields() {
        let before = json!({"id": "po_1", "status": "pending", "amount": 5});
        let after = json!({"id": "po_1", "status": "paid", "amount": 5, "arrival": 1});
        assert_eq!(
            previous_attributes(&before, &after),
            Some(json!({"status": "pending", "arrival": null}))
        );
        assert_eq!(previous_attributes(&before, &before), None);
    }

    #[test]
    fn the_catalogue_has_each_type_once() {
        let mut names: Vec<_> = EVENT_CATALOGUE.iter().map(|entry| entry.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EVENT_CATALOGUE.len());
    }
}
