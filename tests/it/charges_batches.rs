//! `createCharges`: each input with its own result and idempotency key, all committed
//! together; a failing input fails alone, a replayed batch moves nothing, and more than the
//! limit is refused whole.

use serde_json::{json, Value};

use crate::charges_support::{balances, enabled_account};
use crate::helpers::{
    assert_no_errors, error_code, error_param, run_verify, spawn_app, spawn_app_with, TestApp,
};

const CREATE_CHARGES: &str = "mutation($inputs: [CreateChargeInput!]!) {
  createCharges(inputs: $inputs) {
    charge { id status amount { amount } applicationFee { amount { amount } } transfers { amount { amount } } }
    error { code message param }
  }
}";

async fn create_charges(app: &TestApp, inputs: Value) -> Value {
    app.graphql(CREATE_CHARGES, json!({"inputs": inputs})).await
}

fn results(body: &Value) -> &Vec<Value> {
    body["data"]["createCharges"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {body}"))
}

async fn charge_count(app: &TestApp) -> usize {
    let body = app
        .graphql("{ charges(first: 100) { nodes { id } } }", json!({}))
        .await;
    assert_no_errors(&body);
    body["data"]["charges"]["nodes"]
        .as_array()
        .expect("charges")
        .len()
}

#[tokio::test]
async fn a_mixed_batch_answers_each_input_and_applies_the_valid_ones() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let body = create_charges(
        &app,
        json!([
            {"amount": 10000, "currency": "usd", "paymentMethod": "pm_card_visa",
             "applicationFeeAmount": 123, "transferData": {"destination": seller}},
            {"amount": -5, "currency": "usd", "paymentMethod": "pm_card_visa"},
            {"amount": 700, "currency": "usd", "paymentMethod": "pm_card_chargeDeclined"},
            {"amount": 900, "currency": "usd", "paymentMethod": "pm_card_unknown"},
            {"amount": 2000, "currency": "usd", "paymentMethod": "pm_card_visa"},
        ]),
    )
    .await;
    assert_no_errors(&body);
    let results = results(&body);
    assert_eq!(results.len(), 5);

    assert_eq!(results[0]["error"], json!(null));
    assert_eq!(results[0]["charge"]["status"], "SUCCEEDED");
    assert_eq!(
        results[0]["charge"]["applicationFee"]["amount"]["amount"],
        123
    );
    assert_eq!(
        results[0]["charge"]["transfers"][0]["amount"]["amount"],
        10000
    );

    assert_eq!(results[1]["charge"], json!(null));
    assert_eq!(results[1]["error"]["code"], "INVALID_REQUEST");
    assert_eq!(results[1]["error"]["param"], "inputs.1.amount");

    // A declined card is recorded: its failed charge comes with the error.
    assert_eq!(results[2]["error"]["code"], "CARD_DECLINED");
    assert_eq!(results[2]["charge"]["status"], "FAILED");

    assert_eq!(results[3]["charge"], json!(null));
    assert_eq!(results[3]["error"]["code"], "INVALID_REQUEST");
    assert_eq!(results[3]["error"]["param"], "inputs.3.paymentMethod");

    assert_eq!(results[4]["error"], json!(null));
    assert_eq!(results[4]["charge"]["amount"]["amount"], 2000);

    // The destination charge: the seller holds 10000 - 123; the platform the fee 123 less
    // the processing fee 320, plus its own charge 2000 less 88.
    assert_eq!(balances(&app, Some(&seller)).await, (0, 9877));
    assert_eq!(balances(&app, None).await, (0, -197 + 1912));
    assert_eq!(charge_count(&app).await, 3);
    app.assert_ledger_balanced().await;
    let (data_dir, _temp) = app.stop().await;
    let (passed, output) = run_verify(&data_dir);
    assert!(passed, "{output}");
}

