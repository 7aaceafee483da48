//! Shared steps for the refund, dispute and debit tests: the mutations and reading back
//! refunds, disputes and platform-level balances.

use serde_json::{json, Value};

use crate::helpers::{assert_no_errors, TestApp};

pub const REFUND_FIELDS: &str = "id status reason amount { amount currency }
  charge { id amountRefunded { amount } refunded }
  applicationFeeRefund { id amount { amount } fee { id amountRefunded { amount } refunded } }
  transferReversal { id amount { amount } transfer { id amountReversed { amount } } }
  balanceTransaction { type amount { amount } net { amount } }";

pub const DISPUTE_FIELDS: &str = "id status reason evidenceDueBy created amount { amount } fee { amount }
  charge { id disputed }
  balanceTransactions { type amount { amount } fee { amount } net { amount } feeDetails { type amount { amount } } }";

/// `createRefund` as the platform, or as a connected account with its header.
pub async fn refund_as(app: &TestApp, connect_account: Option<&str>, input: Value) -> Value {
    let query = format!(
        "mutation($input: CreateRefundInput!) {{ createRefund(input: $input) {{ {REFUND_FIELDS} }} }}"
    );
    app.graphql_as(
        &app.secret_key,
        connect_account,
        &query,
        json!({"input": input}),
    )
    .await
}

pub async fn refund(app: &TestApp, input: Value) -> Value {
    refund_as(app, None, input).await
}

/// A refund that must succeed; returns the refund.
pub async fn refunded(app: &TestApp, input: Value) -> Value {
    let body = refund(app, input).await;
    assert_no_errors(&body);
    body["data"]["createRefund"].clone()
}

pub async fn refund_fee(app: &TestApp, connect_account: Option<&str>, input: Value) -> Value {
    app.graphql_as(
        &app.secret_key,
        connect_account,
        "mutation($input: RefundApplicationFeeInput!) { refundApplicationFee(input: $input) { id amount { amount } fee { id amountRefunded { amount } refunded refunds { id amount { amount } } } } }",
        json!({"input": input}),
    )
    .await
}

pub async fn dispute_of_charge(app: &TestApp, charge: &str) -> Value {
    let query =
        format!("query($id: ID!) {{ charge(id: $id) {{ dispute {{ {DISPUTE_FIELDS} }} }} }}");
    let body = app.graphql(&query, json!({"id": charge})).await;
    assert_no_errors(&body);
    body["data"]["charge"]["dispute"].clone()
}

pub async fn submit_evidence(app: &TestApp, dispute: &str) -> Value {
    app.graphql(
        "mutation($d: ID!) { submitDisputeEvidence(input: {dispute: $d, evidence: \"Signed delivery receipt\"}) { id status } }",
        json!({"d": dispute}),
    )
    .await
}

pub async fn close_dispute(app: &TestApp, dispute: &str, outcome: &str) -> Value {
    let query = format!("mutation($d: ID!, $o: DisputeOutcome!) {{ closeDispute(input: {{dispute: $d, outcome: $o}}) {{ {DISPUTE_FIELDS} }} }}");
    app.graphql(&query, json!({"d": dispute, "o": outcome}))
        .await
}

/// The platform's reserved balance as (currency, amount) pairs, and its negative accounts
/// as (account, amount, platform liable).
pub async fn reserve_and_negative_accounts(
    app: &TestApp,
) -> (Vec<(String, i64)>, Vec<(String, i64, bool)>) {
    let body = app
        .graphql(
            "{ platform { balance { reserved { amount currency } } negativeAccounts { account { id } amount { amount } platformLiable } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let platform = &body["data"]["platform"];
    let reserved = platform["balance"]["reserved"]
        .as_array()
        .expect("reserved")
        .iter()
        .map(|money| {
            (
                money["currency"].as_str().expect("currency").to_owned(),
                money["amount"].as_i64().expect("amount"),
            )
        })
        .collect();
    let negative = platform["negativeAccounts"]
        .as_array()
        .expect("negative accounts")
        .iter()
        .map(|entry| {
            (
                entry["account"]["id"].as_str().expect("account").to_owned(),
                entry["amount"]["amount"].as_i64().expect("amount"),
                entry["platformLiable"].as_bool().expect("liable"),
            )
        })
        .collect();
    (reserved, negative)
}

/// The id of a charge in a `createCharge` response.
pub fn charge_id(body: &Value) -> String {
    assert_no_errors(body);
    body["data"]["createCharge"]["id"]
        .as_str()
        .expect("charge id")
        .to_owned()
}
