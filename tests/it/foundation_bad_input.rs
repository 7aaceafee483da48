//! Bad input: each a clear INVALID_REQUEST naming the parameter, and nothing written.
//! Authentication failures are HTTP 401.

use serde_json::json;

use crate::helpers::{error_code, error_param, spawn_app, TOPUP};

#[tokio::test]
async fn bad_topup_amounts_and_currencies_are_refused_with_their_param() {
    let app = spawn_app().await;
    let cases = [
        (json!(0), json!("usd"), "input.amount"),
        (json!(-5), json!("usd"), "input.amount"),
        (json!(100_000_000), json!("usd"), "input.amount"),
        (
            json!(9_007_199_254_740_992_i64),
            json!("usd"),
            "input.amount",
        ),
        (json!(12.5), json!("usd"), "input.amount"),
        (json!("100"), json!("usd"), "input.amount"),
        (json!(100), json!("USD"), "input.currency"),
        (json!(100), json!("xyz"), "input.currency"),
        (json!(100), json!(""), "input.currency"),
    ];
    for (amount, currency, param) in cases {
        let body = app
            .graphql(TOPUP, json!({"amount": amount, "currency": currency}))
            .await;
        assert_eq!(
            error_code(&body),
            "INVALID_REQUEST",
            "{amount} {currency}: {body}"
        );
        assert_eq!(
            error_param(&body),
            Some(param),
            "{amount} {currency}: {body}"
        );
    }
    let long_key = "k".repeat(256);
    let body = app
        .graphql(
            TOPUP,
            json!({"amount": 100, "currency": "usd", "key": long_key}),
        )
        .await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(error_param(&body), Some("input.idempotencyKey"));
    let long_description = "d".repeat(1001);
    let body = app
        .graphql(
            "mutation($d: String) { createTopup(input: {amount: 100, currency: \"usd\", description: $d}) { id } }",
            json!({"d": long_description}),
        )
        .await;
    assert_eq!(error_param(&body), Some("input.description"));

    // Nothing was written by any of them.
    let body = app
        .graphql(
            "{ ledgerCheck { entries } events { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["ledgerCheck"]["entries"], 0);
    assert_eq!(body["data"]["events"]["nodes"], json!([]));
    assert_eq!(app.balance(None, "usd").await, (0, 0));
}

#[tokio::test]
async fn malformed_and_wrong_prefix_ids_are_refused() {
    let app = spawn_app().await;
    let platform = app.platform_id.clone();
    for (given, code) in [
        ("acct_123", "INVALID_REQUEST"),
        ("ch_0000000000000000000000000x", "INVALID_REQUEST"),
        (platform.as_str(), "INVALID_REQUEST"),
        ("acct_00000000000000000000000000", "NOT_FOUND"),
    ] {
        let body = app
            .graphql(
                "query($a: ID) { balance(account: $a) { available { amount } } }",
                json!({"a": given}),
            )
            .await;
        assert_eq!(error_code(&body), code, "{given}: {body}");
        assert_eq!(error_param(&body), Some("account"), "{given}");
    }
}

#[tokio::test]
async fn missing_or_wrong_keys_are_401_and_bad_connect_account_is_refused() {
    let app = spawn_app().await;
    let query = json!({"query": "{ platform { id } }"});
    let response = app
        .client
        .post(app.url())
        .json(&query)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), "UNAUTHENTICATED");

    for key in [
        "sk_nope",
        "sk_00000000000000000000000000_ffff",
        "",
        "Bearer",
    ] {
        let response = app
            .client
            .post(app.url())
            .bearer_auth(key)
            .json(&query)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 401, "{key}");
    }
    // A valid key id with a wrong secret.
    let tampered = format!("{}0", &app.secret_key[..app.secret_key.len() - 1]);
    let tampered = if tampered == app.secret_key {
        format!("{}1", &app.secret_key[..app.secret_key.len() - 1])
    } else {
        tampered
    };
    let response = app
        .client
        .post(app.url())
        .bearer_auth(&tampered)
        .json(&query)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);

    let body = app
        .graphql_as(
            &app.secret_key,
            Some("not-an-account"),
            "{ platform { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(error_param(&body), Some("Connect-Account"));
    let body = app
        .graphql_as(
            &app.secret_key,
            Some("acct_00000000000000000000000000"),
            "{ platform { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");

    let body = app
        .graphql(
            "{ platform { id name country defaultCurrency } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["platform"]["id"], app.platform_id);
    assert_eq!(body["data"]["platform"]["country"], "US");
}

#[tokio::test]
async fn graphql_syntax_and_validation_errors_are_invalid_requests() {
    let app = spawn_app().await;
    let body = app.graphql("{ platform { nope } }", json!({})).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    let body = app
        .graphql(
            "mutation { createTopup(input: {amount: 5}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    let body = app.graphql("{ platform { ", json!({})).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
}
