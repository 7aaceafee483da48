//! Accounts after onboarding: the business type given later, external accounts updated and
//! deleted, and account-update links to the hosted page.

use serde_json::{json, Value};

use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app, TestApp};

const CREATE: &str = "mutation($input: CreateAccountInput!) {
  createAccount(input: $input) { id businessType requirements { currentlyDue } } }";

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|item| item.as_str().expect("string"))
        .collect()
}

async fn create(app: &TestApp, input: Value) -> Value {
    let body = app.graphql(CREATE, json!({ "input": input })).await;
    assert_no_errors(&body);
    body["data"]["createAccount"].clone()
}

#[tokio::test]
async fn the_business_type_may_come_after_creation_as_a_requirement() {
    let app = spawn_app().await;
    for account_type in ["STANDARD", "EXPRESS", "CUSTOM"] {
        let created = create(&app, json!({"type": account_type, "country": "US"})).await;
        assert_eq!(created["businessType"], Value::Null, "{account_type}");
        assert_eq!(
            strings(&created["requirements"]["currentlyDue"]),
            vec![
                "business_profile.mcc",
                "business_profile.url",
                "business_type",
                "external_account",
                "tos_acceptance.date"
            ],
            "{account_type}"
        );
    }
    let custom = create(&app, json!({"type": "CUSTOM", "country": "US"})).await;
    let body = app
        .graphql(
            "mutation($a: ID!) { submitAccountDetails(input: {account: $a, businessType: COMPANY}) {
               businessType requirements { currentlyDue } } }",
            json!({"a": custom["id"]}),
        )
        .await;
    assert_no_errors(&body);
    let account = &body["data"]["submitAccountDetails"];
    assert_eq!(account["businessType"], json!("COMPANY"));
    let due = strings(&account["requirements"]["currentlyDue"]);
    assert!(!due.contains(&"business_type"), "{due:?}");
    assert!(due.contains(&"company.name"), "{due:?}");
    assert!(due.contains(&"company.tax_id"), "{due:?}");
}

const UPDATE_EXTERNAL: &str = "mutation($input: UpdateExternalAccountInput!) {
  updateExternalAccount(input: $input) { ... on BankAccount { id defaultForCurrency accountHolderName } ... on DebitCard { id defaultForCurrency } } }";
const DELETE_EXTERNAL: &str = "mutation($a: ID!, $e: ID!) {
  deleteExternalAccount(input: {account: $a, externalAccount: $e}) { ... on BankAccount { id } ... on DebitCard { id } } }";

async fn external_accounts(app: &TestApp, account: &str) -> Vec<(String, bool)> {
    let body = app
        .graphql(
            "query($a: ID!) { account(id: $a) { externalAccounts {
               ... on BankAccount { id defaultForCurrency } ... on DebitCard { id defaultForCurrency } } } }",
            json!({"a": account}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["account"]["externalAccounts"]
        .as_array()
        .expect("external accounts")
        .iter()
        .map(|external| {
            (
                external["id"].as_str().expect("id").to_owned(),
                external["defaultForCurrency"].as_bool().expect("default"),
            )
        })
        .collect()
}

async fn refused(app: &TestApp, query: &str, variables: Value, code: &str, param: &str) -> String {
    let body = app.graphql(query, variables).await;
    assert_eq!(error_code(&body), code, "{body}");
    assert_eq!(error_param(&body), Some(param), "{body}");
    body["errors"][0]["message"]
        .as_str()
        .expect("message")
        .to_owned()
}

