//! The onboarding state machine over the API: from creation to fully enabled with the exact
//! events, the past-due path through advanceClock, external accounts, payout schedules and
//! updates.

use serde_json::{json, Value};

use crate::accounts_support::{
    account_query, event_types, new_account, profile, strings, submit_details_mutation, us_bank,
    us_person, ADD_BANK,
};
use crate::helpers::{assert_no_errors, error_code, spawn_app, TestApp};

const US_INDIVIDUAL_DUE: [&str; 13] = [
    "business_profile.mcc",
    "business_profile.url",
    "external_account",
    "individual.address.city",
    "individual.address.line1",
    "individual.address.postal_code",
    "individual.dob.day",
    "individual.dob.month",
    "individual.dob.year",
    "individual.first_name",
    "individual.last_name",
    "individual.ssn_last_4",
    "tos_acceptance.date",
];

async fn account(app: &TestApp, id: &str) -> Value {
    let body = app.graphql(&account_query(), json!({"id": id})).await;
    assert_no_errors(&body);
    body["data"]["account"].clone()
}

async fn submit(app: &TestApp, input: Value) -> Value {
    let body = app
        .graphql(&submit_details_mutation(), json!({"input": input}))
        .await;
    assert_no_errors(&body);
    body["data"]["submitAccountDetails"].clone()
}

fn statuses(account: &Value) -> Vec<(&str, &str)> {
    account["capabilities"]
        .as_array()
        .expect("capabilities")
        .iter()
        .map(|capability| {
            (
                capability["name"].as_str().expect("name"),
                capability["status"].as_str().expect("status"),
            )
        })
        .collect()
}

fn flags(account: &Value) -> [bool; 3] {
    ["chargesEnabled", "payoutsEnabled", "detailsSubmitted"]
        .map(|flag| account[flag].as_bool().expect(flag))
}

async fn now(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
    app.now()
}

