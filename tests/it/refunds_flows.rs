//! Refunds on each fund flow, to the minor unit: the design's example with both flags,
//! partial refunds whose fee refunds sum exactly to the fee, and who the money comes back
//! from (the account for direct charges, the platform otherwise).

use serde_json::json;

use crate::charges_support::{balances, create_charge, enabled_account, transactions, txn};
use crate::helpers::{assert_no_errors, spawn_app};
use crate::refunds_support::{charge_id, refunded, reserve_and_negative_accounts};

#[tokio::test]
async fn the_design_example_destination_refund_with_both_flags() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 2000, "currency": "usd", "paymentMethod": "pm_card_visa",
               "applicationFeeAmount": 1000, "transferData": {"destination": seller}}),
    )
    .await;
    let charge = charge_id(&body);
    let fee = body["data"]["createCharge"]["applicationFee"]["id"]
        .as_str()
        .expect("fee")
        .to_owned();
    // Processing fee 2.9% + 30 = 88: platform 2000 − 88 − 2000 + 1000 = 912, seller 1000.
    assert_eq!(balances(&app, None).await, (0, 912));
    assert_eq!(balances(&app, Some(&seller)).await, (0, 1000));

    let refund = refunded(
        &app,
        json!({"charge": charge, "amount": 1500, "reason": "REQUESTED_BY_CUSTOMER",
               "refundApplicationFee": true, "reverseTransfer": true}),
    )
    .await;
    assert!(refund["id"].as_str().expect("id").starts_with("re_"));
    assert_eq!(refund["status"], "SUCCEEDED");
    assert_eq!(refund["reason"], "REQUESTED_BY_CUSTOMER");
    assert_eq!(refund["amount"], json!({"amount": 1500, "currency": "usd"}));
    assert_eq!(
        refund["charge"],
        json!({"id": charge, "amountRefunded": {"amount": 1500}, "refunded": false})
    );
    assert_eq!(refund["applicationFeeRefund"]["amount"]["amount"], 750);
    assert_eq!(
        refund["applicationFeeRefund"]["fee"],
        json!({"id": fee, "amountRefunded": {"amount": 750}, "refunded": false})
    );
    assert_eq!(refund["transferReversal"]["amount"]["amount"], 1500);
    assert_eq!(
        refund["transferReversal"]["transfer"]["amountReversed"]["amount"],
        1500
    );
    assert_eq!(
        refund["balanceTransaction"],
        json!({"type": "REFUND", "amount": {"amount": -1500}, "net": {"amount": -1500}})
    );

    // The refund's own movement: account −750, platform −750, both out of available.
    assert_eq!(balances(&app, None).await, (-750, 912));
    assert_eq!(balances(&app, Some(&seller)).await, (-750, 1000));
    assert_eq!(
        transactions(&app, None).await,
        vec![
            txn("APPLICATION_FEE_REFUND", -750, 0, -750),
            txn("TRANSFER_REVERSAL", 1500, 0, 1500),
            txn("REFUND", -1500, 0, -1500),
            txn("APPLICATION_FEE", 1000, 0, 1000),
            txn("TRANSFER", -2000, 0, -2000),
            txn("CHARGE", 2000, 88, 1912),
        ]
    );
    assert_eq!(
        transactions(&app, Some(&seller)).await,
        vec![
            txn("APPLICATION_FEE_REFUND", 750, 0, 750),
            txn("PAYMENT_REFUND", -1500, 0, -1500),
            txn("PAYMENT", 2000, 1000, 1000),
        ]
    );
    // The Express seller is below zero until its pending funds land: the platform covers it.
    assert_eq!(
        reserve_and_negative_accounts(&app).await,
        (
            vec![("usd".to_owned(), 750)],
            vec![(seller.clone(), -750, true)]
        )
    );

    app.advance_days(2).await;
    assert_eq!(balances(&app, None).await, (162, 0));
    assert_eq!(balances(&app, Some(&seller)).await, (250, 0));
    assert_eq!(reserve_and_negative_accounts(&app).await, (vec![], vec![]));

    // The last refund takes all of what is left: 500 reversed, the 250 left of the fee.
    let refund = refunded(
        &app,
        json!({"charge": charge, "refundApplicationFee": true, "reverseTransfer": true}),
    )
    .await;
    assert_eq!(refund["amount"]["amount"], 500);
    assert_eq!(refund["applicationFeeRefund"]["amount"]["amount"], 250);
    assert_eq!(refund["transferReversal"]["amount"]["amount"], 500);
    assert_eq!(refund["charge"]["refunded"], true);
    assert_eq!(refund["applicationFeeRefund"]["fee"]["refunded"], true);
    // Only the processing fee is lost, by the platform.
    assert_eq!(balances(&app, None).await, (-88, 0));
    assert_eq!(balances(&app, Some(&seller)).await, (0, 0));

    let body = app
        .graphql(
            "query($id: ID!) { charge(id: $id) { refunds { amount { amount } } } applicationFee(id: $fee) { refunds { amount { amount } } } }"
                .replace("query($id: ID!)", "query($id: ID!, $fee: ID!)")
                .as_str(),
            json!({"id": charge, "fee": fee}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["charge"]["refunds"],
        json!([{"amount": {"amount": 1500}}, {"amount": {"amount": 500}}])
    );
    assert_eq!(
        body["data"]["applicationFee"]["refunds"],
        json!([{"amount": {"amount": 750}}, {"amount": {"amount": 250}}])
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn three_partial_refunds_of_an_odd_amount_return_exactly_the_fee() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 999, "currency": "usd", "paymentMethod": "pm_card_visa",
               "applicationFeeAmount": 100, "transferData": {"destination": seller}}),
    )
    .await;
    let charge = charge_id(&body);
    let mut fee_refunds = Vec::new();
    let mut reversals = Vec::new();
    for _ in 0..3 {
        let refund = refunded(
            &app,
            json!({"charge": charge, "amount": 333, "refundApplicationFee": true, "reverseTransfer": true}),
        )
        .await;
        fee_refunds.push(
            refund["applicationFeeRefund"]["amount"]["amount"]
                .as_i64()
                .expect("fee refund"),
        );
        reversals.push(
            refund["transferReversal"]["amount"]["amount"]
                .as_i64()
                .expect("reversal"),
        );
    }
    // 100 × 333 / 999 = 33.33 → 33, twice; the last takes the 34 left.
    assert_eq!(fee_refunds, vec![33, 33, 34]);
    assert_eq!(fee_refunds.iter().sum::<i64>(), 100);
    assert_eq!(reversals, vec![333, 333, 333]);
    app.advance_days(2).await;
    // Processing fee 999 × 2.9% + 30 = 59: all the platform loses; the seller ends at zero.
    assert_eq!(balances(&app, None).await, (-59, 0));
    assert_eq!(balances(&app, Some(&seller)).await, (0, 0));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn a_direct_refund_comes_from_the_account_and_keeps_the_fee_unless_asked() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "STANDARD").await;
    let body = create_charge(
        &app,
        Some(&seller),
        json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa", "applicationFeeAmount": 200}),
    )
    .await;
    let charge = charge_id(&body);
    assert_eq!(balances(&app, Some(&seller)).await, (0, 741));
    assert_eq!(balances(&app, None).await, (0, 200));

    // As the account (Connect-Account), without flags: only the account pays.
    let body = crate::refunds_support::refund_as(
        &app,
        Some(&seller),
        json!({"charge": charge, "amount": 400}),
    )
    .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["createRefund"]["applicationFeeRefund"],
        json!(null)
    );
    assert_eq!(balances(&app, Some(&seller)).await, (-400, 741));
    assert_eq!(balances(&app, None).await, (0, 200));

    // As the platform, the last refund with the fee flag returns all of the fee.
    let refund = refunded(
        &app,
        json!({"charge": charge, "refundApplicationFee": true}),
    )
    .await;
    assert_eq!(refund["amount"]["amount"], 600);
    assert_eq!(refund["applicationFeeRefund"]["amount"]["amount"], 200);
    assert_eq!(refund["transferReversal"], json!(null));
    assert_eq!(
        transactions(&app, Some(&seller)).await,
        vec![
            txn("APPLICATION_FEE_REFUND", 200, 0, 200),
            txn("REFUND", -600, 0, -600),
            txn("REFUND", -400, 0, -400),
            txn("CHARGE", 1000, 259, 741),
        ]
    );
    app.advance_days(2).await;
    // The account loses the processing fee it paid (59); the platform is back to zero.
    assert_eq!(balances(&app, Some(&seller)).await, (-59, 0));
    assert_eq!(balances(&app, None).await, (0, 0));
    // A Standard account carries its own negative balance: listed, but not reserved.
    assert_eq!(
        reserve_and_negative_accounts(&app).await,
        (vec![], vec![(seller.clone(), -59, false)])
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn a_destination_refund_without_flags_is_borne_by_the_platform() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa",
               "applicationFeeAmount": 123, "transferData": {"destination": seller}}),
    )
    .await;
    let charge = charge_id(&body);
    let refund = refunded(&app, json!({"charge": charge})).await;
    assert_eq!(refund["amount"]["amount"], 10000);
    assert_eq!(refund["charge"]["refunded"], true);
    assert_eq!(balances(&app, None).await, (-10000, -197));
    assert_eq!(balances(&app, Some(&seller)).await, (0, 9877));
    app.advance_days(2).await;
    assert_eq!(balances(&app, None).await, (-10197, 0));
    assert_eq!(balances(&app, Some(&seller)).await, (9877, 0));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn a_separate_refund_reverses_the_transfers_drawn_on_it_in_proportion() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa"}),
    )
    .await;
    let charge = charge_id(&body);
    let body = app
        .graphql(
            "mutation($d: ID!, $s: ID!) { createTransfer(input: {amount: 7000, currency: \"usd\", destination: $d, sourceTransaction: $s}) { id } }",
            json!({"d": seller, "s": charge}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(balances(&app, None).await, (0, 2680));
    assert_eq!(balances(&app, Some(&seller)).await, (0, 7000));

    // A transfer of separate charges is reversed only as far as the seller's available
    // balance covers it: while its funds are pending, the refund is refused whole.
    let body = crate::refunds_support::refund(
        &app,
        json!({"charge": charge, "amount": 5000, "reverseTransfer": true}),
    )
    .await;
    assert_eq!(crate::helpers::error_code(&body), "INSUFFICIENT_FUNDS");
    assert_eq!(balances(&app, None).await, (0, 2680));
    assert_eq!(balances(&app, Some(&seller)).await, (0, 7000));

    app.advance_days(2).await;
    let refund = refunded(
        &app,
        json!({"charge": charge, "amount": 5000, "reverseTransfer": true}),
    )
    .await;
    // 7000 × 5000 / 10000 = 3500 comes back from the seller.
    assert_eq!(refund["transferReversal"]["amount"]["amount"], 3500);
    assert_eq!(balances(&app, None).await, (1180, 0));
    assert_eq!(balances(&app, Some(&seller)).await, (3500, 0));
    let refund = refunded(&app, json!({"charge": charge, "reverseTransfer": true})).await;
    assert_eq!(refund["amount"]["amount"], 5000);
    assert_eq!(refund["transferReversal"]["amount"]["amount"], 3500);
    assert_eq!(balances(&app, None).await, (-320, 0));
    assert_eq!(balances(&app, Some(&seller)).await, (0, 0));
    assert_eq!(
        transactions(&app, Some(&seller)).await,
        vec![
            txn("PAYMENT_REFUND", -3500, 0, -3500),
            txn("PAYMENT_REFUND", -3500, 0, -3500),
            txn("PAYMENT", 7000, 0, 7000),
        ]
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn refunding_an_uncaptured_charge_releases_the_authorization() {
    let app = spawn_app().await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 3000, "currency": "usd", "paymentMethod": "pm_card_visa", "capture": false}),
    )
    .await;
    let charge = charge_id(&body);
    // An authorization is released whole.
    let body =
        crate::refunds_support::refund(&app, json!({"charge": charge, "amount": 1000})).await;
    assert_eq!(crate::helpers::error_code(&body), "INVALID_REQUEST");
    assert_eq!(crate::helpers::error_param(&body), Some("input.amount"));

    let refund = refunded(&app, json!({"charge": charge})).await;
    assert_eq!(refund["amount"]["amount"], 3000);
    assert_eq!(refund["status"], "SUCCEEDED");
    assert_eq!(refund["balanceTransaction"], json!(null));
    assert_eq!(
        refund["charge"],
        json!({"id": charge, "amountRefunded": {"amount": 3000}, "refunded": true})
    );
    assert_eq!(balances(&app, None).await, (0, 0));
    assert_eq!(transactions(&app, None).await, vec![]);
    // Released: it can no longer be captured, nor refunded again.
    let body = app
        .graphql(
            "mutation($c: ID!) { captureCharge(input: {charge: $c}) { id } }",
            json!({"c": charge}),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&body), "INVALID_REQUEST");
    let body = crate::refunds_support::refund(&app, json!({"charge": charge})).await;
    assert_eq!(crate::helpers::error_code(&body), "INVALID_REQUEST");
    assert_eq!(crate::helpers::error_param(&body), Some("input.charge"));
    // Nothing is left for the expiry timer to do.
    app.advance_days(8).await;
    assert_eq!(balances(&app, None).await, (0, 0));
    app.assert_ledger_balanced().await;
}
