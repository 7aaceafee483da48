//! Money bugs the model-based test and the bank workload found, each pinned by the smallest
//! request sequence that showed it.

use serde_json::{json, Value};

use crate::charges_support::{balances, create_charge, enabled_account};
use crate::helpers::{assert_no_errors, error_code, spawn_app, TestApp};
use crate::refunds_support::refund;

async fn transfer_from(app: &TestApp, account: &str, charge: &str, amount: i64) {
    let body = app
        .graphql(
            "mutation($d: ID!, $a: MinorUnits!, $s: ID!) { createTransfer(input: {destination: $d, amount: $a, currency: \"usd\", sourceTransaction: $s}) { id } }",
            json!({"d": account, "a": amount, "s": charge}),
        )
        .await;
    assert_no_errors(&body);
}

fn id_of(body: &Value) -> String {
    body["data"]["createCharge"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("charge: {body}"))
        .to_owned()
}

/// A refund that reverses two transfers to the same account needs both covered by the
/// account's available balance, not each on its own: 2 × 3000 out of 4000 is refused, and
/// nothing moves.
#[tokio::test]
async fn a_refund_reversing_two_transfers_to_one_account_needs_both_covered() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_bypassPending"}),
    )
    .await;
    assert_no_errors(&body);
    let charge = id_of(&body);
    transfer_from(&app, &seller, &charge, 3000).await;
    transfer_from(&app, &seller, &charge, 3000).await;
    assert_eq!(balances(&app, Some(&seller)).await, (6000, 0));
    let body = app
        .graphql(
            "mutation($a: ID!) { createAccountDebit(input: {account: $a, amount: 2000, currency: \"usd\"}) { id } }",
            json!({"a": seller}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(balances(&app, Some(&seller)).await, (4000, 0));
    let platform_before = balances(&app, None).await;

    let body = refund(&app, json!({"charge": charge, "reverseTransfer": true})).await;
    assert_eq!(error_code(&body), "INSUFFICIENT_FUNDS", "{body}");
    assert_eq!(balances(&app, Some(&seller)).await, (4000, 0));
    assert_eq!(balances(&app, None).await, platform_before);

    // Half the charge reverses 1500 of each: 3000 of the 4000 available, accepted.
    let body = refund(
        &app,
        json!({"charge": charge, "amount": 5000, "reverseTransfer": true}),
    )
    .await;
    assert_no_errors(&body);
    assert_eq!(balances(&app, Some(&seller)).await, (1000, 0));
    app.assert_ledger_balanced().await;
}