#[tokio::test]
async fn a_replayed_batch_answers_the_same_charges_and_moves_nothing() {
    let app = spawn_app().await;
    let seller = enabled_account(&app, "CUSTOM").await;
    let inputs = json!([
        {"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa",
         "transferData": {"destination": seller}, "idempotencyKey": "order-1"},
        {"amount": 2000, "currency": "usd", "paymentMethod": "pm_card_visa",
         "transferData": {"destination": seller}, "idempotencyKey": "order-2"},
        {"amount": 3000, "currency": "usd", "paymentMethod": "pm_card_visa",
         "transferData": {"destination": seller}, "idempotencyKey": "order-3"},
    ]);
    let first = create_charges(&app, inputs.clone()).await;
    assert_no_errors(&first);
    let ids = |body: &Value| -> Vec<Value> {
        results(body)
            .iter()
            .map(|result| result["charge"]["id"].clone())
            .collect()
    };
    let first_ids = ids(&first);
    assert!(first_ids.iter().all(Value::is_string), "{first}");
    let after_first = (
        balances(&app, Some(&seller)).await,
        balances(&app, None).await,
    );
    assert_eq!(after_first.0, (0, 6000));

    let again = create_charges(&app, inputs).await;
    assert_no_errors(&again);
    assert_eq!(ids(&again), first_ids);

    // The keys are those of createCharge: a single request with the same key and input
    // replays the batch's charge; a different input under a key is a conflict, alone.
    let single = app
        .graphql(
            "mutation($input: CreateChargeInput!) { createCharge(input: $input) { id } }",
            json!({"input": {"amount": 2000, "currency": "usd", "paymentMethod": "pm_card_visa",
                             "transferData": {"destination": seller}, "idempotencyKey": "order-2"}}),
        )
        .await;
    assert_no_errors(&single);
    assert_eq!(single["data"]["createCharge"]["id"], first_ids[1]);
    let conflicting = create_charges(
        &app,
        json!([
            {"amount": 1500, "currency": "usd", "paymentMethod": "pm_card_visa",
             "transferData": {"destination": seller}, "idempotencyKey": "order-1"},
            {"amount": 500, "currency": "usd", "paymentMethod": "pm_card_visa",
             "transferData": {"destination": seller}, "idempotencyKey": "order-4"},
        ]),
    )
    .await;
    assert_no_errors(&conflicting);
    let conflicting = results(&conflicting);
    assert_eq!(conflicting[0]["error"]["code"], "IDEMPOTENCY_CONFLICT");
    assert_eq!(conflicting[0]["charge"], json!(null));
    assert_eq!(conflicting[1]["error"], json!(null));

    assert_eq!(balances(&app, Some(&seller)).await, (0, 6500));
    assert_eq!(charge_count(&app).await, 4);
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn a_batch_over_the_limit_is_refused_whole_with_nothing_written() {
    let app = spawn_app().await;
    let input = json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa"});
    let body = create_charges(&app, Value::Array(vec![input.clone(); 101])).await;
    assert_eq!(error_code(&body), "INVALID_REQUEST", "{body}");
    assert_eq!(error_param(&body), Some("inputs"));
    assert_eq!(
        body["errors"][0]["message"],
        "A batch holds at most 100 charges; this one has 101"
    );
    assert_eq!(charge_count(&app).await, 0);
    assert_eq!(balances(&app, None).await, (0, 0));

    // A full batch of 100 fits the query cost and is applied.
    let body = create_charges(&app, Value::Array(vec![input; 100])).await;
    assert_no_errors(&body);
    assert!(results(&body)
        .iter()
        .all(|result| result["error"].is_null()));
    assert_eq!(charge_count(&app).await, 100);
    // Each 1000 less its processing fee of 59 (2.9% rounded, plus 30).
    assert_eq!(balances(&app, None).await, (0, 100 * (1000 - 59)));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn each_input_of_a_batch_takes_one_write_from_the_rate_limit() {
    let app = spawn_app_with(|settings| {
        settings.limits.writes_per_second = 1;
        settings.limits.write_burst = 5;
    })
    .await;
    let input = json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa"});
    let body = create_charges(&app, Value::Array(vec![input.clone(); 6])).await;
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["budget"], "writes");
    assert_eq!(charge_count(&app).await, 0);
    let body = create_charges(&app, Value::Array(vec![input; 5])).await;
    assert_no_errors(&body);
    assert_eq!(charge_count(&app).await, 5);
}
