//! Webhook test helpers: a scripted receiver on loopback, signature checks, and waiting
//! (with a bounded timeout) for deliveries to reach a state.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{json, Value};

use crate::helpers::{assert_no_errors, TestApp};

/// How long a test waits for a delivery it expects.
pub const WAIT: Duration = Duration::from_secs(30);

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    pub signature: String,
    pub body: String,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("json body")
    }
}

/// A receiver on port 0 answering each request with the next scripted status, then with
/// `then` (which a test may change).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    then: Arc<Mutex<u16>>,
}

pub async fn receiver(script: &[u16], then: u16) -> Receiver {
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
    let then = Arc::new(Mutex::new(then));
    let (hits_handle, script_handle, then_handle) = (hits.clone(), script.clone(), then.clone());
    let app = axum::Router::new().route(
        "/hooks",
        post(move |headers: HeaderMap, body: String| {
            let (hits, script, then) = (
                hits_handle.clone(),
                script_handle.clone(),
                then_handle.clone(),
            );
            async move {
                let status = script
                    .lock()
                    .expect("lock")
                    .pop_front()
                    .unwrap_or_else(|| *then.lock().expect("lock"));
                let signature = headers
                    .get("tollgate-signature")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                hits.lock().expect("lock").push(Hit { signature, body });
                StatusCode::from_u16(status).expect("status")
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
    Receiver {
        url: format!("http://{address}/hooks"),
        hits,
        script,
        then,
    }
}

impl Receiver {
    pub fn count(&self) -> usize {
        self.hits.lock().expect("lock").len()
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("lock").clone()
    }

    pub fn answer_from_now(&self, status: u16) {
        self.script.lock().expect("lock").clear();
        *self.then.lock().expect("lock") = status;
    }

    /// Waits for a request whose event satisfies `wanted`; returns the first such.
    pub async fn wait_for_hit(&self, wanted: impl Fn(&Value) -> bool) -> Hit {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(hit) = self.hits().into_iter().find(|hit| wanted(&hit.json())) {
                    return hit;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no such request among {:?}", self.hits()))
    }

    /// Waits until the receiver has had at least `count` requests.
    pub async fn wait_for(&self, count: usize) {
        let waited = tokio::time::timeout(WAIT, async {
            while self.count() < count {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "expected {count} requests, got {}",
            self.count()
        );
    }
}

/// Whether `header` carries a valid signature of `body` under `secret`.
pub fn signed_by(secret: &str, header: &str, body: &str) -> bool {
    tollgate::service::webhook_client::verify_signature(
        secret,
        header,
        body,
        300,
        chrono::Utc::now().timestamp(),
    )
    .is_ok()
}

pub const CREATE_ENDPOINT: &str = "mutation($url: String!, $events: [String!]!) {
  createWebhookEndpoint(input: {url: $url, enabledEvents: $events}) { id url enabledEvents secret disabled }
}";

/// Creates an endpoint; returns (id, secret).
pub async fn create_endpoint(app: &TestApp, url: &str, events: &[&str]) -> (String, String) {
    create_endpoint_as(app, &app.secret_key, url, events).await
}

pub async fn create_endpoint_as(
    app: &TestApp,
    key: &str,
    url: &str,
    events: &[&str],
) -> (String, String) {
    let body = app
        .graphql_as(
            key,
            None,
            CREATE_ENDPOINT,
            json!({"url": url, "events": events}),
        )
        .await;
    assert_no_errors(&body);
    let endpoint = &body["data"]["createWebhookEndpoint"];
    (
        endpoint["id"].as_str().expect("id").to_owned(),
        endpoint["secret"].as_str().expect("secret").to_owned(),
    )
}

const DELIVERIES: &str = "query($id: ID!) { webhookEndpoint(id: $id) { disabled deliveries(first: 100) {
  nodes { id status attempts responseCode error lastAttemptAt nextRetryAt event { id type } } } } }";

/// The endpoint's deliveries, newest first.
pub async fn deliveries(app: &TestApp, endpoint: &str) -> Vec<Value> {
    let body = app.graphql(DELIVERIES, json!({"id": endpoint})).await;
    assert_no_errors(&body);
    body["data"]["webhookEndpoint"]["deliveries"]["nodes"]
        .as_array()
        .expect("deliveries")
        .clone()
}

/// Waits until the endpoint's deliveries satisfy `done`; returns them.
pub async fn wait_for_deliveries(
    app: &TestApp,
    endpoint: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = deliveries(app, endpoint).await;
        if done(&found) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the newest delivery has been attempted `attempts` times.
pub async fn wait_for_attempts(app: &TestApp, endpoint: &str, attempts: i64) -> Value {
    let found = wait_for_deliveries(app, endpoint, "attempts", |found| {
        found
            .first()
            .is_some_and(|delivery| delivery["attempts"] == attempts)
    })
    .await;
    found[0].clone()
}

pub async fn advance_seconds(app: &TestApp, seconds: i64) {
    let body = app
        .graphql(
            "mutation($s: Int!) { advanceClock(input: {seconds: $s}) }",
            json!({ "s": seconds }),
        )
        .await;
    assert_no_errors(&body);
}
