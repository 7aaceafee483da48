//! Shared steps for the account tests: creating accounts, platforms in other countries,
//! onboarding details, and a client that does not follow redirects.

use serde_json::{json, Value};

use crate::helpers::{assert_no_errors, TestApp};
use tollgate::service::platforms::NewPlatform;

pub const ACCOUNT_FIELDS: &str = "id type country email businessType defaultCurrency chargesEnabled payoutsEnabled detailsSubmitted
  capabilities { name requested status }
  requirements { currentlyDue eventuallyDue pastDue pendingVerification currentDeadline disabledReason }
  payoutSchedule { interval delayDays weeklyAnchor monthlyAnchor }
  externalAccounts { __typename ... on BankAccount { id last4 bankName routingNumber currency country status defaultForCurrency }
                     ... on DebitCard { id brand last4 currency instantPayoutEligible defaultForCurrency } }
  metadata created";

pub fn create_account_mutation() -> String {
    format!("mutation($input: CreateAccountInput!) {{ createAccount(input: $input) {{ {ACCOUNT_FIELDS} }} }}")
}

pub fn submit_details_mutation() -> String {
    format!("mutation($input: SubmitAccountDetailsInput!) {{ submitAccountDetails(input: $input) {{ {ACCOUNT_FIELDS} }} }}")
}

pub fn account_query() -> String {
    format!("query($id: ID!) {{ account(id: $id) {{ {ACCOUNT_FIELDS} }} }}")
}

pub const ADD_BANK: &str = "mutation($input: AddBankAccountInput!) {
  addBankAccount(input: $input) { id last4 bankName routingNumber country currency status defaultForCurrency }
}";

pub const CREATE_LINK: &str = "mutation($input: CreateAccountLinkInput!) { createAccountLink(input: $input) { url expiresAt } }";

pub const REFRESH_URL: &str = "https://platform.example/onboarding/refresh";
pub const RETURN_URL: &str = "https://platform.example/onboarding/done";

/// Creates an account as the test platform and returns the response body.
pub async fn create_account(app: &TestApp, input: Value) -> Value {
    app.graphql(&create_account_mutation(), json!({ "input": input }))
        .await
}

/// Creates an account that must succeed, returning its id.
pub async fn new_account(
    app: &TestApp,
    account_type: &str,
    country: &str,
    business_type: Option<&str>,
) -> String {
    let body = create_account(
        app,
        json!({"type": account_type, "country": country, "businessType": business_type}),
    )
    .await;
    assert_no_errors(&body);
    body["data"]["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// A platform located in `country`: `(id, secret key)`.
pub async fn platform_in(app: &TestApp, country: &str) -> (String, String) {
    let created = app
        .services
        .create_platform(NewPlatform {
            name: format!("Platform in {country}"),
            country: country.into(),
            default_currency: None,
            policy: None,
        })
        .await
        .expect("platform");
    (created.id, created.secret_key)
}

/// The business profile and terms acceptance.
pub fn profile(account: &str) -> Value {
    json!({"account": account, "businessUrl": "https://jenny.example", "mcc": "5734", "tosAcceptance": true})
}

/// A US individual's identity.
pub fn us_person(account: &str) -> Value {
    json!({"account": account, "individual": {
        "firstName": "Jenny", "lastName": "Rosen", "dobDay": 1, "dobMonth": 1, "dobYear": 1990, "ssnLast4": "0000",
        "address": {"line1": "510 Townsend St", "city": "San Francisco", "postalCode": "94103"}}})
}

pub fn us_bank(account: &str) -> Value {
    json!({"account": account, "country": "US", "currency": "usd", "routingNumber": "110000000", "accountNumber": "000123456789"})
}

/// Event types, oldest first.
pub async fn event_types(app: &TestApp) -> Vec<String> {
    let body = app
        .graphql("{ events(first: 100) { nodes { type } } }", json!({}))
        .await;
    assert_no_errors(&body);
    let mut types: Vec<String> = body["data"]["events"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| node["type"].as_str().expect("type").to_owned())
        .collect();
    types.reverse();
    types
}

pub fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .expect("list")
        .iter()
        .map(|item| item.as_str().expect("string"))
        .collect()
}

/// A client that shows redirects instead of following them.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A fresh account link's URL.
pub async fn link_for(app: &TestApp, account: &str) -> String {
    let body = app
        .graphql(CREATE_LINK, json!({"input": {"account": account, "refreshUrl": REFRESH_URL, "returnUrl": RETURN_URL}}))
        .await;
    assert_no_errors(&body);
    body["data"]["createAccountLink"]["url"]
        .as_str()
        .expect("url")
        .to_owned()
}

/// Where a response redirects to.
pub fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("location")
        .map(|value| value.to_str().expect("location").to_owned())
}
