//! Shared steps for the money-movement tests: fully onboarded accounts, charges, balances.

use serde_json::{json, Value};

use crate::helpers::{assert_no_errors, TestApp};

pub const CREATE_ACCOUNT: &str = "mutation($type: AccountType!, $country: CountryCode!) {
  createAccount(input: {type: $type, country: $country, businessType: INDIVIDUAL, email: \"seller@example.com\"}) { id }
}";

pub const SUBMIT_DETAILS: &str = "mutation($account: ID!) {
  submitAccountDetails(input: {
    account: $account,
    individual: {firstName: \"Ada\", lastName: \"Lovelace\", dobDay: 10, dobMonth: 12, dobYear: 1985, ssnLast4: \"0000\",
                 address: {line1: \"1 Main St\", city: \"Springfield\", postalCode: \"12345\"}},
    businessUrl: \"https://seller.example.com\", mcc: \"5734\", tosAcceptance: true
  }) { id chargesEnabled payoutsEnabled }
}";

pub const ADD_BANK_ACCOUNT: &str = "mutation($account: ID!) {
  addBankAccount(input: {account: $account, country: \"US\", currency: \"usd\", routingNumber: \"110000000\", accountNumber: \"000123456789\"}) { id }
}";

/// A US account of `account_type` with CARD_PAYMENTS and TRANSFERS active.
pub async fn enabled_account(app: &TestApp, account_type: &str) -> String {
    let body = app
        .graphql(
            CREATE_ACCOUNT,
            json!({"type": account_type, "country": "US"}),
        )
        .await;
    assert_no_errors(&body);
    let id = body["data"]["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let body = app.graphql(SUBMIT_DETAILS, json!({"account": id})).await;
    assert_no_errors(&body);
    // Standard and Express holders add their bank account on the hosted page; the API
    // refuses the platform, so the test enables them through the service directly.
    let body = app.graphql(ADD_BANK_ACCOUNT, json!({"account": id})).await;
    if body.get("errors").is_some() {
        app.add_bank_account_as_holder(&id).await;
    }
    let body = app
        .graphql(
            "query($id: ID!) { account(id: $id) { chargesEnabled payoutsEnabled } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        body["data"]["account"],
        json!({"chargesEnabled": true, "payoutsEnabled": true}),
        "{body}"
    );
    id
}

pub const CHARGE_FIELDS: &str = "id flow status captured amount { amount } amountCaptured { amount } amountRefunded { amount }
  processingFee { amount } applicationFee { id amount { amount } account { id } }
  pricing { policy version processingFee { amount } applicationFee { amount } applicationFeeFromRequest holdDays splits { destination { id } amount { amount } } }
  transfers { id amount { amount } destination { id } sourceCharge { id } }
  balanceTransaction { id type amount { amount } fee { amount } net { amount } feeDetails { type amount { amount } } }";

pub async fn create_charge(app: &TestApp, connect_account: Option<&str>, input: Value) -> Value {
    let query = format!("mutation($input: CreateChargeInput!) {{ createCharge(input: $input) {{ {CHARGE_FIELDS} }} }}");
    app.graphql_as(
        &app.secret_key,
        connect_account,
        &query,
        json!({"input": input}),
    )
    .await
}

/// `(available, pending)` for a holder: the platform when `account` is None.
pub async fn balances(app: &TestApp, account: Option<&str>) -> (i64, i64) {
    app.balance(account, "usd").await
}

/// Every balance transaction of a holder as (type, amount, fee, net), newest first.
pub async fn transactions(app: &TestApp, account: Option<&str>) -> Vec<(String, i64, i64, i64)> {
    let body = app
        .graphql(
            "query($a: ID) { balanceTransactions(first: 100, account: $a) { nodes { type amount { amount } fee { amount } net { amount } } } }",
            json!({"a": account}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["balanceTransactions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| {
            (
                node["type"].as_str().expect("type").to_owned(),
                node["amount"]["amount"].as_i64().expect("amount"),
                node["fee"]["amount"].as_i64().expect("fee"),
                node["net"]["amount"].as_i64().expect("net"),
            )
        })
        .collect()
}

pub fn txn(kind: &str, amount: i64, fee: i64, net: i64) -> (String, i64, i64, i64) {
    (kind.to_owned(), amount, fee, net)
}
