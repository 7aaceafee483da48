//! The account type and country rules over the API, and bad input: each refusal an
//! INVALID_REQUEST naming its parameter, with nothing written.

use serde_json::{json, Value};

use crate::accounts_support::{
    create_account, new_account, platform_in, profile, submit_details_mutation, us_bank, ADD_BANK,
};
use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app, TestApp};

const CUSTOM_PLATFORM_COUNTRIES: [&str; 22] = [
    "AU", "AT", "BE", "CA", "DK", "FI", "FR", "DE", "HK", "IE", "IT", "JP", "LU", "NL", "NZ", "NO",
    "PT", "ES", "SE", "CH", "GB", "US",
];

async fn create_as(app: &TestApp, key: &str, input: Value) -> Value {
    let query = "mutation($input: CreateAccountInput!) { createAccount(input: $input) { id type country defaultCurrency } }";
    app.graphql_as(key, None, query, json!({ "input": input }))
        .await
}

#[tokio::test]
async fn custom_accounts_only_for_platforms_in_the_published_countries() {
    let app = spawn_app().await;
    for country in CUSTOM_PLATFORM_COUNTRIES {
        let (_, key) = platform_in(&app, country).await;
        let body = create_as(
            &app,
            &key,
            json!({"type": "CUSTOM", "country": country, "businessType": "COMPANY"}),
        )
        .await;
        assert_no_errors(&body);
        assert_eq!(body["data"]["createAccount"]["type"], "CUSTOM", "{country}");
        assert_eq!(body["data"]["createAccount"]["country"], country);
    }
    for country in ["BR", "SG", "MX", "PL", "IN"] {
        let (_, key) = platform_in(&app, country).await;
        let body = create_as(
            &app,
            &key,
            json!({"type": "CUSTOM", "country": "US", "businessType": "COMPANY"}),
        )
        .await;
        assert_eq!(error_code(&body), "INVALID_REQUEST", "{country}: {body}");
        assert_eq!(error_param(&body), Some("input.type"), "{country}");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(
            message.contains("CUSTOM accounts can only be created by platforms located in"),
            "{message}"
        );
        assert!(
            message.ends_with(&format!("this platform is located in {country}")),
            "{message}"
        );
    }
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn express_only_in_the_us_and_standard_anywhere_supported() {
    let app = spawn_app().await;
    let (_, brazil_key) = platform_in(&app, "BR").await;
    // (platform key, type, account country, business type, accepted param or None)
    let cases = [
        (&app.secret_key, "EXPRESS", "US", Some("INDIVIDUAL"), None),
        (&app.secret_key, "EXPRESS", "US", Some("COMPANY"), None),
        (&app.secret_key, "EXPRESS", "US", Some("NON_PROFIT"), None),
        (&brazil_key, "EXPRESS", "US", Some("COMPANY"), None),
        (
            &app.secret_key,
            "EXPRESS",
            "GB",
            Some("INDIVIDUAL"),
            Some("input.country"),
        ),
        (
            &app.secret_key,
            "EXPRESS",
            "CA",
            Some("COMPANY"),
            Some("input.country"),
        ),
        (
            &brazil_key,
            "EXPRESS",
            "BR",
            Some("COMPANY"),
            Some("input.country"),
        ),
        (&app.secret_key, "STANDARD", "US", None, None),
        (&app.secret_key, "STANDARD", "BR", None, None),
        (&app.secret_key, "STANDARD", "JP", Some("COMPANY"), None),
        (&brazil_key, "STANDARD", "SG", None, None),
        (
            &app.secret_key,
            "STANDARD",
            "XX",
            None,
            Some("input.country"),
        ),
        (
            &app.secret_key,
            "STANDARD",
            "RU",
            None,
            Some("input.country"),
        ),
        (
            &app.secret_key,
            "STANDARD",
            "us",
            None,
            Some("input.country"),
        ),
        // The business type may come later, with the details.
        (&app.secret_key, "EXPRESS", "US", None, None),
        (&app.secret_key, "CUSTOM", "US", None, None),
    ];
    for (key, account_type, country, business_type, refused) in cases {
        let input =
            json!({"type": account_type, "country": country, "businessType": business_type});
        let body = create_as(&app, key, input).await;
        match refused {
            None => assert_no_errors(&body),
            Some(param) => {
                assert_eq!(
                    error_code(&body),
                    "INVALID_REQUEST",
                    "{account_type} {country}: {body}"
                );
                assert_eq!(
                    error_param(&body),
                    Some(param),
                    "{account_type} {country}: {body}"
                );
            }
        }
    }
    let body = create_as(
        &app,
        &app.secret_key,
        json!({"type": "EXPRESS", "country": "GB", "businessType": "COMPANY"}),
    )
    .await;
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(
        message.contains("contact the gateway for support outside the U.S."),
        "{message}"
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn default_currency_comes_from_the_country_and_the_type_is_fixed() {
    let app = spawn_app().await;
    for (country, currency) in [
        ("US", "usd"),
        ("JP", "jpy"),
        ("GB", "gbp"),
        ("FR", "eur"),
        ("CH", "chf"),
    ] {
        let body = create_as(
            &app,
            &app.secret_key,
            json!({"type": "STANDARD", "country": country}),
        )
        .await;
        assert_eq!(
            body["data"]["createAccount"]["defaultCurrency"], currency,
            "{country}"
        );
    }
    let body = create_as(&app, &app.secret_key, json!({"type": "CUSTOM", "country": "GB", "businessType": "INDIVIDUAL", "defaultCurrency": "usd"})).await;
    assert_eq!(body["data"]["createAccount"]["defaultCurrency"], "usd");
    // UpdateAccountInput has no type: changing it is not even expressible.
    let id = body["data"]["createAccount"]["id"].as_str().expect("id");
    let body = app
        .graphql(
            "mutation($a: ID!) { updateAccount(input: {account: $a, type: EXPRESS}) { id } }",
            json!({"a": id}),
        )
        .await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn bad_create_input_is_refused_with_its_param_and_nothing_is_written() {
    let app = spawn_app().await;
    let many: serde_json::Map<String, Value> = (0..51)
        .map(|index| (format!("k{index}"), json!("v")))
        .collect();
    let base = || json!({"type": "CUSTOM", "country": "US", "businessType": "INDIVIDUAL"});
    let with = |field: &str, value: Value| {
        let mut input = base();
        input[field] = value;
        input
    };
    let cases = [
        (with("country", json!("XX")), "input.country"),
        (with("country", json!("")), "input.country"),
        (with("country", json!(12)), "input.country"),
        (with("email", json!("not-an-email")), "input.email"),
        (with("email", json!("a b@example.com")), "input.email"),
        (
            with("defaultCurrency", json!("xyz")),
            "input.defaultCurrency",
        ),
        (with("metadata", Value::Object(many)), "input.metadata"),
        (
            with("metadata", json!({ "k".repeat(41): "v" })),
            "input.metadata",
        ),
        (
            with("metadata", json!({"note": "v".repeat(501)})),
            "input.metadata",
        ),
        (with("metadata", json!({"n": 5})), "input.metadata.n"),
        (
            with("idempotencyKey", json!("k".repeat(256))),
            "input.idempotencyKey",
        ),
    ];
    for (input, param) in cases {
        let body = create_account(&app, input.clone()).await;
        assert_eq!(error_code(&body), "INVALID_REQUEST", "{input}: {body}");
        assert_eq!(error_param(&body), Some(param), "{input}: {body}");
    }
    let body = app
        .graphql(
            "{ accounts { nodes { id } } events { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["accounts"]["nodes"], json!([]));
    assert_eq!(body["data"]["events"]["nodes"], json!([]));
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn bad_details_bank_accounts_cards_and_schedules_are_refused_without_change() {
    let app = spawn_app().await;
    let account = new_account(&app, "CUSTOM", "US", Some("INDIVIDUAL")).await;
    let standard = new_account(&app, "STANDARD", "US", None).await;
    let person = |individual: Value| json!({"account": account, "individual": individual});
    let details_cases = [
        (
            person(json!({"dobDay": 31, "dobMonth": 2, "dobYear": 1990})),
            "input.individual.dobDay",
        ),
        (
            person(json!({"dobDay": 1, "dobMonth": 13, "dobYear": 1990})),
            "input.individual.dobMonth",
        ),
        (person(json!({"dobDay": 1})), "input.individual.dobMonth"),
        (
            person(json!({"ssnLast4": "12a4"})),
            "input.individual.ssnLast4",
        ),
        (
            person(json!({"ssnLast4": "12345"})),
            "input.individual.ssnLast4",
        ),
        (
            person(json!({"firstName": " "})),
            "input.individual.firstName",
        ),
        (
            person(json!({"address": {"postalCode": "94_103"}})),
            "input.individual.address.postalCode",
        ),
        (
            json!({"account": account, "businessUrl": "not a url"}),
            "input.businessUrl",
        ),
        (json!({"account": account, "mcc": "57"}), "input.mcc"),
        (
            json!({"account": account, "tosAcceptance": false}),
            "input.tosAcceptance",
        ),
        // Company details and another business type do not fit an INDIVIDUAL account.
        (
            json!({"account": account, "company": {"name": "Acme"}}),
            "input.company",
        ),
        (
            json!({"account": account, "businessType": "COMPANY"}),
            "input.businessType",
        ),
        // A STANDARD account without a business type must say it before giving identity details.
        (
            json!({"account": standard, "individual": {"firstName": "Jo"}}),
            "input.individual",
        ),
        (json!({"account": "acct_123"}), "input.account"),
    ];
    for (input, param) in details_cases {
        let body = app
            .graphql(&submit_details_mutation(), json!({"input": input}))
            .await;
        assert_eq!(error_code(&body), "INVALID_REQUEST", "{input}: {body}");
        assert_eq!(error_param(&body), Some(param), "{input}: {body}");
    }
    let bank = |field: &str, value: &str| {
        let mut input = us_bank(&account);
        input[field] = json!(value);
        input
    };
    for (input, param) in [
        (bank("accountNumber", "12"), "input.accountNumber"),
        (bank("accountNumber", "00012345678x"), "input.accountNumber"),
        (bank("routingNumber", "123456789"), "input.routingNumber"),
        (bank("routingNumber", "1100"), "input.routingNumber"),
        (bank("currency", "USD"), "input.currency"),
        (bank("country", "XX"), "input.country"),
    ] {
        let body = app.graphql(ADD_BANK, json!({"input": input})).await;
        assert_eq!(error_code(&body), "INVALID_REQUEST", "{input}: {body}");
        assert_eq!(error_param(&body), Some(param), "{input}: {body}");
    }
    for token in ["tok_visa", "tok_nope"] {
        let body = app
            .graphql("mutation($a: ID!, $t: String!) { addDebitCard(input: {account: $a, token: $t}) { id } }", json!({"a": account, "t": token}))
            .await;
        assert_eq!(error_param(&body), Some("input.token"), "{token}: {body}");
    }
    let schedule = "mutation($input: UpdatePayoutScheduleInput!) { updatePayoutSchedule(input: $input) { id } }";
    for (input, param) in [
        (
            json!({"account": account, "interval": "WEEKLY"}),
            "input.weeklyAnchor",
        ),
        (
            json!({"account": account, "interval": "MONTHLY"}),
            "input.monthlyAnchor",
        ),
        (
            json!({"account": account, "interval": "MONTHLY", "monthlyAnchor": 32}),
            "input.monthlyAnchor",
        ),
        (
            json!({"account": account, "interval": "DAILY", "weeklyAnchor": "MONDAY"}),
            "input.weeklyAnchor",
        ),
        (
            json!({"account": account, "interval": "DAILY", "delayDays": 1}),
            "input.delayDays",
        ),
    ] {
        let body = app.graphql(schedule, json!({"input": input})).await;
        assert_eq!(error_code(&body), "INVALID_REQUEST", "{input}: {body}");
        assert_eq!(error_param(&body), Some(param), "{input}: {body}");
    }
    let body = app
        .graphql(
            schedule,
            json!({"input": {"account": standard, "interval": "MANUAL"}}),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert_eq!(message, "the payout schedule of a standard account is managed by the account holder, not the platform");

    // Nothing was written: no events, and the account is as created.
    let body = app
        .graphql(
            "query($a: ID!) { events { nodes { type } } account(id: $a) { requirements { currentlyDue } externalAccounts { __typename } payoutSchedule { interval delayDays } } }",
            json!({"a": account}),
        )
        .await;
    assert_eq!(body["data"]["events"]["nodes"], json!([]), "{body}");
    assert_eq!(
        body["data"]["account"]["requirements"]["currentlyDue"]
            .as_array()
            .map(Vec::len),
        Some(13)
    );
    assert_eq!(body["data"]["account"]["externalAccounts"], json!([]));
    assert_eq!(
        body["data"]["account"]["payoutSchedule"],
        json!({"interval": "DAILY", "delayDays": 2})
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn another_platforms_account_is_not_found() {
    let app = spawn_app().await;
    let (_, other_key) = app.second_platform().await;
    let theirs_body = create_as(
        &app,
        &other_key,
        json!({"type": "CUSTOM", "country": "GB", "businessType": "INDIVIDUAL"}),
    )
    .await;
    let theirs = theirs_body["data"]["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let body = app
        .graphql(
            "query($id: ID!) { account(id: $id) { id } }",
            json!({"id": theirs}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    assert_eq!(error_param(&body), Some("id"));
    let body = app
        .graphql(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": theirs}),
        )
        .await;
    assert_eq!(body["data"]["node"], Value::Null, "{body}");
    let body = app
        .graphql(
            &submit_details_mutation(),
            json!({"input": profile(&theirs)}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert_eq!(error_param(&body), Some("input.account"));
    let body = app
        .graphql(ADD_BANK, json!({"input": us_bank(&theirs)}))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app
        .graphql("mutation($a: ID!) { updateAccount(input: {account: $a, email: \"x@example.com\"}) { id } }", json!({"a": theirs}))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app
        .graphql_as(
            &app.secret_key,
            Some(&theirs),
            "{ platform { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert_eq!(error_param(&body), Some("Connect-Account"));
    let body = app
        .graphql(
            "query($a: ID) { balance(account: $a) { available { amount } } }",
            json!({"a": theirs}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    // Their account is untouched and still theirs.
    let body = app
        .graphql_as(
            &other_key,
            None,
            "query($id: ID!) { account(id: $id) { email requirements { currentlyDue } } }",
            json!({"id": theirs}),
        )
        .await;
    assert_eq!(body["data"]["account"]["email"], Value::Null, "{body}");
    app.assert_ledger_balanced().await;
}
