//! Top-ups on the simulated clock, balances, balance transactions, events and the ledger check.

use serde_json::json;

use crate::helpers::{assert_no_errors, spawn_app, TOPUP};

#[tokio::test]
async fn a_topup_is_pending_until_the_clock_passes_its_available_on() {
    let app = spawn_app().await;
    let body = app
        .graphql(TOPUP, json!({"amount": 5000, "currency": "usd"}))
        .await;
    assert_no_errors(&body);
    let topup = &body["data"]["createTopup"];
    assert_eq!(
        topup["amount"],
        json!({"amount": 5000, "currency": "usd", "decimal": "50.00"})
    );
    assert_eq!(topup["status"], "pending");
    assert_eq!(app.balance(None, "usd").await, (0, 5000));

    let body = app
        .graphql(
            "{ balanceTransactions(first: 5) { nodes { type amount { amount } fee { amount } net { amount } status sourceId } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let nodes = &body["data"]["balanceTransactions"]["nodes"];
    assert_eq!(nodes.as_array().map(Vec::len), Some(1));
    assert_eq!(nodes[0]["type"], "TOPUP");
    assert_eq!(nodes[0]["amount"]["amount"], 5000);
    assert_eq!(nodes[0]["fee"]["amount"], 0);
    assert_eq!(nodes[0]["net"]["amount"], 5000);
    assert_eq!(nodes[0]["status"], "PENDING");
    assert_eq!(nodes[0]["sourceId"], topup["id"]);

    // One day is not enough; two days are.
    app.advance_days(1).await;
    assert_eq!(app.balance(None, "usd").await, (0, 5000));
    app.advance_days(1).await;
    assert_eq!(app.balance(None, "usd").await, (5000, 0));

    let body = app
        .graphql(
            "query($id: ID!) { node(id: $id) { ... on Topup { status } } balanceTransactions { nodes { status } } }",
            json!({"id": topup["id"]}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["node"]["status"], "succeeded");
    assert_eq!(
        body["data"]["balanceTransactions"]["nodes"][0]["status"],
        "AVAILABLE"
    );

    let body = app
        .graphql(
            "{ events(first: 10) { nodes { type data { object } } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let types: Vec<&str> = body["data"]["events"]["nodes"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        vec!["balance.available", "topup.succeeded", "topup.created"]
    );

    let body = app
        .graphql(
            "{ ledgerCheck { balanced entries totals { currency debits credits } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    // The top-up entry (bank −5000, platform pending +5000) and its release (pending −5000,
    // available +5000).
    assert_eq!(
        body["data"]["ledgerCheck"],
        json!({"balanced": true, "entries": 2, "totals": [{"currency": "usd", "debits": 10000, "credits": 10000}]})
    );
}

#[tokio::test]
async fn advance_clock_never_moves_backwards_and_filters_events_by_type() {
    let app = spawn_app().await;
    let body = app
        .graphql("mutation { advanceClock(input: {seconds: -5}) }", json!({}))
        .await;
    assert_eq!(crate::helpers::error_code(&body), "INVALID_REQUEST");
    let body = app
        .graphql(
            "mutation { advanceClock(input: {to: \"2001-01-01T00:00:00Z\"}) }",
            json!({}),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&body), "INVALID_REQUEST");
    assert_eq!(crate::helpers::error_param(&body), Some("input.to"));

    for amount in [100, 200] {
        assert_no_errors(
            &app.graphql(TOPUP, json!({"amount": amount, "currency": "eur"}))
                .await,
        );
    }
    let body = app
        .graphql(
            "{ events(type: \"topup.created\") { nodes { data { object } } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let amounts: Vec<i64> = body["data"]["events"]["nodes"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| {
            event["data"]["object"]["amount"]["amount"]
                .as_i64()
                .expect("amount")
        })
        .collect();
    assert_eq!(amounts, vec![200, 100]);
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn lists_page_newest_first_without_gaps() {
    let app = spawn_app().await;
    for amount in 1..=25 {
        assert_no_errors(
            &app.graphql(TOPUP, json!({"amount": amount, "currency": "usd"}))
                .await,
        );
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let body = app
            .graphql(
                "query($after: String) { balanceTransactions(first: 10, after: $after) { nodes { amount { amount } } pageInfo { hasNextPage endCursor } } }",
                json!({"after": after}),
            )
            .await;
        assert_no_errors(&body);
        let connection = &body["data"]["balanceTransactions"];
        for node in connection["nodes"].as_array().expect("nodes") {
            seen.push(node["amount"]["amount"].as_i64().expect("amount"));
        }
        if connection["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    assert_eq!(seen, (1..=25).rev().collect::<Vec<i64>>());
    let body = app
        .graphql("{ events(first: 101) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(crate::helpers::error_code(&body), "INVALID_REQUEST");
    assert_eq!(crate::helpers::error_param(&body), Some("first"));
}
