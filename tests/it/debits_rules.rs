//! Account debits and negative balances: the platform debits Express and Custom accounts in
//! their default currency (never Standard ones); an Express account taken below zero is
//! covered by the platform's reserve and cannot be paid out until a later charge nets it.

use serde_json::{json, Value};

use crate::charges_support::{balances, create_charge, enabled_account, transactions, txn};
use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app, TestApp};
use crate::payouts_support::create_payout;
use crate::refunds_support::{charge_id, refunded, reserve_and_negative_accounts};

async fn debit(app: &TestApp, input: Value) -> Value {
    app.graphql(
        "mutation($input: CreateAccountDebitInput!) { createAccountDebit(input: $input) { id account { id } amount { amount currency } description balanceTransaction { type amount { amount } } } }",
        json!({"input": input}),
    )
    .await
}

/// A destination charge whose funds are available at once, without an application fee.
async fn fund(app: &TestApp, seller: &str, amount: i64) -> String {
    charge_id(
        &create_charge(
            app,
            None,
            json!({"amount": amount, "currency": "usd", "paymentMethod": "pm_card_bypassPending",
                   "applicationFeeAmount": 0, "transferData": {"destination": seller}}),
        )
        .await,
    )
}

#[tokio::test]
async fn the_platform_debits_express_and_custom_accounts() {
    let app = spawn_app().await;
    let express = enabled_account(&app, "EXPRESS").await;
    let custom = enabled_account(&app, "CUSTOM").await;
    fund(&app, &express, 2000).await;
    fund(&app, &custom, 1000).await;
    // The platform paid both processing fees: −88 − 59.
    assert_eq!(balances(&app, None).await, (-147, 0));

    let body = debit(
        &app,
        json!({"account": express, "amount": 500, "currency": "usd", "description": "Chargeback recovery"}),
    )
    .await;
    assert_no_errors(&body);
    let created = &body["data"]["createAccountDebit"];
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("py_"));
    assert_eq!(created["account"]["id"], json!(express));
    assert_eq!(created["amount"], json!({"amount": 500, "currency": "usd"}));
    assert_eq!(created["description"], "Chargeback recovery");
    assert_eq!(
        created["balanceTransaction"],
        json!({"type": "ACCOUNT_DEBIT", "amount": {"amount": 500}})
    );
    assert_no_errors(
        &debit(
            &app,
            json!({"account": custom, "amount": 1000, "currency": "usd"}),
        )
        .await,
    );
    assert_eq!(balances(&app, Some(&express)).await, (1500, 0));
    assert_eq!(balances(&app, Some(&custom)).await, (0, 0));
    assert_eq!(balances(&app, None).await, (1353, 0));
    assert_eq!(
        transactions(&app, Some(&express)).await[0],
        txn("ACCOUNT_DEBIT", -500, 0, -500)
    );
    let body = app
        .graphql(
            "query($id: ID!) { node(id: $id) { __typename ... on AccountDebit { amount { amount } } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        body["data"]["node"],
        json!({"__typename": "AccountDebit", "amount": {"amount": 500}})
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn refused_debits_have_their_code_and_move_nothing() {
    let app = spawn_app().await;
    let express = enabled_account(&app, "EXPRESS").await;
    let standard = enabled_account(&app, "STANDARD").await;
    fund(&app, &express, 2000).await;
    fund(&app, &standard, 2000).await;
    let before = (
        balances(&app, None).await,
        balances(&app, Some(&express)).await,
        balances(&app, Some(&standard)).await,
    );
    let cases = [
        // A Standard account carries its own balance: the platform may not debit it.
        (
            json!({"account": standard, "amount": 100, "currency": "usd"}),
            "FORBIDDEN",
            Some("input.account"),
        ),
        // Only in the account's default currency.
        (
            json!({"account": express, "amount": 100, "currency": "eur"}),
            "INVALID_REQUEST",
            Some("input.currency"),
        ),
        // Only what is available (2000).
        (
            json!({"account": express, "amount": 2001, "currency": "usd"}),
            "INSUFFICIENT_FUNDS",
            None,
        ),
        (
            json!({"account": express, "amount": 0, "currency": "usd"}),
            "INVALID_REQUEST",
            Some("input.amount"),
        ),
        (
            json!({"account": "acct_00000000000000000000000000", "amount": 100, "currency": "usd"}),
            "NOT_FOUND",
            Some("input.account"),
        ),
    ];
    for (input, code, param) in cases {
        let body = debit(&app, input.clone()).await;
        assert_eq!(error_code(&body), code, "{input} {body}");
        assert_eq!(error_param(&body), param, "{input}");
    }
    let body = debit(
        &app,
        json!({"account": standard, "amount": 100, "currency": "usd"}),
    )
    .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("standard account cannot be debited by the platform"),
        "{body}"
    );
    assert_eq!(
        (
            balances(&app, None).await,
            balances(&app, Some(&express)).await,
            balances(&app, Some(&standard)).await,
        ),
        before
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn a_negative_express_balance_is_reserved_then_netted_by_a_new_charge() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let charge = charge_id(
        &create_charge(
            &app,
            None,
            json!({"amount": 2000, "currency": "usd", "paymentMethod": "pm_card_bypassPending",
                   "applicationFeeAmount": 1000, "transferData": {"destination": seller}}),
        )
        .await,
    );
    assert_eq!(balances(&app, Some(&seller)).await, (1000, 0));
    assert_eq!(balances(&app, None).await, (912, 0));
    // The transfer is reversed whole but the fee kept: the seller goes 1000 below zero.
    refunded(&app, json!({"charge": charge, "reverseTransfer": true})).await;
    assert_eq!(balances(&app, Some(&seller)).await, (-1000, 0));
    assert_eq!(balances(&app, None).await, (912, 0));
    assert_eq!(
        reserve_and_negative_accounts(&app).await,
        (
            vec![("usd".to_owned(), 1000)],
            vec![(seller.clone(), -1000, true)]
        )
    );
    let payout = json!({"account": seller, "amount": 100, "currency": "usd"});
    let body = create_payout(&app, &app.secret_key, None, payout.clone()).await;
    assert_eq!(error_code(&body), "INSUFFICIENT_FUNDS", "{body}");
    // The platform cannot debit what is not there either.
    let body = debit(
        &app,
        json!({"account": seller, "amount": 1, "currency": "usd"}),
    )
    .await;
    assert_eq!(error_code(&body), "INSUFFICIENT_FUNDS");

    // A new charge's funds net against the negative balance first.
    fund(&app, &seller, 1500).await;
    assert_eq!(balances(&app, Some(&seller)).await, (500, 0));
    assert_eq!(reserve_and_negative_accounts(&app).await, (vec![], vec![]));
    let body = create_payout(&app, &app.secret_key, None, payout).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["createPayout"]["amount"]["amount"], 100);
    assert_eq!(balances(&app, Some(&seller)).await, (400, 0));
    app.assert_ledger_balanced().await;
}