#[tokio::test]
async fn a_custom_account_goes_from_creation_to_fully_enabled() {
    let app = spawn_app().await;
    let created_at = now(&app).await;
    let id = new_account(&app, "CUSTOM", "US", Some("INDIVIDUAL")).await;
    let created = account(&app, &id).await;
    assert_eq!(
        statuses(&created),
        [("CARD_PAYMENTS", "INACTIVE"), ("TRANSFERS", "INACTIVE")]
    );
    assert_eq!(flags(&created), [false, false, false]);
    assert_eq!(
        strings(&created["requirements"]["currentlyDue"]),
        US_INDIVIDUAL_DUE
    );
    assert!(strings(&created["requirements"]["eventuallyDue"]).contains(&"individual.id_number"));
    let deadline: chrono::DateTime<chrono::Utc> = created["requirements"]["currentDeadline"]
        .as_str()
        .expect("deadline")
        .parse()
        .expect("time");
    // Times are shown to the second, so the deadline may read a fraction early.
    assert!(
        ((deadline - created_at).num_seconds() - 14 * 86_400).abs() <= 1,
        "{deadline}"
    );
    assert_eq!(
        created["payoutSchedule"],
        json!({"interval": "DAILY", "delayDays": 2, "weeklyAnchor": null, "monthlyAnchor": null})
    );
    assert_eq!(event_types(&app).await, Vec::<String>::new());

    let after_profile = submit(&app, profile(&id)).await;
    assert_eq!(
        statuses(&after_profile),
        [("CARD_PAYMENTS", "PENDING"), ("TRANSFERS", "PENDING")]
    );
    assert_eq!(
        event_types(&app).await,
        [
            "account.updated",
            "capability.updated",
            "capability.updated"
        ]
    );

    let after_person = submit(&app, us_person(&id)).await;
    assert_eq!(
        statuses(&after_person),
        [("CARD_PAYMENTS", "ACTIVE"), ("TRANSFERS", "PENDING")]
    );
    assert_eq!(flags(&after_person), [true, false, false]);
    assert_eq!(
        strings(&after_person["requirements"]["currentlyDue"]),
        ["external_account"]
    );

    let body = app.graphql(ADD_BANK, json!({"input": us_bank(&id)})).await;
    assert_no_errors(&body);
    let bank = &body["data"]["addBankAccount"];
    assert_eq!(bank["last4"], "6789");
    assert_eq!(bank["bankName"], "TOLLGATE TEST BANK");
    assert_eq!(
        (&bank["status"], &bank["defaultForCurrency"]),
        (&json!("NEW"), &json!(true))
    );

    let enabled = account(&app, &id).await;
    assert_eq!(
        statuses(&enabled),
        [("CARD_PAYMENTS", "ACTIVE"), ("TRANSFERS", "ACTIVE")]
    );
    assert_eq!(flags(&enabled), [true, true, true]);
    assert_eq!(enabled["requirements"]["currentlyDue"], json!([]));
    assert_eq!(enabled["requirements"]["currentDeadline"], Value::Null);
    assert_eq!(
        enabled["requirements"]["eventuallyDue"],
        json!(["individual.id_number"])
    );
    assert_eq!(enabled["externalAccounts"][0]["id"], bank["id"]);
    let types = event_types(&app).await;
    assert_eq!(
        types[3..],
        [
            "account.updated",
            "capability.updated",
            "account.external_account.created",
            "account.updated",
            "capability.updated",
        ]
    );

    // Each event names the account; capability events say what changed.
    let body = app
        .graphql(
            "{ events(first: 1, type: \"capability.updated\") { nodes { account { id } data { object previousAttributes } } } }",
            json!({}),
        )
        .await;
    let event = &body["data"]["events"]["nodes"][0];
    assert_eq!(event["account"]["id"], id.as_str());
    assert_eq!(event["data"]["object"]["name"], "TRANSFERS");
    assert_eq!(event["data"]["object"]["status"], "ACTIVE");
    assert_eq!(
        event["data"]["previousAttributes"],
        json!({"status": "PENDING"})
    );

    // The deadline is gone, so time passing changes nothing.
    app.advance_days(30).await;
    assert_eq!(account(&app, &id).await, enabled);
    assert_eq!(event_types(&app).await, types);
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn missing_the_deadline_disables_the_account_until_the_fields_arrive() {
    let app = spawn_app().await;
    let id = new_account(&app, "CUSTOM", "US", Some("INDIVIDUAL")).await;
    let untouched = new_account(&app, "CUSTOM", "US", Some("COMPANY")).await;
    submit(&app, profile(&id)).await;
    let before = event_types(&app).await;

    app.advance_days(13).await;
    assert_eq!(
        account(&app, &id).await["requirements"]["pastDue"],
        json!([])
    );
    app.advance_days(2).await;

    let late = account(&app, &id).await;
    let requirements = &late["requirements"];
    assert_eq!(requirements["disabledReason"], "requirements.past_due");
    assert_eq!(requirements["pastDue"], requirements["currentlyDue"]);
    assert_eq!(strings(&requirements["pastDue"]).len(), 10);
    assert_eq!(requirements["currentDeadline"], Value::Null);
    assert_eq!(
        statuses(&late),
        [("CARD_PAYMENTS", "INACTIVE"), ("TRANSFERS", "INACTIVE")]
    );
    assert_eq!(flags(&late), [false, false, false]);
    let untouched_now = account(&app, &untouched).await;
    assert_eq!(
        untouched_now["requirements"]["disabledReason"],
        "requirements.past_due"
    );
    let types = event_types(&app).await;
    // The first account: an update and two capability changes; the untouched one had no
    // capability to lose, so only its update.
    let mut new_types = types[before.len()..].to_vec();
    new_types.sort();
    assert_eq!(
        new_types,
        [
            "account.updated",
            "account.updated",
            "capability.updated",
            "capability.updated"
        ]
    );

    // Supplying what is missing re-enables it.
    let still = submit(&app, us_person(&id)).await;
    assert_eq!(
        strings(&still["requirements"]["pastDue"]),
        ["external_account"]
    );
    assert!(!still["chargesEnabled"].as_bool().expect("flag"));
    let body = app.graphql(ADD_BANK, json!({"input": us_bank(&id)})).await;
    assert_no_errors(&body);
    let back = account(&app, &id).await;
    assert_eq!(back["requirements"]["disabledReason"], Value::Null);
    assert_eq!(flags(&back), [true, true, true]);
    assert_eq!(
        statuses(&back),
        [("CARD_PAYMENTS", "ACTIVE"), ("TRANSFERS", "ACTIVE")]
    );
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn external_accounts_defaults_per_currency_and_who_may_add_them() {
    let app = spawn_app().await;
    let custom = new_account(&app, "CUSTOM", "US", Some("COMPANY")).await;
    let first = app
        .graphql(ADD_BANK, json!({"input": us_bank(&custom)}))
        .await;
    assert_no_errors(&first);
    let mut second_input = us_bank(&custom);
    second_input["accountNumber"] = json!("000111111116");
    second_input["defaultForCurrency"] = json!(true);
    let second = app.graphql(ADD_BANK, json!({"input": second_input})).await;
    assert_eq!(second["data"]["addBankAccount"]["defaultForCurrency"], true);
    let card = app
        .graphql(
            "mutation($a: ID!) { addDebitCard(input: {account: $a, token: \"tok_visa_debit\"}) { id brand last4 currency instantPayoutEligible defaultForCurrency expMonth } }",
            json!({"a": custom}),
        )
        .await;
    assert_no_errors(&card);
    let card = &card["data"]["addDebitCard"];
    assert_eq!(
        (
            &card["brand"],
            &card["last4"],
            &card["instantPayoutEligible"]
        ),
        (&json!("visa"), &json!("5556"), &json!(true))
    );
    assert_eq!(card["defaultForCurrency"], false);

    let stored = account(&app, &custom).await;
    let defaults: Vec<bool> = stored["externalAccounts"]
        .as_array()
        .expect("list")
        .iter()
        .map(|item| item["defaultForCurrency"].as_bool().expect("flag"))
        .collect();
    assert_eq!(defaults, [false, true, false]);
    for node in [&first["data"]["addBankAccount"]["id"], &card["id"]] {
        let body = app
            .graphql(
                "query($id: ID!) { node(id: $id) { __typename id } }",
                json!({"id": node}),
            )
            .await;
        assert_eq!(body["data"]["node"]["id"], *node, "{body}");
    }

    for account_type in ["STANDARD", "EXPRESS"] {
        let id = new_account(&app, account_type, "US", Some("INDIVIDUAL")).await;
        let body = app.graphql(ADD_BANK, json!({"input": us_bank(&id)})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{account_type}: {body}");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(
            message.contains("managed by the account holder through the hosted page"),
            "{message}"
        );
        let body = app
            .graphql("mutation($a: ID!) { addDebitCard(input: {account: $a, token: \"tok_visa_debit\"}) { id } }", json!({"a": id}))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN");
        // The holder adds it on the hosted page instead.
        app.add_bank_account_as_holder(&id).await;
        let stored = account(&app, &id).await;
        assert_eq!(
            stored["externalAccounts"][0]["last4"], "6789",
            "{account_type}"
        );
    }
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn payout_schedules_and_updates() {
    let app = spawn_app().await;
    let express = new_account(&app, "EXPRESS", "US", Some("INDIVIDUAL")).await;
    let japan = new_account(&app, "CUSTOM", "JP", Some("COMPANY")).await;
    assert_eq!(
        account(&app, &japan).await["payoutSchedule"]["delayDays"],
        4
    );
    let schedule = "mutation($input: UpdatePayoutScheduleInput!) { updatePayoutSchedule(input: $input) { payoutSchedule { interval delayDays weeklyAnchor monthlyAnchor } } }";
    let cases = [
        (
            json!({"interval": "WEEKLY", "weeklyAnchor": "FRIDAY"}),
            json!({"interval": "WEEKLY", "delayDays": 2, "weeklyAnchor": "FRIDAY", "monthlyAnchor": null}),
        ),
        (
            json!({"interval": "MONTHLY", "monthlyAnchor": 31, "delayDays": 7}),
            json!({"interval": "MONTHLY", "delayDays": 7, "weeklyAnchor": null, "monthlyAnchor": 31}),
        ),
        (
            json!({"interval": "MANUAL"}),
            json!({"interval": "MANUAL", "delayDays": 7, "weeklyAnchor": null, "monthlyAnchor": null}),
        ),
    ];
    for (given, expected) in cases {
        let mut input = given.clone();
        input["account"] = json!(express);
        let body = app.graphql(schedule, json!({"input": input})).await;
        assert_no_errors(&body);
        assert_eq!(
            body["data"]["updatePayoutSchedule"]["payoutSchedule"], expected,
            "{given}"
        );
    }
    let body = app
        .graphql(
            schedule,
            json!({"input": {"account": japan, "interval": "DAILY", "delayDays": 3}}),
        )
        .await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");

    let update =
        "mutation($input: UpdateAccountInput!) { updateAccount(input: $input) { email metadata } }";
    let body = app
        .graphql(update, json!({"input": {"account": express, "email": "jo@example.com", "metadata": {"order": "42", "keep": "yes"}}}))
        .await;
    assert_eq!(
        body["data"]["updateAccount"],
        json!({"email": "jo@example.com", "metadata": {"keep": "yes", "order": "42"}})
    );
    let body = app
        .graphql(
            update,
            json!({"input": {"account": express, "metadata": {"order": ""}}}),
        )
        .await;
    assert_eq!(
        body["data"]["updateAccount"]["metadata"],
        json!({"keep": "yes"})
    );
    let types = event_types(&app).await;
    assert_eq!(types, vec!["account.updated"; 5]);
    app.assert_ledger_balanced().await;
}