async fn event_count(app: &TestApp, event_type: &str) -> usize {
    let body = app
        .graphql(
            "query($t: String) { events(first: 100, type: $t) { nodes { id } } }",
            json!({"t": event_type}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["events"]["nodes"]
        .as_array()
        .expect("events")
        .len()
}

#[tokio::test]
async fn external_accounts_are_updated_and_deleted_under_the_default_per_currency_rules() {
    let app = spawn_app().await;
    let key = app.secret_key.clone();
    let account =
        crate::payouts_support::custom_account(&app, &key, "US", "usd", "000123456789").await;
    let first = external_accounts(&app, &account).await[0].0.clone();
    let body = app
        .graphql(
            "mutation($a: ID!) {
               bank: addBankAccount(input: {account: $a, country: \"US\", currency: \"usd\", routingNumber: \"110000000\", accountNumber: \"000111111116\"}) { id }
               card: addDebitCard(input: {account: $a, token: \"tok_visa_debit\"}) { id } }",
            json!({"a": account}),
        )
        .await;
    assert_no_errors(&body);
    let second = body["data"]["bank"]["id"]
        .as_str()
        .expect("bank")
        .to_owned();
    let card = body["data"]["card"]["id"]
        .as_str()
        .expect("card")
        .to_owned();
    assert_eq!(
        external_accounts(&app, &account).await,
        vec![
            (first.clone(), true),
            (second.clone(), false),
            (card.clone(), false)
        ]
    );

    // The default of a currency with others: make another the default first.
    let message = refused(
        &app,
        DELETE_EXTERNAL,
        json!({"a": account, "e": first}),
        "INVALID_REQUEST",
        "input.externalAccount",
    )
    .await;
    assert!(
        message.contains("set another usd external account as the default first"),
        "{message}"
    );

    let body = app
        .graphql(
            UPDATE_EXTERNAL,
            json!({"input": {"account": account, "externalAccount": second, "defaultForCurrency": true, "accountHolderName": " Jenny Rosen "}}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["updateExternalAccount"],
        json!({"id": second, "defaultForCurrency": true, "accountHolderName": "Jenny Rosen"})
    );
    assert_eq!(
        external_accounts(&app, &account).await,
        vec![
            (first.clone(), false),
            (second.clone(), true),
            (card.clone(), false)
        ]
    );
    assert_eq!(
        event_count(&app, "account.external_account.updated").await,
        1
    );

    // A default is replaced, never unset; a card has no holder name; ids are checked.
    for (input, code, param) in [
        (
            json!({"account": account, "externalAccount": second, "defaultForCurrency": false}),
            "INVALID_REQUEST",
            "input.defaultForCurrency",
        ),
        (
            json!({"account": account, "externalAccount": card, "accountHolderName": "Jenny"}),
            "INVALID_REQUEST",
            "input.accountHolderName",
        ),
        (
            json!({"account": account, "externalAccount": second, "accountHolderName": " "}),
            "INVALID_REQUEST",
            "input.accountHolderName",
        ),
        (
            json!({"account": account, "externalAccount": "ba_001k1nph2ckt53sgb3ez8agvmd"}),
            "NOT_FOUND",
            "input.externalAccount",
        ),
        (
            json!({"account": account, "externalAccount": "acct_001k1nph2ckt53sgb3ez8agvmd"}),
            "INVALID_REQUEST",
            "input.externalAccount",
        ),
    ] {
        refused(&app, UPDATE_EXTERNAL, json!({"input": input}), code, param).await;
    }
    assert_eq!(
        event_count(&app, "account.external_account.updated").await,
        1
    );

    // Non-defaults go; the deleted one is gone from every lookup.
    for deleted in [&first, &card] {
        let body = app
            .graphql(DELETE_EXTERNAL, json!({"a": account, "e": deleted}))
            .await;
        assert_no_errors(&body);
        assert_eq!(body["data"]["deleteExternalAccount"]["id"], json!(deleted));
    }
    let body = app
        .graphql(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": first}),
        )
        .await;
    assert_eq!(body["data"]["node"], Value::Null, "{body}");
    assert_eq!(
        external_accounts(&app, &account).await,
        vec![(second.clone(), true)]
    );

    // The last one in its currency stays while payouts are automatic.
    let message = refused(
        &app,
        DELETE_EXTERNAL,
        json!({"a": account, "e": second}),
        "INVALID_REQUEST",
        "input.externalAccount",
    )
    .await;
    assert!(message.contains("payouts are automatic"), "{message}");
    let body = app
        .graphql(
            "mutation($a: ID!) { updatePayoutSchedule(input: {account: $a, interval: MANUAL}) { id } }",
            json!({"a": account}),
        )
        .await;
    assert_no_errors(&body);
    let body = app
        .graphql(DELETE_EXTERNAL, json!({"a": account, "e": second}))
        .await;
    assert_no_errors(&body);
    assert_eq!(external_accounts(&app, &account).await, vec![]);
    assert_eq!(
        event_count(&app, "account.external_account.deleted").await,
        3
    );

    // Only the platform of a CUSTOM account manages them through the API.
    let express = create(&app, json!({"type": "EXPRESS", "country": "US"})).await;
    refused(
        &app,
        DELETE_EXTERNAL,
        json!({"a": express["id"], "e": second}),
        "FORBIDDEN",
        "input.account",
    )
    .await;
    app.assert_ledger_balanced().await;
}

const LINK: &str = "mutation($a: ID!, $t: AccountLinkType) {
  createAccountLink(input: {account: $a, refreshUrl: \"https://example.com/r\", returnUrl: \"https://example.com/d\", type: $t}) { url } }";

#[tokio::test]
async fn an_update_link_opens_the_current_details_for_express_and_custom_accounts() {
    let app = spawn_app().await;
    let key = app.secret_key.clone();
    let custom =
        crate::payouts_support::custom_account(&app, &key, "US", "usd", "000123456789").await;
    let body = app
        .graphql(LINK, json!({"a": custom, "t": "ACCOUNT_UPDATE"}))
        .await;
    assert_no_errors(&body);
    let url = body["data"]["createAccountLink"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let html = client
        .get(&url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    assert!(html.contains("<h1>Update your account</h1>"), "{html}");
    // Prefilled with what the platform submitted, never a secret; no bank fields for CUSTOM.
    for (name, value) in [
        ("individual.firstName", "Ada"),
        ("individual.lastName", "Lovelace"),
        ("individual.dobYear", "1985"),
        ("individual.address.city", "Springfield"),
        ("businessUrl", "https://seller.example.com"),
        ("mcc", "5734"),
    ] {
        assert!(
            html.contains(&format!("name=\"{name}\" value=\"{value}\"")),
            "{name}: {html}"
        );
    }
    assert!(
        html.contains("name=\"individual.ssnLast4\" value=\"\""),
        "{html}"
    );
    assert!(!html.contains("accountNumber"), "{html}");

    // The holder changes a detail; the account takes it and stays enabled.
    let response = crate::helpers::post_onboarding_form(
        &client,
        &url,
        &[
            ("individual.lastName", "Byron"),
            ("businessUrl", "https://ada.example.com"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    assert_eq!(
        response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok()),
        Some("https://example.com/d")
    );
    let body = app
        .graphql(
            "query($a: ID!) { account(id: $a) { chargesEnabled payoutsEnabled requirements { currentlyDue } } }",
            json!({"a": custom}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["account"],
        json!({"chargesEnabled": true, "payoutsEnabled": true, "requirements": {"currentlyDue": []}})
    );
    // The link is spent; a new one shows the new values.
    let body = app
        .graphql(LINK, json!({"a": custom, "t": "ACCOUNT_UPDATE"}))
        .await;
    let url = body["data"]["createAccountLink"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let html = client
        .get(&url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("name=\"individual.lastName\" value=\"Byron\""),
        "{html}"
    );
    assert!(
        html.contains("name=\"businessUrl\" value=\"https://ada.example.com\""),
        "{html}"
    );

    // EXPRESS may be updated too (and its holder may add a bank account); STANDARD may not;
    // onboarding links stay for STANDARD and EXPRESS only.
    let express = create(
        &app,
        json!({"type": "EXPRESS", "country": "US", "businessType": "INDIVIDUAL"}),
    )
    .await;
    let body = app
        .graphql(LINK, json!({"a": express["id"], "t": "ACCOUNT_UPDATE"}))
        .await;
    assert_no_errors(&body);
    let url = body["data"]["createAccountLink"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let html = client
        .get(&url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("Update your account") && html.contains("accountNumber"),
        "{html}"
    );
    let standard = create(&app, json!({"type": "STANDARD", "country": "US"})).await;
    let message = refused(
        &app,
        LINK,
        json!({"a": standard["id"], "t": "ACCOUNT_UPDATE"}),
        "INVALID_REQUEST",
        "input.type",
    )
    .await;
    assert!(
        message.contains("ACCOUNT_UPDATE links are for EXPRESS and CUSTOM accounts"),
        "{message}"
    );
    refused(
        &app,
        LINK,
        json!({"a": custom, "t": "ACCOUNT_ONBOARDING"}),
        "INVALID_REQUEST",
        "input.account",
    )
    .await;
    refused(
        &app,
        LINK,
        json!({"a": custom}),
        "INVALID_REQUEST",
        "input.account",
    )
    .await;
    let body = app.graphql(LINK, json!({"a": standard["id"]})).await;
    assert_no_errors(&body);
}
