//! Webhooks: a registered endpoint receives the platform's events of the types it asked
//! for, signed on wall time, retried on the business clock until a 2xx and never after;
//! endpoints are listed, changed, rolled and deleted; events are resent; every event type
//! is in the catalogue.

use serde_json::{json, Value};

use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app, TOPUP};
use crate::webhooks_support::{
    advance_seconds, create_endpoint, deliveries, receiver, signed_by, wait_for_attempts,
    wait_for_deliveries, CREATE_ENDPOINT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_is_retried_until_acknowledged_and_then_never_again() {
    let app = spawn_app().await;
    // Business time far from wall time: signatures must still carry wall time.
    app.advance_days(10).await;
    let hooks = receiver(&[500, 500, 500], 200).await;
    let (endpoint, secret) = create_endpoint(&app, &hooks.url, &["topup.created"]).await;
    assert!(secret.starts_with("whsec_"));
    // The secret is shown once; reading the endpoint again does not show it.
    let body = app
        .graphql(
            "query($id: ID!) { webhookEndpoint(id: $id) { url secret disabled } }",
            json!({"id": endpoint}),
        )
        .await;
    assert_eq!(
        body["data"]["webhookEndpoint"],
        json!({"url": hooks.url, "secret": null, "disabled": false})
    );

    let topup = app
        .graphql(TOPUP, json!({"amount": 4321, "currency": "usd"}))
        .await;
    assert_no_errors(&topup);
    let topup_id = topup["data"]["createTopup"]["id"].clone();

    let first = wait_for_attempts(&app, &endpoint, 1).await;
    assert_eq!(first["status"], "PENDING");
    assert_eq!(first["responseCode"], 500);
    assert_eq!(first["error"], "the endpoint answered 500");
    let last = chrono::DateTime::parse_from_rfc3339(first["lastAttemptAt"].as_str().expect("at"))
        .expect("time");
    let next = chrono::DateTime::parse_from_rfc3339(first["nextRetryAt"].as_str().expect("next"))
        .expect("time");
    assert_eq!((next - last).num_seconds(), 30);

    // Each retry waits twice as long as the one before, on the business clock.
    advance_seconds(&app, 30).await;
    wait_for_attempts(&app, &endpoint, 2).await;
    advance_seconds(&app, 60).await;
    wait_for_attempts(&app, &endpoint, 3).await;
    advance_seconds(&app, 120).await;
    let done = wait_for_attempts(&app, &endpoint, 4).await;
    assert_eq!(done["status"], "SUCCEEDED");
    assert_eq!(done["responseCode"], 200);
    assert_eq!(done["error"], Value::Null);
    assert_eq!(done["nextRetryAt"], Value::Null);
    assert_eq!(hooks.count(), 4);

    // Acknowledged: days later it has not been sent again, and nothing is pending.
    app.advance_days(4).await;
    let found = deliveries(&app, &endpoint).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["attempts"], 4);
    assert_eq!(hooks.count(), 4);

    for hit in hooks.hits() {
        assert!(
            signed_by(&secret, &hit.signature, &hit.body),
            "{}",
            hit.signature
        );
        assert!(!signed_by("whsec_wrong", &hit.signature, &hit.body));
        let event = hit.json();
        assert_eq!(event["type"], "topup.created");
        assert_eq!(event["object"], "event");
        assert_eq!(event["data"]["object"]["id"], topup_id);
        assert_eq!(event["data"]["object"]["amount"]["amount"], 4321);
        assert_eq!(event["pendingWebhooks"], 1);
    }
    let event_id = hooks.hits()[0].json()["id"].clone();
    let body = app
        .graphql(
            "query($id: ID!) { node(id: $id) { ... on Event { type pendingWebhooks data { object previousAttributes } } } }",
            json!({"id": event_id}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["node"]["pendingWebhooks"], 0);
    assert_eq!(
        body["data"]["node"]["data"]["previousAttributes"],
        Value::Null
    );
    assert_eq!(body["data"]["node"]["data"]["object"]["id"], topup_id);
}

const UPDATE: &str = "mutation($input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(input: $input) { id url enabledEvents disabled secret } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_listed_changed_rolled_and_deleted() {
    let app = spawn_app().await;
    let hooks = receiver(&[], 200).await;
    let (first, _) =
        create_endpoint(&app, "https://hooks.example/one", &["charge.succeeded"]).await;
    let (second, secret) = create_endpoint(&app, &hooks.url, &["*"]).await;

    let body = app
        .graphql(
            "{ webhookEndpoints(first: 10) { nodes { id url secret disabled } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["webhookEndpoints"]["nodes"],
        json!([
            {"id": second, "url": hooks.url, "secret": null, "disabled": false},
            {"id": first, "url": "https://hooks.example/one", "secret": null, "disabled": false},
        ])
    );

    // A misspelled type is refused, and nothing changes.
    let body = app
        .graphql(
            UPDATE,
            json!({"input": {"id": first, "enabledEvents": ["charge.succeded"]}}),
        )
        .await;
    assert_eq!(error_code(&body), "INVALID_REQUEST");
    assert_eq!(error_param(&body), Some("input.enabledEvents"));
    let body = app
        .graphql(
            UPDATE,
            json!({"input": {"id": first, "url": "https://hooks.example/two", "enabledEvents": ["payout.paid", "charge.failed"], "disabled": true}}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["updateWebhookEndpoint"],
        json!({"id": first, "url": "https://hooks.example/two", "enabledEvents": ["charge.failed", "payout.paid"], "disabled": true, "secret": null})
    );
    let body = app
        .graphql(
            "{ events(first: 1, type: \"webhook_endpoint.updated\") { nodes { data { object previousAttributes } } } }",
            json!({}),
        )
        .await;
    let data = &body["data"]["events"]["nodes"][0]["data"];
    assert_eq!(data["object"]["url"], "https://hooks.example/two");
    assert_eq!(data["object"]["disabled"], true);
    assert!(data["object"].get("secret").is_none(), "{data}");
    assert_eq!(
        data["previousAttributes"],
        json!({"url": "https://hooks.example/one", "enabledEvents": ["charge.succeeded"], "disabled": false})
    );

    // Rolling: the new secret is shown once; both sign for a day, then only the new one.
    let body = app
        .graphql(
            "mutation($id: ID!) { rollWebhookEndpointSecret(input: {id: $id}) { secret } }",
            json!({"id": second}),
        )
        .await;
    assert_no_errors(&body);
    let rolled = body["data"]["rollWebhookEndpointSecret"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert!(rolled.starts_with("whsec_") && rolled != secret);
    assert_no_errors(
        &app.graphql(TOPUP, json!({"amount": 100, "currency": "usd"}))
            .await,
    );
    let hit = hooks
        .wait_for_hit(|event| event["type"] == "topup.created")
        .await;
    assert_eq!(hit.signature.matches("v1=").count(), 2, "{}", hit.signature);
    assert!(signed_by(&secret, &hit.signature, &hit.body));
    assert!(signed_by(&rolled, &hit.signature, &hit.body));
    advance_seconds(&app, 25 * 3600).await;
    assert_no_errors(
        &app.graphql(TOPUP, json!({"amount": 200, "currency": "usd"}))
            .await,
    );
    let last = hooks
        .wait_for_hit(|event| {
            event["type"] == "topup.created" && event["data"]["object"]["amount"]["amount"] == 200
        })
        .await;
    assert_eq!(last.signature.matches("v1=").count(), 1);
    assert!(signed_by(&rolled, &last.signature, &last.body));
    assert!(!signed_by(&secret, &last.signature, &last.body));

    // Deleting returns the endpoint; afterwards it is gone.
    let body = app
        .graphql(
            "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { id url } }",
            json!({"id": first}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["deleteWebhookEndpoint"]["url"],
        "https://hooks.example/two"
    );
    let body = app
        .graphql(
            "query($id: ID!) { webhookEndpoint(id: $id) { id } }",
            json!({"id": first}),
        )
        .await;
    assert_eq!(body["data"]["webhookEndpoint"], Value::Null);
    let body = app
        .graphql(
            "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { id } }",
            json!({"id": first}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app
        .graphql("{ webhookEndpoints { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["webhookEndpoints"]["nodes"],
        json!([{"id": second}])
    );
    let body = app
        .graphql("{ events(first: 100) { nodes { type } } }", json!({}))
        .await;
    let types: Vec<&str> = body["data"]["events"]["nodes"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| event["type"].as_str())
        .filter(|kind| kind.starts_with("webhook_endpoint."))
        .collect();
    assert_eq!(
        types,
        vec![
            "webhook_endpoint.deleted",
            "webhook_endpoint.updated",
            "webhook_endpoint.updated",
            "webhook_endpoint.created",
            "webhook_endpoint.created"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_event_queues_one_more_delivery() {
    let app = spawn_app().await;
    let hooks = receiver(&[], 200).await;
    let (endpoint, _) = create_endpoint(&app, &hooks.url, &["topup.created"]).await;
    assert_no_errors(
        &app.graphql(TOPUP, json!({"amount": 700, "currency": "usd"}))
            .await,
    );
    hooks.wait_for(1).await;
    let event = hooks.hits()[0].json()["id"].clone();
    let body = app
        .graphql(
            "mutation($e: ID!, $w: ID!) { resendEvent(input: {event: $e, endpoint: $w}) { id status attempts event { id type } } }",
            json!({"e": event, "w": endpoint}),
        )
        .await;
    assert_no_errors(&body);
    let resent = &body["data"]["resendEvent"];
    assert_eq!(resent["status"], "PENDING");
    assert_eq!(resent["attempts"], 0);
    assert_eq!(
        resent["event"],
        json!({"id": event, "type": "topup.created"})
    );
    hooks.wait_for(2).await;
    assert_eq!(hooks.hits()[1].json()["id"], event);
    let found = wait_for_deliveries(&app, &endpoint, "both succeeded", |found| {
        found.len() == 2
            && found
                .iter()
                .all(|delivery| delivery["status"] == "SUCCEEDED")
    })
    .await;
    assert_eq!(found[0]["id"], resent["id"]);
    let body = app
        .graphql(
            "query($id: ID!) { webhookEndpoint(id: $id) { deliveries(status: PENDING) { nodes { id } } } }",
            json!({"id": endpoint}),
        )
        .await;
    assert_eq!(
        body["data"]["webhookEndpoint"]["deliveries"]["nodes"],
        json!([])
    );

    for (variables, code) in [
        (
            json!({"e": "evt_missing", "w": endpoint}),
            "INVALID_REQUEST",
        ),
        (
            json!({"e": "evt_00000000000000000000000000", "w": endpoint}),
            "NOT_FOUND",
        ),
        (
            json!({"e": event, "w": "we_00000000000000000000000000"}),
            "NOT_FOUND",
        ),
    ] {
        let body = app
            .graphql(
                "mutation($e: ID!, $w: ID!) { resendEvent(input: {event: $e, endpoint: $w}) { id } }",
                variables,
            )
            .await;
        assert_eq!(error_code(&body), code, "{body}");
    }
    assert_eq!(hooks.count(), 2);
}

#[tokio::test]
async fn bad_endpoints_are_refused_with_their_param() {
    let app = spawn_app().await;
    for (url, events, param) in [
        (json!("ftp://hooks.example"), json!(["*"]), "input.url"),
        (
            json!("https://user:pass@hooks.example"),
            json!(["*"]),
            "input.url",
        ),
        (
            json!("https://hooks.example"),
            json!([]),
            "input.enabledEvents",
        ),
        (
            json!("https://hooks.example"),
            json!(["Charge Succeeded"]),
            "input.enabledEvents",
        ),
        (
            json!("https://hooks.example"),
            json!(["charge.succeded"]),
            "input.enabledEvents",
        ),
    ] {
        let body = app
            .graphql(CREATE_ENDPOINT, json!({"url": url, "events": events}))
            .await;
        assert_eq!(error_code(&body), "INVALID_REQUEST", "{body}");
        assert_eq!(error_param(&body), Some(param));
    }
    let body = app
        .graphql("{ webhookEndpoints { nodes { id } } }", json!({}))
        .await;
    assert_eq!(body["data"]["webhookEndpoints"]["nodes"], json!([]));
}

/// Event types as they appear in the source: literals passed to `.event(` and
/// `.event_update(`, and any literal of an event family (`charge.…`, `payout.…`).
fn event_types_in_source() -> Vec<(String, String)> {
    let families: std::collections::BTreeSet<&str> = tollgate::domain::events::EVENT_CATALOGUE
        .iter()
        .filter_map(|entry| entry.name.split('.').next())
        .collect();
    let mut found = Vec::new();
    let mut folders = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read file");
            // Unit tests name misspelled types on purpose.
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            for literal in text.split('"').skip(1).step_by(2) {
                let looks_like_type = literal.contains('.')
                    && literal
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
                    && literal
                        .split('.')
                        .next()
                        .is_some_and(|family| families.contains(family))
                    && !literal.ends_with(".rs")
                    && !literal.ends_with(".rhai");
                if looks_like_type {
                    found.push((path.display().to_string(), literal.to_owned()));
                }
            }
            for call in [".event(", ".event_update("] {
                for (index, _) in text.match_indices(call) {
                    let after = &text[index + call.len()..];
                    let Some((_, rest)) = after.split_once(',') else {
                        continue;
                    };
                    if let Some(literal) = rest.trim_start().strip_prefix('"') {
                        let literal = literal.split('"').next().unwrap_or_default();
                        found.push((path.display().to_string(), literal.to_owned()));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_event_type_written_is_in_the_catalogue_and_the_readme() {
    let found = event_types_in_source();
    assert!(found.len() >= 25, "too few event types found: {found:?}");
    for (file, name) in &found {
        assert!(
            tollgate::domain::events::is_cataloged(name),
            "{file} writes {name}, which is missing from the event catalogue (domain/events.rs)"
        );
    }
    let readme_path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README");
    let table = tollgate::domain::events::catalogue_markdown();
    const START: &str = "<!-- event catalogue: generated from the code by `UPDATE_README=1 cargo test --test it catalogue` -->\n";
    const END: &str = "<!-- end of the event catalogue -->";
    let start = readme
        .find(START)
        .expect("the README has the catalogue's start marker")
        + START.len();
    let end = readme
        .find(END)
        .expect("the README has the catalogue's end marker");
    if std::env::var("UPDATE_README").is_ok() {
        let updated = format!("{}{table}{}", &readme[..start], &readme[end..]);
        std::fs::write(&readme_path, updated).expect("write README");
        return;
    }
    assert_eq!(
        &readme[start..end],
        table,
        "the README's event catalogue is out of date: run UPDATE_README=1 cargo test --test it catalogue"
    );
}

#[tokio::test]
async fn events_carry_objects_in_the_shape_of_their_graphql_type() {
    let app = spawn_app().await;
    let body = app
        .graphql(
            "mutation { createCharge(input: {amount: 2000, currency: \"usd\", paymentMethod: \"pm_card_visa\"}) { id } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let charge = body["data"]["createCharge"]["id"].clone();
    let body = app
        .graphql(
            "{ events(type: \"charge.succeeded\") { nodes { data { object previousAttributes } } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    let data = &body["data"]["events"]["nodes"][0]["data"];
    let object = &data["object"];
    assert_eq!(object["id"], charge);
    assert_eq!(
        object["amount"],
        json!({"amount": 2000, "currency": "usd", "decimal": "20.00"})
    );
    assert_eq!(
        object["amountRefunded"],
        json!({"amount": 0, "currency": "usd", "decimal": "0.00"})
    );
    assert_eq!(object["paymentMethod"], "pm_card_visa");
    let names: Vec<&String> = object.as_object().expect("object").keys().collect();
    assert!(names.iter().all(|name| !name.contains('_')), "{names:?}");
    assert_eq!(data["previousAttributes"], Value::Null);
}
