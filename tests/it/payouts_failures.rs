//! Payouts that come back (a failing bank account, a canceled payout), manual payouts of
//! accounts and of the platform, the payout queries, and a manual payout racing the payout run.

use serde_json::json;

use crate::accounts_support::event_types;
use crate::charges_support::{enabled_account, transactions, txn};
use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app, TOPUP};
use crate::payouts_support::{
    add_bank, advance_to, create_payout, custom_account, pay_seller, payout, payouts_of,
    set_schedule,
};

const BANK_STATUSES: &str = "query($id: ID!) { account(id: $id) { externalAccounts { ... on BankAccount { last4 status defaultForCurrency } } } }";

#[tokio::test]
async fn a_failed_payout_comes_back_and_stops_automatic_payouts_until_a_new_bank_account() {
    let app = spawn_app().await;
    advance_to(&app, "2027-03-01T12:00:00Z").await;
    let seller = custom_account(&app, &app.secret_key, "US", "usd", "000111111116").await;
    set_schedule(&app, &seller, json!({"interval": "DAILY", "delayDays": 2})).await;
    pay_seller(&app, &seller, 10000, "usd").await;

    // Paid out Wednesday night, refused by the bank when submitted at midnight.
    advance_to(&app, "2027-03-05T12:00:00Z").await;
    let body = app
        .graphql(
            "query($a: ID!) { payouts(account: $a, status: FAILED) { nodes { id status failureCode failureMessage amount { amount } created
                returnBalanceTransaction { type amount { amount } net { amount } } } } }",
            json!({"a": seller}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["payouts"]["nodes"],
        json!([{"id": body["data"]["payouts"]["nodes"][0]["id"], "status": "FAILED", "failureCode": "no_account",
                "failureMessage": "The bank account details on file do not match an open account at the bank.",
                "amount": {"amount": 10000}, "created": "2027-03-03T23:59:59Z",
                "returnBalanceTransaction": {"type": "PAYOUT_FAILURE", "amount": {"amount": 10000}, "net": {"amount": 10000}}}])
    );
    assert_eq!(app.balance(Some(&seller), "usd").await, (10000, 0));
    let body = app.graphql(BANK_STATUSES, json!({"id": seller})).await;
    assert_eq!(
        body["data"]["account"]["externalAccounts"],
        json!([{"last4": "1116", "status": "ERRORED", "defaultForCurrency": true}])
    );
    // Thursday's run skipped the ERRORED default: still one payout.
    assert_eq!(payouts_of(&app, &seller).await.len(), 1);

    add_bank(
        &app,
        &app.secret_key,
        &seller,
        "US",
        "usd",
        "000123456789",
        true,
    )
    .await;
    advance_to(&app, "2027-03-10T00:00:00Z").await;
    assert_eq!(
        payouts_of(&app, &seller).await,
        vec![
            payout(
                "2027-03-03T23:59:59Z",
                10000,
                "FAILED",
                "2027-03-05T00:00:00Z"
            ),
            payout(
                "2027-03-05T23:59:59Z",
                10000,
                "PAID",
                "2027-03-09T00:00:00Z"
            ),
        ]
    );
    assert_eq!(app.balance(Some(&seller), "usd").await, (0, 0));
    let body = app.graphql(BANK_STATUSES, json!({"id": seller})).await;
    assert_eq!(
        body["data"]["account"]["externalAccounts"],
        json!([{"last4": "1116", "status": "ERRORED", "defaultForCurrency": false},
               {"last4": "6789", "status": "VERIFIED", "defaultForCurrency": true}])
    );
    assert_eq!(
        transactions(&app, Some(&seller)).await,
        vec![
            txn("PAYOUT", -10000, 0, -10000),
            txn("PAYOUT_FAILURE", 10000, 0, 10000),
            txn("PAYOUT", -10000, 0, -10000),
            txn("PAYMENT", 10000, 0, 10000),
        ]
    );
    let events = event_types(&app).await;
    for expected in [
        "balance.available",
        "payout.created",
        "payout.failed",
        "account.external_account.updated",
        "payout.updated",
        "payout.paid",
    ] {
        assert!(
            events.iter().any(|event| event == expected),
            "{expected} in {events:?}"
        );
    }
    // An update's event says what changed: the status, and what it was before.
    let body = app
        .graphql(
            "{ events(type: \"payout.updated\") { nodes { data { object previousAttributes } } } }",
            json!({}),
        )
        .await;
    let data = &body["data"]["events"]["nodes"][0]["data"];
    let previous = data["previousAttributes"]
        .as_object()
        .expect("changed fields");
    assert!(previous.contains_key("status"), "{data}");
    assert_ne!(previous["status"], data["object"]["status"]);
    let body = app
        .graphql(
            "{ events(type: \"account.external_account.updated\") { nodes { data { object previousAttributes } } } }",
            json!({}),
        )
        .await;
    let data = &body["data"]["events"]["nodes"][0]["data"];
    let previous = data["previousAttributes"]
        .as_object()
        .expect("changed fields");
    assert_eq!(
        previous.keys().collect::<Vec<_>>(),
        vec!["status"],
        "{data}"
    );
    assert_ne!(previous["status"], data["object"]["status"]);
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn manual_payouts_draw_on_the_available_balance_and_can_be_canceled_while_pending() {
    let app = spawn_app().await;
    advance_to(&app, "2027-03-01T12:00:00Z").await;
    let seller = enabled_account(&app, "EXPRESS").await;
    set_schedule(&app, &seller, json!({"interval": "MANUAL"})).await;
    pay_seller(&app, &seller, 10000, "usd").await;
    // Pending funds cannot be paid out.
    let input =
        json!({"account": seller, "amount": 3000, "currency": "usd", "idempotencyKey": "po-1"});
    let body = create_payout(&app, &app.secret_key, None, input.clone()).await;
    assert_eq!(error_code(&body), "INSUFFICIENT_FUNDS", "{body}");

    advance_to(&app, "2027-03-03T12:00:00Z").await;
    let input =
        json!({"account": seller, "amount": 3000, "currency": "usd", "idempotencyKey": "po-2"});
    let first = create_payout(&app, &app.secret_key, None, input.clone()).await;
    assert_no_errors(&first);
    let again = create_payout(&app, &app.secret_key, None, input).await;
    assert_eq!(
        again["data"]["createPayout"]["id"],
        first["data"]["createPayout"]["id"]
    );
    let created = &first["data"]["createPayout"];
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["automatic"], false);
    assert_eq!(created["arrivalDate"], "2027-03-05T00:00:00Z");
    assert_eq!(created["destination"]["__typename"], "BankAccount");
    assert_eq!(app.balance(Some(&seller), "usd").await, (7000, 0));

    let cancel = "mutation($p: ID!) { cancelPayout(input: {payout: $p}) { status returnBalanceTransaction { type amount { amount } } } }";
    let body = app.graphql(cancel, json!({"p": created["id"]})).await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["cancelPayout"],
        json!({"status": "CANCELED", "returnBalanceTransaction": {"type": "PAYOUT_CANCEL", "amount": {"amount": 3000}}})
    );
    assert_eq!(app.balance(Some(&seller), "usd").await, (10000, 0));
    let body = app.graphql(cancel, json!({"p": created["id"]})).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(error_param(&body), Some("input.payout"));

    // A payout that reached the bank can no longer be canceled.
    let body = create_payout(
        &app,
        &app.secret_key,
        Some(&seller),
        json!({"amount": 10001, "currency": "usd"}),
    )
    .await;
    assert_eq!(error_code(&body), "INSUFFICIENT_FUNDS", "{body}");
    let body = create_payout(
        &app,
        &app.secret_key,
        Some(&seller),
        json!({"amount": 10000, "currency": "usd"}),
    )
    .await;
    assert_no_errors(&body);
    let id = body["data"]["createPayout"]["id"].clone();
    advance_to(&app, "2027-03-04T00:00:00Z").await;
    let body = app.graphql(cancel, json!({"p": id})).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST", "{body}");
    advance_to(&app, "2027-03-06T00:00:00Z").await;
    assert_eq!(
        payouts_of(&app, &seller).await,
        vec![
            payout(
                "2027-03-03T12:00:00Z",
                3000,
                "CANCELED",
                "2027-03-05T00:00:00Z"
            ),
            payout(
                "2027-03-03T12:00:00Z",
                10000,
                "PAID",
                "2027-03-05T00:00:00Z"
            ),
        ]
    );
    let body = app
        .graphql(
            "{ paid: payouts(status: PAID) { nodes { id } } all: payouts { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["paid"]["nodes"], json!([{"id": id}]), "{body}");
    assert_eq!(
        body["data"]["all"]["nodes"].as_array().map(Vec::len),
        Some(2)
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn the_platform_pays_out_its_own_balance_to_its_bank_of_record() {
    let app = spawn_app().await;
    advance_to(&app, "2027-03-01T12:00:00Z").await;
    let body = app
        .graphql(TOPUP, json!({"amount": 5000, "currency": "usd"}))
        .await;
    assert_no_errors(&body);
    advance_to(&app, "2027-03-03T12:00:00Z").await;
    let body = create_payout(
        &app,
        &app.secret_key,
        None,
        json!({"amount": 3000, "currency": "usd"}),
    )
    .await;
    assert_no_errors(&body);
    let payout = &body["data"]["createPayout"];
    assert_eq!(payout["account"], json!(null));
    assert_eq!(payout["destination"]["__typename"], "BankAccount");
    assert_eq!(payout["destination"]["last4"], "6789");
    assert_eq!(app.balance(None, "usd").await, (2000, 0));
    advance_to(&app, "2027-03-06T00:00:00Z").await;
    let body = app
        .graphql(
            "query($id: ID!) { payout(id: $id) { status } }",
            json!({"id": payout["id"]}),
        )
        .await;
    assert_eq!(body["data"]["payout"]["status"], "PAID", "{body}");
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn a_manual_payout_racing_the_payout_run_never_overdraws() {
    let app = spawn_app().await;
    advance_to(&app, "2027-03-01T12:00:00Z").await;
    let mut sellers = Vec::new();
    for _ in 0..3 {
        let seller = enabled_account(&app, "EXPRESS").await;
        pay_seller(&app, &seller, 10000, "usd").await;
        sellers.push(seller);
    }
    // Just before Wednesday's run, with 10000 available on each account.
    advance_to(&app, "2027-03-03T23:59:58Z").await;
    let run = app.graphql(
        "mutation { advanceClock(input: {to: \"2027-03-04T00:00:00Z\"}) }",
        json!({}),
    );
    let app_ref = &app;
    let manual = futures::future::join_all(sellers.iter().flat_map(|seller| {
        (0..3).map(move |_| {
            create_payout(
                app_ref,
                &app_ref.secret_key,
                Some(seller),
                json!({"amount": 4000, "currency": "usd"}),
            )
        })
    }));
    let (run, manual) = tokio::join!(run, manual);
    assert_no_errors(&run);
    for body in &manual {
        if body.get("errors").is_some() {
            assert_eq!(error_code(body), "INSUFFICIENT_FUNDS", "{body}");
        }
    }
    for seller in &sellers {
        let paid: i64 = payouts_of(&app, seller)
            .await
            .iter()
            .map(|payout| payout.1)
            .sum();
        let (available, pending) = app.balance(Some(seller), "usd").await;
        assert!(available >= 0, "{seller}: {available}");
        assert_eq!((paid + available, pending), (10000, 0), "{seller}");
    }
    app.assert_ledger_balanced().await;
}
