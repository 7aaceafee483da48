//! Instant payouts: to an Express account's debit card at once, with the gateway's and the
//! platform policy's fees; and every refusal.

use serde_json::json;

use crate::charges_support::enabled_account;
use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app, TestApp};
use crate::payouts_support::{
    add_debit_card_as_holder, advance_to, advance_to_as, create_payout, custom_account,
    instant_balance, pay_seller, pay_seller_as, set_schedule, set_schedule_as,
};
use tollgate::service::platforms::NewPlatform;

/// An Express account on MANUAL with 10000 usd available and a debit card; returns (account, card).
async fn funded_express(app: &TestApp) -> (String, String) {
    advance_to(app, "2027-03-01T12:00:00Z").await;
    let seller = enabled_account(app, "EXPRESS").await;
    set_schedule(app, &seller, json!({"interval": "MANUAL"})).await;
    let card = add_debit_card_as_holder(app, &app.platform_id, &seller, "tok_visa_debit").await;
    pay_seller(app, &seller, 10000, "usd").await;
    advance_to(app, "2027-03-03T12:00:00Z").await;
    (seller, card)
}

#[tokio::test]
async fn an_instant_payout_arrives_at_once_and_pays_the_gateway_fee() {
    let app = spawn_app().await;
    let (seller, card) = funded_express(&app).await;
    assert_eq!(
        instant_balance(&app, &app.secret_key, &seller, "usd").await,
        (10000, 10000)
    );
    let body = create_payout(
        &app,
        &app.secret_key,
        None,
        json!({"account": seller, "amount": 5000, "currency": "usd", "method": "INSTANT", "destination": card}),
    )
    .await;
    assert_no_errors(&body);
    let payout = &body["data"]["createPayout"];
    assert_eq!(payout["status"], "PAID");
    assert_eq!(payout["method"], "INSTANT");
    assert_eq!(payout["automatic"], false);
    assert_eq!(payout["arrivalDate"], "2027-03-03T12:00:00Z");
    assert_eq!(payout["amount"]["amount"], 5000);
    // The gateway's fee: 1.5% of 5000 = 75; the default policy adds none.
    assert_eq!(payout["fee"]["amount"], 75);
    assert_eq!(payout["destination"]["__typename"], "DebitCard");
    assert_eq!(
        payout["balanceTransaction"],
        json!({"type": "PAYOUT", "amount": {"amount": -5000}, "fee": {"amount": 75}, "net": {"amount": -5075},
               "feeDetails": [{"type": "INSTANT_PAYOUT_FEE", "amount": {"amount": 75}}]})
    );
    assert_eq!(
        instant_balance(&app, &app.secret_key, &seller, "usd").await,
        (4925, 4925)
    );
    // Nothing is left to happen on the clock.
    advance_to(&app, "2027-03-10T00:00:00Z").await;
    let body = app
        .graphql(
            "query($id: ID!) { node(id: $id) { ... on Payout { status } } }",
            json!({"id": payout["id"]}),
        )
        .await;
    assert_eq!(body["data"]["node"]["status"], "PAID", "{body}");
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn the_platform_policy_fee_is_charged_on_top_and_credited_to_the_platform() {
    let app = spawn_app().await;
    // The rides policy charges 1% with a minimum of 25 on instant payouts.
    let rides = app
        .services
        .create_platform(NewPlatform {
            name: "Rides".into(),
            country: "US".into(),
            default_currency: Some("usd".into()),
            policy: Some("rides".into()),
        })
        .await
        .expect("platform");
    let key = rides.secret_key.as_str();
    advance_to_as(&app, key, "2027-03-01T12:00:00Z").await;
    let driver = custom_account(&app, key, "US", "usd", "000123456789").await;
    set_schedule_as(&app, key, &driver, json!({"interval": "MANUAL"})).await;
    let body = app
        .graphql_as(key, None,
            "mutation($a: ID!) { addDebitCard(input: {account: $a, token: \"tok_visa_debit\"}) { id instantPayoutEligible } }",
            json!({"a": driver}))
        .await;
    assert_no_errors(&body);
    let card = body["data"]["addDebitCard"]["id"].clone();
    pay_seller_as(&app, key, &driver, 10000).await;
    advance_to_as(&app, key, "2027-03-03T12:00:00Z").await;
    let platform_available = || async {
        let body = app
            .graphql_as(key, None, "{ balance { available { amount } } }", json!({}))
            .await;
        body["data"]["balance"]["available"][0]["amount"]
            .as_i64()
            .expect("amount")
    };
    let before = platform_available().await;
    let body = create_payout(
        &app,
        key,
        Some(&driver),
        json!({"amount": 4000, "currency": "usd", "method": "INSTANT", "destination": card}),
    )
    .await;
    assert_no_errors(&body);
    let payout = &body["data"]["createPayout"];
    // Gateway max(60, 50) = 60; platform max(40, 25) = 40.
    assert_eq!(payout["fee"]["amount"], 100);
    assert_eq!(
        payout["balanceTransaction"]["feeDetails"],
        json!([{"type": "INSTANT_PAYOUT_FEE", "amount": {"amount": 60}},
               {"type": "INSTANT_PAYOUT_FEE", "amount": {"amount": 40}}])
    );
    assert_eq!(
        instant_balance(&app, key, &driver, "usd").await,
        (5900, 5900)
    );
    assert_eq!(platform_available().await, before + 40);
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn instant_payouts_are_refused_where_they_do_not_apply() {
    let app = spawn_app().await;
    let (seller, card) = funded_express(&app).await;
    let bank = app
        .graphql(
            "query($id: ID!) { account(id: $id) { externalAccounts { ... on BankAccount { id } } } }",
            json!({"id": seller}),
        )
        .await["data"]["account"]["externalAccounts"][0]["id"]
        .as_str()
        .expect("bank")
        .to_owned();
    let standard = enabled_account(&app, "STANDARD").await;
    let japanese = custom_account(&app, &app.secret_key, "JP", "jpy", "000123456789").await;
    let japanese_card =
        add_debit_card_as_holder(&app, &app.platform_id, &japanese, "tok_visa_debit").await;
    // (input, code, param)
    let cases = [
        (
            json!({"account": standard, "amount": 1000, "currency": "usd", "method": "INSTANT"}),
            "FORBIDDEN",
            "input.method",
        ),
        (
            json!({"account": seller, "amount": 1000, "currency": "usd", "method": "INSTANT", "destination": bank}),
            "INVALID_REQUEST",
            "input.destination",
        ),
        (
            json!({"account": japanese, "amount": 1000, "currency": "jpy", "method": "INSTANT", "destination": japanese_card}),
            "INVALID_REQUEST",
            "input.method",
        ),
        (
            json!({"amount": 1000, "currency": "usd", "method": "INSTANT"}),
            "FORBIDDEN",
            "input.method",
        ),
    ];
    for (input, code, param) in cases {
        let body = create_payout(&app, &app.secret_key, None, input.clone()).await;
        assert_eq!(error_code(&body), code, "{input} {body}");
        assert_eq!(error_param(&body), Some(param), "{input} {body}");
    }
    // 9900 plus its fee of 149 is more than the 10000 instantly available.
    let body = create_payout(
        &app,
        &app.secret_key,
        None,
        json!({"account": seller, "amount": 9900, "currency": "usd", "method": "INSTANT", "destination": card}),
    )
    .await;
    assert_eq!(error_code(&body), "INSUFFICIENT_FUNDS", "{body}");
    assert_eq!(
        instant_balance(&app, &app.secret_key, &seller, "usd").await,
        (10000, 10000)
    );
    let body = create_payout(
        &app,
        &app.secret_key,
        None,
        json!({"account": seller, "amount": 9851, "currency": "usd", "method": "INSTANT", "destination": card}),
    )
    .await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["createPayout"]["fee"]["amount"], 148);
    assert_eq!(
        instant_balance(&app, &app.secret_key, &seller, "usd").await,
        (1, 1)
    );
    app.assert_ledger_balanced().await;
}
