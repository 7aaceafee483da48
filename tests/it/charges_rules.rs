//! Table tests of the three flows across account types and fee sources (including jpy and a
//! charge of one minor unit), authorization and capture, bad input with its codes, and
//! transfers racing for one balance.

use serde_json::json;

use crate::charges_support::{balances, create_charge, enabled_account};
use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app};

#[tokio::test]
#[allow(clippy::type_complexity)]
async fn flows_by_account_type_and_fee_source() {
    let app = spawn_app().await;
    let express = enabled_account(&app, "EXPRESS").await;
    let standard = enabled_account(&app, "STANDARD").await;
    let custom = enabled_account(&app, "CUSTOM").await;
    // (connect account, destination, amount, currency, fee, transfer amount,
    //  expected account net, expected platform net)
    let cases: Vec<(
        Option<&str>,
        Option<&str>,
        i64,
        &str,
        Option<i64>,
        Option<i64>,
        i64,
        i64,
    )> = vec![
        // Destination, explicit fee: account amount − fee; platform fee − processing.
        (
            None,
            Some(&express),
            5000,
            "usd",
            Some(500),
            None,
            4500,
            500 - 175,
        ),
        // Destination, policy fee (default policy: 0).
        (None, Some(&custom), 5000, "usd", None, None, 5000, -175),
        // Destination, transfer amount.
        (
            None,
            Some(&standard),
            5000,
            "usd",
            None,
            Some(4000),
            4000,
            1000 - 175,
        ),
        // Direct on Standard: the account pays processing.
        (
            Some(&standard),
            None,
            5000,
            "usd",
            Some(300),
            None,
            5000 - 175 - 300,
            300,
        ),
        // Direct on Custom: the platform pays processing.
        (
            Some(&custom),
            None,
            5000,
            "usd",
            Some(300),
            None,
            5000 - 300,
            300 - 175,
        ),
        // Zero-decimal: 2.9% of 1000 jpy = 29, no fixed part.
        (
            None,
            Some(&express),
            1000,
            "jpy",
            Some(100),
            None,
            900,
            100 - 29,
        ),
        (Some(&standard), None, 1000, "jpy", None, None, 1000 - 29, 0),
        // One minor unit: 2.9% + 30 is capped at the amount (1).
        (None, Some(&custom), 1, "usd", Some(0), None, 1, -1),
    ];
    for (
        index,
        (connect, destination, amount, currency, fee, transfer_amount, account_net, platform_net),
    ) in cases.into_iter().enumerate()
    {
        let account = connect.or(destination).expect("an account");
        let before_account = app.balance(Some(account), currency).await;
        let before_platform = app.balance(None, currency).await;
        let mut input =
            json!({"amount": amount, "currency": currency, "paymentMethod": "pm_card_visa"});
        if let Some(fee) = fee {
            input["applicationFeeAmount"] = json!(fee);
        }
        if let Some(destination) = destination {
            input["transferData"] = json!({"destination": destination});
            if let Some(transfer_amount) = transfer_amount {
                input["transferData"]["amount"] = json!(transfer_amount);
            }
        }
        let body = create_charge(&app, connect, input).await;
        assert_no_errors(&body);
        let after_account = app.balance(Some(account), currency).await;
        let after_platform = app.balance(None, currency).await;
        assert_eq!(
            after_account.1 - before_account.1,
            account_net,
            "case {index}: account"
        );
        assert_eq!(
            after_platform.1 - before_platform.1,
            platform_net,
            "case {index}: platform"
        );
    }
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn authorize_then_capture_part_and_release_the_rest() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa", "capture": false,
               "transferData": {"destination": seller}}),
    )
    .await;
    assert_no_errors(&body);
    let charge = body["data"]["createCharge"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(body["data"]["createCharge"]["captured"], false);
    assert_eq!(body["data"]["createCharge"]["status"], "SUCCEEDED");
    assert_eq!(balances(&app, None).await, (0, 0));
    assert_eq!(balances(&app, Some(&seller)).await, (0, 0));

    let capture = "mutation($charge: ID!, $amount: MinorUnits, $fee: MinorUnits) {
      captureCharge(input: {charge: $charge, amount: $amount, applicationFeeAmount: $fee}) { captured amountCaptured { amount } applicationFee { amount { amount } } processingFee { amount } }
    }";
    let body = app
        .graphql(capture, json!({"charge": charge, "amount": 10001}))
        .await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(error_param(&body), Some("input.amount"));
    let body = app
        .graphql(
            capture,
            json!({"charge": charge, "amount": 6000, "fee": 600}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["captureCharge"],
        json!({"captured": true, "amountCaptured": {"amount": 6000}, "applicationFee": {"amount": {"amount": 600}}, "processingFee": {"amount": 204}})
    );
    assert_eq!(balances(&app, Some(&seller)).await, (0, 5400));
    assert_eq!(balances(&app, None).await, (0, 600 - 204));
    let body = app.graphql(capture, json!({"charge": charge})).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn uncaptured_charges_expire_after_seven_days() {
    let app = spawn_app().await;
    let body = create_charge(&app, None, json!({"amount": 3000, "currency": "usd", "paymentMethod": "pm_card_visa", "capture": false})).await;
    assert_no_errors(&body);
    let charge = body["data"]["createCharge"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.advance_days(7).await;
    let body = app
        .graphql(
            "query($id: ID!) { charge(id: $id) { captured refunded amountRefunded { amount } } }",
            json!({"id": charge}),
        )
        .await;
    assert_eq!(
        body["data"]["charge"],
        json!({"captured": false, "refunded": true, "amountRefunded": {"amount": 3000}})
    );
    let body = app
        .graphql(
            "mutation($c: ID!) { captureCharge(input: {charge: $c}) { id } }",
            json!({"c": charge}),
        )
        .await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    let body = app
        .graphql(
            "{ events(type: \"charge.expired\") { nodes { type } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["events"]["nodes"],
        json!([{"type": "charge.expired"}])
    );
    assert_eq!(balances(&app, None).await, (0, 0));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn declines_store_a_failed_charge_and_move_nothing() {
    let app = spawn_app().await;
    for (method, decline_code) in [
        ("pm_card_chargeDeclined", "generic_decline"),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
        ),
    ] {
        let body = create_charge(
            &app,
            None,
            json!({"amount": 500, "currency": "usd", "paymentMethod": method}),
        )
        .await;
        assert_eq!(error_code(&body), "CARD_DECLINED");
        assert_eq!(body["errors"][0]["extensions"]["declineCode"], decline_code);
        let charge = body["errors"][0]["extensions"]["charge"]
            .as_str()
            .expect("charge id")
            .to_owned();
        let body = app
            .graphql(
                "query($id: ID!) { charge(id: $id) { status failureCode captured } }",
                json!({"id": charge}),
            )
            .await;
        assert_eq!(
            body["data"]["charge"],
            json!({"status": "FAILED", "failureCode": "card_declined", "captured": false})
        );
        let body = app
            .graphql(
                "mutation($c: ID!) { captureCharge(input: {charge: $c}) { id } }",
                json!({"c": charge}),
            )
            .await;
        assert_eq!(error_code(&body), "INVALID_REQUEST");
    }
    assert_eq!(balances(&app, None).await, (0, 0));
    let body = app.graphql("{ ledgerCheck { entries } }", json!({})).await;
    assert_eq!(body["data"]["ledgerCheck"]["entries"], 0);
}

#[tokio::test]
async fn bad_charges_and_transfers_each_have_their_code_and_move_nothing() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let body = app
        .graphql(
            crate::charges_support::CREATE_ACCOUNT,
            json!({"type": "CUSTOM", "country": "US"}),
        )
        .await;
    let not_onboarded = body["data"]["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, other_key) = app.second_platform().await;
    let body = app
        .graphql_as(
            &other_key,
            None,
            crate::charges_support::CREATE_ACCOUNT,
            json!({"type": "STANDARD", "country": "GB"}),
        )
        .await;
    let foreign = body["data"]["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let base = json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa"});
    let with = |extra: serde_json::Value| {
        let mut input = base.clone();
        for (key, value) in extra.as_object().expect("object") {
            input[key] = value.clone();
        }
        input
    };
    let cases = [
        (
            with(json!({"applicationFeeAmount": 1001, "transferData": {"destination": seller}})),
            "INVALID_REQUEST",
            Some("input.applicationFeeAmount"),
        ),
        (
            with(json!({"applicationFeeAmount": -1, "transferData": {"destination": seller}})),
            "INVALID_REQUEST",
            Some("input.applicationFeeAmount"),
        ),
        (
            with(json!({"transferData": {"destination": not_onboarded}})),
            "ACCOUNT_RESTRICTED",
            None,
        ),
        (
            with(json!({"transferData": {"destination": foreign}})),
            "NOT_FOUND",
            Some("input.transferData.destination"),
        ),
        (
            with(json!({"paymentMethod": "pm_card_nope"})),
            "INVALID_REQUEST",
            Some("input.paymentMethod"),
        ),
        (
            with(json!({"transferData": {"destination": seller, "amount": 1001}})),
            "INVALID_REQUEST",
            Some("input.transferData.amount"),
        ),
    ];
    for (input, code, param) in cases {
        let body = create_charge(&app, None, input.clone()).await;
        assert_eq!(error_code(&body), code, "{input}: {body}");
        if param.is_some() {
            assert_eq!(error_param(&body), param, "{input}");
        }
    }
    let body = create_charge(&app, Some(&not_onboarded), base.clone()).await;
    assert_eq!(error_code(&body), "ACCOUNT_RESTRICTED");

    // A charge to draw on, then transfers that break the rules.
    let body = create_charge(
        &app,
        None,
        json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa"}),
    )
    .await;
    let charge = body["data"]["createCharge"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let transfer = "mutation($amount: MinorUnits!, $currency: Currency!, $destination: ID!, $source: ID) {
      createTransfer(input: {amount: $amount, currency: $currency, destination: $destination, sourceTransaction: $source}) { id }
    }";
    let cases = [
        (
            json!({"amount": 100, "currency": "eur", "destination": seller, "source": charge}),
            "INVALID_REQUEST",
            "input.currency",
        ),
        (
            json!({"amount": 1001, "currency": "usd", "destination": seller, "source": charge}),
            "INVALID_REQUEST",
            "input.amount",
        ),
        (
            json!({"amount": 100, "currency": "usd", "destination": foreign, "source": charge}),
            "NOT_FOUND",
            "input.destination",
        ),
    ];
    for (variables, code, param) in cases {
        let body = app.graphql(transfer, variables.clone()).await;
        assert_eq!(error_code(&body), code, "{variables}: {body}");
        assert_eq!(error_param(&body), Some(param), "{variables}");
    }
    let body = app.graphql(transfer, json!({"amount": 100, "currency": "usd", "destination": not_onboarded, "source": charge})).await;
    assert_eq!(error_code(&body), "ACCOUNT_RESTRICTED");

    // A reversal of more than what is left.
    let body = app
        .graphql(
            transfer,
            json!({"amount": 500, "currency": "usd", "destination": seller, "source": charge}),
        )
        .await;
    assert_no_errors(&body);
    let transfer_id = body["data"]["createTransfer"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let reverse = "mutation($t: ID!, $amount: MinorUnits) { createTransferReversal(input: {transfer: $t, amount: $amount}) { id amount { amount } transfer { amountReversed { amount } reversed } } }";
    let body = app
        .graphql(reverse, json!({"t": transfer_id, "amount": 501}))
        .await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(error_param(&body), Some("input.amount"));
    // The transfer's funds are still pending, so the destination's available balance (0)
    // cannot cover a reversal of a transfer made outside a destination charge.
    let body = app
        .graphql(reverse, json!({"t": transfer_id, "amount": 200}))
        .await;
    assert_eq!(error_code(&body), "INSUFFICIENT_FUNDS");
    app.advance_days(2).await;
    let body = app
        .graphql(reverse, json!({"t": transfer_id, "amount": 200}))
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["createTransferReversal"]["transfer"],
        json!({"amountReversed": {"amount": 200}, "reversed": false})
    );
    let body = app.graphql(reverse, json!({"t": transfer_id})).await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["createTransferReversal"]["amount"]["amount"],
        300
    );
    assert_eq!(
        body["data"]["createTransferReversal"]["transfer"]["reversed"],
        true
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn destination_transfer_reversal_refunds_the_application_fee_in_proportion() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "EXPRESS").await;
    let body = create_charge(
        &app,
        None,
        json!({"amount": 2000, "currency": "usd", "paymentMethod": "pm_card_visa", "applicationFeeAmount": 1000,
               "transferData": {"destination": seller}}),
    )
    .await;
    assert_no_errors(&body);
    let transfer = body["data"]["createCharge"]["transfers"][0]["id"]
        .as_str()
        .expect("transfer")
        .to_owned();
    let fee = body["data"]["createCharge"]["applicationFee"]["id"]
        .as_str()
        .expect("fee")
        .to_owned();
    let before_seller = balances(&app, Some(&seller)).await;
    let before_platform = balances(&app, None).await;
    let body = app
        .graphql(
            "mutation($t: ID!) { createTransferReversal(input: {transfer: $t, amount: 1500, refundApplicationFee: true}) { amount { amount } } }",
            json!({"t": transfer}),
        )
        .await;
    assert_no_errors(&body);
    let after_seller = balances(&app, Some(&seller)).await;
    let after_platform = balances(&app, None).await;
    // The reversal takes 1500 from the account; the fee refund gives 750 back.
    assert_eq!(after_seller.0 - before_seller.0, -750);
    assert_eq!(after_platform.0 - before_platform.0, 750);
    let body = app
        .graphql("query($f: ID!) { applicationFee(id: $f) { amountRefunded { amount } refunded refunds { amount { amount } } } }", json!({"f": fee}))
        .await;
    assert_eq!(
        body["data"]["applicationFee"],
        json!({"amountRefunded": {"amount": 750}, "refunded": false, "refunds": [{"amount": {"amount": 750}}]})
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_transfers_race_for_one_available_balance() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let body = app
        .graphql(
            crate::helpers::TOPUP,
            json!({"amount": 10_000, "currency": "usd"}),
        )
        .await;
    assert_no_errors(&body);
    app.advance_days(2).await;
    assert_eq!(balances(&app, None).await, (10_000, 0));
    let transfer = "mutation($destination: ID!) { createTransfer(input: {amount: 700, currency: \"usd\", destination: $destination}) { id } }";
    let requests = (0..50).map(|_| app.graphql(transfer, json!({"destination": seller})));
    let bodies = futures::future::join_all(requests).await;
    let succeeded = bodies
        .iter()
        .filter(|body| body.get("errors").is_none())
        .count();
    for body in bodies.iter().filter(|body| body.get("errors").is_some()) {
        assert_eq!(error_code(body), "INSUFFICIENT_FUNDS", "{body}");
    }
    // 10000 / 700 = 14 transfers fit; the rest are refused.
    assert_eq!(succeeded, 14);
    assert_eq!(balances(&app, None).await, (10_000 - 14 * 700, 0));
    assert_eq!(balances(&app, Some(&seller)).await, (14 * 700, 0));
    app.assert_ledger_balanced().await;
}

async fn charge_count(app: &crate::helpers::TestApp) -> usize {
    let body = app
        .graphql("{ charges(first: 100) { nodes { id } } }", json!({}))
        .await;
    assert_no_errors(&body);
    body["data"]["charges"]["nodes"]
        .as_array()
        .expect("nodes")
        .len()
}

#[tokio::test]
async fn application_fees_need_a_connected_account_and_on_behalf_of_its_destination() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let other = enabled_account(&app, "CUSTOM").await;
    // Created but not onboarded: CARD_PAYMENTS is not active.
    let body = app
        .graphql(
            crate::charges_support::CREATE_ACCOUNT,
            json!({"type": "CUSTOM", "country": "US"}),
        )
        .await;
    assert_no_errors(&body);
    let bare = body["data"]["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let card = |extra: serde_json::Value| {
        let mut input = json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa"});
        for (key, value) in extra.as_object().expect("object") {
            input[key] = value.clone();
        }
        input
    };
    let refused = [
        (
            None,
            card(json!({"applicationFeeAmount": 100})),
            "INVALID_REQUEST",
            "input.applicationFeeAmount",
        ),
        (
            None,
            card(json!({"applicationFeeAmount": 0, "onBehalfOf": seller})),
            "INVALID_REQUEST",
            "input.applicationFeeAmount",
        ),
        (
            None,
            card(json!({"transferData": {"destination": seller}, "onBehalfOf": other})),
            "INVALID_REQUEST",
            "input.onBehalfOf",
        ),
        (
            Some(seller.as_str()),
            card(json!({"onBehalfOf": other})),
            "INVALID_REQUEST",
            "input.onBehalfOf",
        ),
        (
            None,
            card(json!({"onBehalfOf": bare})),
            "ACCOUNT_RESTRICTED",
            "input.onBehalfOf",
        ),
    ];
    let before = (balances(&app, None).await, charge_count(&app).await);
    for (connect_account, input, code, param) in refused {
        let body = create_charge(&app, connect_account, input.clone()).await;
        assert_eq!(error_code(&body), code, "{input}: {body}");
        assert_eq!(error_param(&body), Some(param), "{input}: {body}");
    }
    assert_eq!(
        (balances(&app, None).await, charge_count(&app).await),
        before
    );

    // On behalf of its own destination, or a separate charge settled for an account that
    // takes card payments: accepted.
    let body = create_charge(
        &app,
        None,
        card(json!({"applicationFeeAmount": 100, "transferData": {"destination": seller}, "onBehalfOf": seller})),
    )
    .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["createCharge"]["applicationFee"]["amount"]["amount"],
        100
    );
    let body = create_charge(&app, None, card(json!({"onBehalfOf": other}))).await;
    assert_no_errors(&body);
    assert_eq!(charge_count(&app).await, before.1 + 2);
    app.assert_ledger_balanced().await;
}
