//! Idempotency keys: replays return the first result and move nothing; a different input
//! is a conflict; keys are scoped per platform.

use serde_json::json;

use crate::helpers::{assert_no_errors, error_code, spawn_app, TOPUP};

#[tokio::test]
async fn a_replay_returns_the_same_topup_and_moves_nothing() {
    let app = spawn_app().await;
    let first = app
        .graphql(
            TOPUP,
            json!({"amount": 700, "currency": "usd", "key": "order-1"}),
        )
        .await;
    assert_no_errors(&first);
    let second = app
        .graphql(
            TOPUP,
            json!({"amount": 700, "currency": "usd", "key": "order-1"}),
        )
        .await;
    assert_no_errors(&second);
    assert_eq!(
        first["data"]["createTopup"]["id"],
        second["data"]["createTopup"]["id"]
    );
    assert_eq!(app.balance(None, "usd").await, (0, 700));

    let conflict = app
        .graphql(
            TOPUP,
            json!({"amount": 701, "currency": "usd", "key": "order-1"}),
        )
        .await;
    assert_eq!(error_code(&conflict), "IDEMPOTENCY_CONFLICT");
    assert_eq!(app.balance(None, "usd").await, (0, 700));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn keys_are_scoped_per_platform() {
    let app = spawn_app().await;
    let (_, other_key) = app.second_platform().await;
    let mine = app
        .graphql(
            TOPUP,
            json!({"amount": 300, "currency": "usd", "key": "shared"}),
        )
        .await;
    assert_no_errors(&mine);
    let theirs = app
        .graphql_as(
            &other_key,
            None,
            TOPUP,
            json!({"amount": 900, "currency": "gbp", "key": "shared"}),
        )
        .await;
    assert_no_errors(&theirs);
    assert_ne!(
        mine["data"]["createTopup"]["id"],
        theirs["data"]["createTopup"]["id"]
    );
    assert_eq!(theirs["data"]["createTopup"]["amount"]["amount"], 900);
    assert_eq!(app.balance(None, "usd").await, (0, 300));
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_topup() {
    let app = spawn_app().await;
    let requests = (0..20).map(|_| {
        app.graphql(
            TOPUP,
            json!({"amount": 1234, "currency": "usd", "key": "same"}),
        )
    });
    let bodies = futures::future::join_all(requests).await;
    let ids: std::collections::BTreeSet<String> = bodies
        .iter()
        .map(|body| {
            assert_no_errors(body);
            body["data"]["createTopup"]["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.balance(None, "usd").await, (0, 1234));
    app.assert_ledger_balanced().await;
}
