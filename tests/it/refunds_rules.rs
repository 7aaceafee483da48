//! Refund and application fee refund rules: amounts above what is left, the flags refused
//! to anyone but the platform that created the charge, failed and disputed charges,
//! standalone fee refunds and idempotent retries; each refusal with its code, nothing moved.

use serde_json::json;

use crate::charges_support::{balances, create_charge, enabled_account, transactions};
use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app};
use crate::refunds_support::{charge_id, refund, refund_as, refund_fee, refunded};

#[tokio::test]
async fn a_refund_above_what_is_left_is_refused_and_moves_nothing() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let charge = charge_id(
        &create_charge(
            &app,
            None,
            json!({"amount": 2000, "currency": "usd", "paymentMethod": "pm_card_visa",
                   "applicationFeeAmount": 1000, "transferData": {"destination": seller}}),
        )
        .await,
    );
    refunded(&app, json!({"charge": charge, "amount": 1500})).await;
    let before = (
        balances(&app, None).await,
        balances(&app, Some(&seller)).await,
    );
    let platform_transactions = transactions(&app, None).await;
    for (amount, param) in [(501, "input.amount"), (2001, "input.amount")] {
        let body = refund(
            &app,
            json!({"charge": charge, "amount": amount, "refundApplicationFee": true, "reverseTransfer": true}),
        )
        .await;
        assert_eq!(error_code(&body), "INVALID_REQUEST", "{body}");
        assert_eq!(error_param(&body), Some(param));
    }
    // Zero and negative amounts are bad input before anything is read.
    for amount in [0, -5] {
        let body = refund(&app, json!({"charge": charge, "amount": amount})).await;
        assert_eq!(error_code(&body), "INVALID_REQUEST", "{body}");
        assert_eq!(error_param(&body), Some("input.amount"));
    }
    refunded(&app, json!({"charge": charge})).await;
    // Wholly refunded: nothing is left.
    let body = refund(&app, json!({"charge": charge})).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(error_param(&body), Some("input.charge"));
    assert_eq!(balances(&app, None).await, (before.0 .0 - 500, before.0 .1));
    assert_eq!(balances(&app, Some(&seller)).await, before.1);
    assert_eq!(
        transactions(&app, None).await.len(),
        platform_transactions.len() + 1
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn only_the_platform_that_created_the_charge_may_use_the_flags() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "STANDARD").await;
    let charge = charge_id(
        &create_charge(
            &app,
            Some(&seller),
            json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa", "applicationFeeAmount": 200}),
        )
        .await,
    );
    // A request with Connect-Account acts as the connected account, not as the platform
    // that created the charge: it may refund, but not with the platform's flags.
    for (flag, param) in [
        ("refundApplicationFee", "input.refundApplicationFee"),
        ("reverseTransfer", "input.reverseTransfer"),
    ] {
        let mut input = json!({"charge": charge, "amount": 100});
        input[flag] = json!(true);
        let body = refund_as(&app, Some(&seller), input).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        assert_eq!(error_param(&body), Some(param));
    }
    let body = refund_fee(
        &app,
        Some(&seller),
        json!({"fee": "fee_00000000000000000000000000"}),
    )
    .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    // Another platform does not see the charge at all.
    let (_, other_key) = app.second_platform().await;
    let body = app
        .graphql_as(
            &other_key,
            None,
            "mutation($c: ID!) { createRefund(input: {charge: $c, refundApplicationFee: true}) { id } }",
            json!({"c": charge}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert_eq!(error_param(&body), Some("input.charge"));
    // A direct charge has no transfer to reverse, even for its platform.
    let body = refund(&app, json!({"charge": charge, "reverseTransfer": true})).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(error_param(&body), Some("input.reverseTransfer"));
    assert_eq!(balances(&app, Some(&seller)).await, (0, 741));
    assert_eq!(balances(&app, None).await, (0, 200));
    assert_eq!(transactions(&app, Some(&seller)).await.len(), 1);
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn failed_and_disputed_charges_are_not_refunded() {
    let app = spawn_app().await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_chargeDeclined"}),
    )
    .await;
    assert_eq!(error_code(&body), "CARD_DECLINED");
    let failed = body["errors"][0]["extensions"]["charge"]
        .as_str()
        .expect("charge id")
        .to_owned();
    let body = refund(&app, json!({"charge": failed})).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(error_param(&body), Some("input.charge"));

    let disputed = charge_id(
        &create_charge(
            &app,
            None,
            json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_createDispute"}),
        )
        .await,
    );
    let before = balances(&app, None).await;
    let body = refund(&app, json!({"charge": disputed})).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(error_param(&body), Some("input.charge"));
    assert_eq!(balances(&app, None).await, before);
    // No such charge.
    let body = refund(&app, json!({"charge": "ch_00000000000000000000000000"})).await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn an_application_fee_refunded_on_its_own_in_parts() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 5000, "currency": "usd", "paymentMethod": "pm_card_bypassPending",
               "applicationFeeAmount": 1000, "transferData": {"destination": seller}}),
    )
    .await;
    assert_no_errors(&body);
    let fee = body["data"]["createCharge"]["applicationFee"]["id"]
        .as_str()
        .expect("fee")
        .to_owned();
    // 5000 − 175 − 5000 + 1000 = 825 on the platform; 4000 on the seller, available at once.
    assert_eq!(balances(&app, None).await, (825, 0));
    assert_eq!(balances(&app, Some(&seller)).await, (4000, 0));

    let body = refund_fee(&app, None, json!({"fee": fee, "amount": 300})).await;
    assert_no_errors(&body);
    let refund = &body["data"]["refundApplicationFee"];
    assert!(refund["id"].as_str().expect("id").starts_with("fr_"));
    assert_eq!(refund["amount"]["amount"], 300);
    assert_eq!(refund["fee"]["amountRefunded"]["amount"], 300);
    assert_eq!(refund["fee"]["refunded"], false);
    assert_eq!(balances(&app, None).await, (525, 0));
    assert_eq!(balances(&app, Some(&seller)).await, (4300, 0));

    // Never more than is left (700).
    let body = refund_fee(&app, None, json!({"fee": fee, "amount": 701})).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(error_param(&body), Some("input.amount"));
    assert_eq!(balances(&app, None).await, (525, 0));

    // Without an amount: the rest.
    let body = refund_fee(
        &app,
        None,
        json!({"fee": fee, "idempotencyKey": "fee-rest"}),
    )
    .await;
    assert_no_errors(&body);
    let refund = &body["data"]["refundApplicationFee"];
    assert_eq!(refund["amount"]["amount"], 700);
    assert_eq!(refund["fee"]["refunded"], true);
    assert_eq!(
        refund["fee"]["refunds"]
            .as_array()
            .expect("refunds")
            .iter()
            .map(|refund| refund["amount"]["amount"].as_i64().expect("amount"))
            .collect::<Vec<_>>(),
        vec![300, 700]
    );
    // The same key replays the first outcome and moves nothing again.
    let replay = refund_fee(
        &app,
        None,
        json!({"fee": fee, "idempotencyKey": "fee-rest"}),
    )
    .await;
    assert_no_errors(&replay);
    assert_eq!(replay["data"]["refundApplicationFee"]["id"], refund["id"]);
    assert_eq!(balances(&app, None).await, (-175, 0));
    assert_eq!(balances(&app, Some(&seller)).await, (5000, 0));
    // All refunded: a later refund with the fee flag has nothing left to return.
    let body = refund_fee(&app, None, json!({"fee": fee})).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(error_param(&body), Some("input.fee"));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn a_retried_refund_moves_money_once() {
    let app = spawn_app().await;
    let charge = charge_id(
        &create_charge(
            &app,
            None,
            json!({"amount": 4000, "currency": "usd", "paymentMethod": "pm_card_visa"}),
        )
        .await,
    );
    let first = refunded(
        &app,
        json!({"charge": charge, "amount": 1000, "idempotencyKey": "refund-1"}),
    )
    .await;
    let again = refunded(
        &app,
        json!({"charge": charge, "amount": 1000, "idempotencyKey": "refund-1"}),
    )
    .await;
    assert_eq!(first["id"], again["id"]);
    let body = refund(
        &app,
        json!({"charge": charge, "amount": 2000, "idempotencyKey": "refund-1"}),
    )
    .await;
    assert_eq!(error_code(&body), "IDEMPOTENCY_CONFLICT");
    // 4000 − 146 processing fee pending; one refund of 1000 out of available.
    assert_eq!(balances(&app, None).await, (-1000, 3854));
    let body = app
        .graphql(
            "query($id: ID!) { refund(id: $id) { amount { amount } } node(id: $id) { ... on Refund { charge { amountRefunded { amount } } } } }",
            json!({"id": first["id"]}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["refund"]["amount"]["amount"], 1000);
    assert_eq!(
        body["data"]["node"]["charge"]["amountRefunded"]["amount"],
        1000
    );
    app.assert_ledger_balanced().await;
}
