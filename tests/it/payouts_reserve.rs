//! The platform's reserve is withheld: what it holds against its Express and Custom
//! accounts' negative balances cannot be paid out or transferred without a source.

use serde_json::json;

use crate::charges_support::{balances, create_charge, enabled_account};
use crate::helpers::{assert_no_errors, error_code, spawn_app, TestApp, TOPUP};
use crate::payouts_support::{advance_to, create_payout};
use crate::refunds_support::{charge_id, refunded, reserve_and_negative_accounts};

async fn transfer(app: &TestApp, destination: &str, amount: i64) -> serde_json::Value {
    app.graphql(
        "mutation($d: ID!, $a: MinorUnits!) { createTransfer(input: {amount: $a, currency: \"usd\", destination: $d}) { id } }",
        json!({"d": destination, "a": amount}),
    )
    .await
}

async fn platform_payout(app: &TestApp, amount: i64) -> serde_json::Value {
    create_payout(
        app,
        &app.secret_key,
        None,
        json!({"amount": amount, "currency": "usd"}),
    )
    .await
}

#[tokio::test]
async fn the_platform_pays_out_and_transfers_only_what_exceeds_its_reserve() {
    let app = spawn_app().await;
    advance_to(&app, "2027-03-01T12:00:00Z").await;
    let body = app
        .graphql(TOPUP, json!({"amount": 5000, "currency": "usd"}))
        .await;
    assert_no_errors(&body);
    advance_to(&app, "2027-03-04T12:00:00Z").await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let other = enabled_account(&app, "CUSTOM").await;
    let charge = charge_id(
        &create_charge(
            &app,
            None,
            json!({"amount": 2000, "currency": "usd", "paymentMethod": "pm_card_bypassPending",
                   "applicationFeeAmount": 1000, "transferData": {"destination": seller}}),
        )
        .await,
    );
    // The transfer is reversed whole but the fee kept: the Custom seller goes 1000 below
    // zero, and the platform, liable for it, reserves 1000 of its 5912.
    refunded(&app, json!({"charge": charge, "reverseTransfer": true})).await;
    assert_eq!(balances(&app, Some(&seller)).await, (-1000, 0));
    assert_eq!(balances(&app, None).await, (5912, 0));
    assert_eq!(
        reserve_and_negative_accounts(&app).await,
        (
            vec![("usd".to_owned(), 1000)],
            vec![(seller.clone(), -1000, true)]
        )
    );

    // Neither the whole available balance nor one unit past the reserve leaves.
    for amount in [5912, 4913] {
        let body = platform_payout(&app, amount).await;
        assert_eq!(error_code(&body), "INSUFFICIENT_FUNDS", "{body}");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("reserve of 1000"), "{message}");
        let body = transfer(&app, &other, amount).await;
        assert_eq!(error_code(&body), "INSUFFICIENT_FUNDS", "{body}");
    }
    assert_eq!(balances(&app, None).await, (5912, 0));

    // Up to the reserve it does.
    assert_no_errors(&transfer(&app, &other, 4000).await);
    assert_eq!(
        error_code(&platform_payout(&app, 913).await),
        "INSUFFICIENT_FUNDS"
    );
    assert_no_errors(&platform_payout(&app, 912).await);
    assert_eq!(balances(&app, None).await, (1000, 0));
    assert_eq!(
        reserve_and_negative_accounts(&app).await.0,
        vec![("usd".to_owned(), 1000)]
    );
    app.assert_ledger_balanced().await;
}
