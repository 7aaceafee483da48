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

/// A payout run re-arms the next day's run while the clock moves; that run is due before
/// funds released later in the same advance, so it must run first. One advance of ten days
/// pays the held funds out on the day they become available, never earlier.
#[tokio::test]
async fn a_long_advance_pays_out_funds_no_earlier_than_they_become_available() {
    let folder = tempfile::tempdir().expect("temp dir");
    for name in ["gateway.rhai", "default.rhai"] {
        std::fs::copy(
            crate::helpers::policies_dir().join(name),
            folder.path().join(name),
        )
        .expect("copy policy");
    }
    std::fs::write(
        folder.path().join("held.rhai"),
        "fn hold_days(charge) { 5 }\nfn payout_schedule(account) { #{interval: \"daily\", delay_days: 2} }\n",
    )
    .expect("write policy");
    let app = crate::helpers::spawn_app_with_policies(folder.path().to_path_buf(), "held").await;
    crate::payouts_support::advance_to(&app, "2030-01-07T12:00:00Z").await;
    let seller =
        crate::payouts_support::custom_account(&app, &app.secret_key, "US", "usd", "000123456789")
            .await;
    let body = create_charge(
        &app,
        Some(&seller),
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa"}),
    )
    .await;
    assert_no_errors(&body);
    // Monday noon + 2 + 5 days: available on Monday 14 January at noon, net of nothing
    // (the platform pays a Custom account's processing fee).
    let body = app
        .graphql(
            "mutation { advanceClock(input: {seconds: 864000}) }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let payouts = crate::payouts_support::payouts_of(&app, &seller).await;
    let made: Vec<(&str, i64)> = payouts
        .iter()
        .map(|(created, amount, _, _)| (created.as_str(), *amount))
        .collect();
    assert_eq!(made, vec![("2030-01-14T23:59:59Z", 10000)], "{payouts:?}");
    app.assert_ledger_balanced().await;
}
