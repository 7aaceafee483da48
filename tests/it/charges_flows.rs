//! The worked examples of the fund flows, to the minor unit, in every holder's balances
//! and balance transactions; then the clock makes them available.

use serde_json::json;

use crate::charges_support::{balances, create_charge, enabled_account, transactions, txn};
use crate::helpers::{assert_no_errors, spawn_app};

#[tokio::test]
async fn destination_charge_with_an_application_fee() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa",
               "applicationFeeAmount": 123, "transferData": {"destination": seller}}),
    )
    .await;
    assert_no_errors(&body);
    let charge = &body["data"]["createCharge"];
    assert_eq!(charge["flow"], "DESTINATION");
    assert_eq!(charge["status"], "SUCCEEDED");
    assert_eq!(charge["processingFee"]["amount"], 320);
    assert_eq!(charge["applicationFee"]["amount"]["amount"], 123);
    assert_eq!(charge["applicationFee"]["account"]["id"], json!(seller));
    assert_eq!(charge["pricing"]["applicationFeeFromRequest"], true);
    assert_eq!(charge["transfers"][0]["amount"]["amount"], 10000);
    assert_eq!(
        charge["balanceTransaction"]["feeDetails"],
        json!([{"type": "PROCESSING_FEE", "amount": {"amount": 320}}])
    );

    assert_eq!(balances(&app, Some(&seller)).await, (0, 9877));
    assert_eq!(balances(&app, None).await, (0, -197));
    assert_eq!(
        transactions(&app, None).await,
        vec![
            txn("APPLICATION_FEE", 123, 0, 123),
            txn("TRANSFER", -10000, 0, -10000),
            txn("CHARGE", 10000, 320, 9680)
        ]
    );
    assert_eq!(
        transactions(&app, Some(&seller)).await,
        vec![txn("PAYMENT", 10000, 123, 9877)]
    );

    app.advance_days(2).await;
    assert_eq!(balances(&app, Some(&seller)).await, (9877, 0));
    assert_eq!(balances(&app, None).await, (-197, 0));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn destination_charge_with_a_transfer_amount_has_no_application_fee_object() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa",
               "transferData": {"destination": seller, "amount": 9877}}),
    )
    .await;
    assert_no_errors(&body);
    let charge = &body["data"]["createCharge"];
    assert_eq!(charge["applicationFee"], json!(null));
    assert_eq!(charge["pricing"]["applicationFee"], json!(null));
    assert_eq!(charge["transfers"][0]["amount"]["amount"], 9877);
    assert_eq!(balances(&app, Some(&seller)).await, (0, 9877));
    assert_eq!(balances(&app, None).await, (0, -197));
    assert_eq!(
        transactions(&app, Some(&seller)).await,
        vec![txn("PAYMENT", 9877, 0, 9877)]
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn direct_charge_on_a_standard_account_pays_its_own_processing_fee() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "STANDARD").await;
    let body = create_charge(
        &app,
        Some(&seller),
        json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa", "applicationFeeAmount": 200}),
    )
    .await;
    assert_no_errors(&body);
    let charge = &body["data"]["createCharge"];
    assert_eq!(charge["flow"], "DIRECT");
    assert_eq!(charge["processingFee"]["amount"], 59);
    assert_eq!(balances(&app, Some(&seller)).await, (0, 741));
    assert_eq!(balances(&app, None).await, (0, 200));
    assert_eq!(
        transactions(&app, Some(&seller)).await,
        vec![txn("CHARGE", 1000, 259, 741)]
    );
    assert_eq!(
        transactions(&app, None).await,
        vec![txn("APPLICATION_FEE", 200, 0, 200)]
    );
    assert_eq!(
        charge["balanceTransaction"]["feeDetails"],
        json!([{"type": "PROCESSING_FEE", "amount": {"amount": 59}}, {"type": "APPLICATION_FEE", "amount": {"amount": 200}}])
    );
    app.advance_days(2).await;
    assert_eq!(balances(&app, Some(&seller)).await, (741, 0));
    assert_eq!(balances(&app, None).await, (200, 0));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn direct_charge_on_an_express_account_has_the_platform_pay_the_processing_fee() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let body = create_charge(
        &app,
        Some(&seller),
        json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa", "applicationFeeAmount": 200}),
    )
    .await;
    assert_no_errors(&body);
    assert_eq!(balances(&app, Some(&seller)).await, (0, 800));
    assert_eq!(balances(&app, None).await, (0, 141));
    assert_eq!(
        transactions(&app, None).await,
        vec![txn("APPLICATION_FEE", 200, 59, 141)]
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn separate_charge_and_transfers_with_a_source_transaction() {
    let app = spawn_app().await;
    let seller_a = enabled_account(&app, "EXPRESS").await;
    let seller_b = enabled_account(&app, "CUSTOM").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa", "transferGroup": "order-42"}),
    )
    .await;
    assert_no_errors(&body);
    let charge = body["data"]["createCharge"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(body["data"]["createCharge"]["flow"], "SEPARATE");
    let transfer = "mutation($amount: MinorUnits!, $destination: ID!, $source: ID) {
      createTransfer(input: {amount: $amount, currency: \"usd\", destination: $destination, sourceTransaction: $source, transferGroup: \"order-42\"}) { id amount { amount } sourceCharge { id } }
    }";
    for (destination, amount) in [(&seller_a, 7000), (&seller_b, 2000)] {
        let body = app
            .graphql(
                transfer,
                json!({"amount": amount, "destination": destination, "source": charge}),
            )
            .await;
        assert_no_errors(&body);
        assert_eq!(
            body["data"]["createTransfer"]["sourceCharge"]["id"],
            json!(charge)
        );
    }
    assert_eq!(balances(&app, None).await, (0, 680));
    assert_eq!(balances(&app, Some(&seller_a)).await, (0, 7000));
    assert_eq!(balances(&app, Some(&seller_b)).await, (0, 2000));

    // What is left of the charge is 1000: a transfer of 1001 drawn on it is refused.
    let body = app
        .graphql(
            transfer,
            json!({"amount": 1001, "destination": seller_a, "source": charge}),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&body), "INVALID_REQUEST");
    assert_eq!(crate::helpers::error_param(&body), Some("input.amount"));
    // Without a source, the platform's available balance (0) must cover it.
    let body = app
        .graphql(
            transfer,
            json!({"amount": 100, "destination": seller_a, "source": null}),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&body), "INSUFFICIENT_FUNDS");

    let body = app
        .graphql("{ transfers(transferGroup: \"order-42\") { nodes { amount { amount } } } charges(transferGroup: \"order-42\") { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["transfers"]["nodes"],
        json!([{"amount": {"amount": 2000}}, {"amount": {"amount": 7000}}])
    );
    assert_eq!(body["data"]["charges"]["nodes"], json!([{"id": charge}]));

    app.advance_days(2).await;
    assert_eq!(balances(&app, None).await, (680, 0));
    assert_eq!(balances(&app, Some(&seller_a)).await, (7000, 0));
    // Now the platform has 680 available: a transfer without a source can draw on it.
    let body = app
        .graphql(
            transfer,
            json!({"amount": 680, "destination": seller_b, "source": null}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(balances(&app, None).await, (0, 0));
    assert_eq!(balances(&app, Some(&seller_b)).await, (2680, 0));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn bypass_pending_funds_are_available_at_once() {
    let app = spawn_app().await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 2000, "currency": "usd", "paymentMethod": "pm_card_bypassPending"}),
    )
    .await;
    assert_no_errors(&body);
    assert_eq!(balances(&app, None).await, (1912, 0));
    app.assert_ledger_balanced().await;
}
