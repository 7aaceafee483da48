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
