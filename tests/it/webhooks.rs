//! Webhooks: a registered endpoint receives the platform's events of the types it asked
//! for, signed with its secret, and a refused delivery is tried again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app, TOPUP};

/// A receiver on port 0 that refuses its first `refuse_first` deliveries with a 500.
async fn receiver(
    refuse_first: usize,
) -> (
    String,
    mpsc::UnboundedReceiver<(String, String)>,
    Arc<AtomicUsize>,
) {
    let (sender, received) = mpsc::unbounded_channel();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let app = axum::Router::new().route(
        "/hooks",
        post(move |headers: HeaderMap, body: String| {
            let sender = sender.clone();
            let counter = counter.clone();
            async move {
                let attempt = counter.fetch_add(1, Ordering::SeqCst);
                if attempt < refuse_first {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let signature = headers
                    .get("tollgate-signature")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let _ = sender.send((signature, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/hooks"), received, attempts)
}

fn verify(secret: &str, header: &str, body: &str) -> bool {
    let Some((timestamp, signature)) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes()) == signature
}

const CREATE: &str = "mutation($url: String!, $events: [String!]!) {
  createWebhookEndpoint(input: {url: $url, enabledEvents: $events}) { id url enabledEvents secret }
}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_delivered_signed_and_retried_until_accepted() {
    let app = spawn_app().await;
    let (url, mut received, attempts) = receiver(1).await;
    let body = app
        .graphql(CREATE, json!({"url": url, "events": ["topup.created"]}))
        .await;
    assert_no_errors(&body);
    let endpoint = &body["data"]["createWebhookEndpoint"];
    let secret = endpoint["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(endpoint["enabledEvents"], json!(["topup.created"]));
    // The secret is shown once; reading the endpoint again does not show it.
    let body = app
        .graphql(
            "query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { url secret } } }",
            json!({"id": endpoint["id"]}),
        )
        .await;
    assert_eq!(body["data"]["node"], json!({"url": url, "secret": null}));

    let topup = app
        .graphql(TOPUP, json!({"amount": 4321, "currency": "usd"}))
        .await;
    assert_no_errors(&topup);
    let (signature, delivered) = tokio::time::timeout(Duration::from_secs(20), received.recv())
        .await
        .expect("a delivery within the retry schedule")
        .expect("delivery");
    assert!(verify(&secret, &signature, &delivered), "{signature}");
    assert!(!verify("whsec_wrong", &signature, &delivered));
    let event: Value = serde_json::from_str(&delivered).expect("json body");
    assert_eq!(event["type"], "topup.created");
    assert_eq!(event["data"]["id"], topup["data"]["createTopup"]["id"]);
    assert_eq!(event["data"]["amount"]["amount"], 4321);
    // The first attempt was refused and the second accepted.
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn bad_endpoints_are_refused_with_their_param() {
    let app = spawn_app().await;
    for (url, events, param) in [
        (json!("ftp://hooks.example"), json!(["*"]), "input.url"),
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
    ] {
        let body = app
            .graphql(CREATE, json!({"url": url, "events": events}))
            .await;
        assert_eq!(error_code(&body), "INVALID_REQUEST", "{body}");
        assert_eq!(error_param(&body), Some(param));
    }
}
