//! Developer commands that talk to a running server as a client would: `webhook verify`
//! (check one signature), `listen` (forward the caller's events from the graphql-ws
//! subscription to a local URL, signed) and `trigger` (make the objects that fire an event).

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use futures::{SinkExt, StreamExt};
use rand::RngCore;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::service::webhook_client::{signature_header, verify_signature, SIGNATURE_HEADER};

/// How long `listen` waits for one forwarded POST to be answered.
pub const FORWARD_TIMEOUT_SECONDS: u64 = 10;
/// How long a trigger's or the subscription's handshake may take.
pub const CLIENT_TIMEOUT_SECONDS: u64 = 30;
/// The largest body `webhook verify` reads.
pub const MAX_VERIFY_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// What `listen` subscribes to: every field a webhook body carries.
const LISTEN_SUBSCRIPTION: &str = "subscription($types: [String!]) { events(types: $types) { id type created account { id } data { object previousAttributes } pendingWebhooks } }";

#[derive(Debug, thiserror::Error)]
pub enum DevtoolsError {
    #[error("could not read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Signature(#[from] crate::service::webhook_client::SignatureError),
    #[error("the server URL must start with http:// (got {0})")]
    ServerUrl(String),
    #[error("the subscription failed: {0}")]
    Subscription(String),
    #[error("the request failed: {0}")]
    Request(String),
    #[error("unknown event to trigger {given:?}; one of: {known}")]
    UnknownTrigger { given: String, known: String },
}

/// `tollgate webhook verify`: checks one delivery's signature header against its body.
pub fn verify_command(
    secret: &str,
    header: &str,
    body_file: &Path,
    tolerance_seconds: i64,
) -> Result<(), DevtoolsError> {
    let read_error = |source| DevtoolsError::Read {
        path: body_file.display().to_string(),
        source,
    };
    let length = std::fs::metadata(body_file).map_err(read_error)?.len();
    if length > MAX_VERIFY_BODY_BYTES {
        return Err(DevtoolsError::Read {
            path: body_file.display().to_string(),
            source: std::io::Error::other(format!("larger than {MAX_VERIFY_BODY_BYTES} bytes")),
        });
    }
    let body = std::fs::read_to_string(body_file).map_err(read_error)?;
    verify_signature(
        secret,
        header,
        &body,
        tolerance_seconds,
        Utc::now().timestamp(),
    )?;
    Ok(())
}

fn websocket_url(server: &str) -> Result<String, DevtoolsError> {
    let rest = server
        .strip_prefix("http://")
        .ok_or_else(|| DevtoolsError::ServerUrl(server.to_owned()))?;
    Ok(format!("ws://{}/graphql/ws", rest.trim_end_matches('/')))
}

fn session_secret() -> String {
    let mut secret = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut secret);
    format!("whsec_{}", hex::encode(secret))
}

/// The body a webhook endpoint would receive for an event from the subscription.
fn webhook_body(event: &Value) -> Value {
    json!({
        "id": event["id"],
        "object": "event",
        "type": event["type"],
        "created": event["created"],
        "account": event["account"]["id"],
        "data": event["data"],
        "pendingWebhooks": event["pendingWebhooks"],
    })
}

/// `tollgate listen`: subscribes to the caller's events and POSTs each to `forward_to`,
/// signed with a secret made for this session, printing one line per delivery. Runs
/// until the server closes the subscription.
pub async fn listen(
    server: &str,
    key: &str,
    forward_to: &str,
    types: Option<Vec<String>>,
) -> Result<(), DevtoolsError> {
    let subscription_error =
        |error: &dyn std::fmt::Display| DevtoolsError::Subscription(error.to_string());
    let mut request = websocket_url(server)?
        .into_client_request()
        .map_err(|error| subscription_error(&error))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio::time::timeout(
        Duration::from_secs(CLIENT_TIMEOUT_SECONDS),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .map_err(|error| subscription_error(&error))?
    .map_err(|error| subscription_error(&error))?;
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {key}")}});
    socket
        .send(Message::text(init.to_string()))
        .await
        .map_err(|error| subscription_error(&error))?;
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": LISTEN_SUBSCRIPTION, "variables": {"types": types}}});
    let secret = session_secret();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(FORWARD_TIMEOUT_SECONDS))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| DevtoolsError::Request(error.to_string()))?;
    while let Some(message) = socket.next().await {
        let message = message.map_err(|error| subscription_error(&error))?;
        let text = match message {
            Message::Text(text) => text.to_string(),
            Message::Close(frame) => {
                let reason =
                    frame.map(|frame| format!("{} {}", u16::from(frame.code), frame.reason));
                println!(
                    "the server closed the subscription ({})",
                    reason.unwrap_or_default()
                );
                return Ok(());
            }
            _ => continue,
        };
        let message: Value =
            serde_json::from_str(&text).map_err(|error| subscription_error(&error))?;
        match message["type"].as_str() {
            Some("connection_ack") => {
                socket
                    .send(Message::text(subscribe.to_string()))
                    .await
                    .map_err(|error| subscription_error(&error))?;
                println!(
                    "Ready! Your webhook signing secret is {secret} (forwarding to {forward_to})"
                );
            }
            Some("ping") => {
                socket
                    .send(Message::text(json!({"type": "pong"}).to_string()))
                    .await
                    .map_err(|error| subscription_error(&error))?;
            }
            Some("next") => {
                let event = &message["payload"]["data"]["events"];
                forward(&client, forward_to, &secret, event).await;
            }
            Some("error") | Some("connection_error") => {
                return Err(DevtoolsError::Subscription(message["payload"].to_string()))
            }
            Some("complete") => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

async fn forward(client: &reqwest::Client, forward_to: &str, secret: &str, event: &Value) {
    let body = webhook_body(event).to_string();
    let header = match signature_header(&[secret], Utc::now().timestamp(), &body) {
        Ok(header) => header,
        Err(error) => {
            println!("could not sign: {error}");
            return;
        }
    };
    let sent = client
        .post(forward_to)
        .header(SIGNATURE_HEADER, header)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let status = match sent {
        Ok(response) => response.status().as_u16().to_string(),
        Err(error) => format!("failed ({error})"),
    };
    println!(
        "{}  {}  {}  --> {status}",
        Utc::now().format("%Y-%m-%d %H:%M:%S"),
        event["type"].as_str().unwrap_or_default(),
        event["id"].as_str().unwrap_or_default(),
    );
}

/// The events `trigger` can fire, with the mutation that fires each.
const TRIGGERS: &[(&str, &str)] = &[
    (
        "charge.succeeded",
        r#"mutation { createCharge(input: {amount: 2000, currency: "usd", paymentMethod: "pm_card_visa", description: "tollgate trigger"}) { id status } }"#,
    ),
    (
        "charge.failed",
        r#"mutation { createCharge(input: {amount: 2000, currency: "usd", paymentMethod: "pm_card_chargeDeclined", description: "tollgate trigger"}) { id status } }"#,
    ),
    (
        "topup.created",
        r#"mutation { createTopup(input: {amount: 2000, currency: "usd", description: "tollgate trigger"}) { id status } }"#,
    ),
];

/// `tollgate trigger`: makes, in test mode, the objects that fire `event_type`.
pub async fn trigger(server: &str, key: &str, event_type: &str) -> Result<Value, DevtoolsError> {
    let Some((_, mutation)) = TRIGGERS.iter().find(|(name, _)| *name == event_type) else {
        return Err(DevtoolsError::UnknownTrigger {
            given: event_type.to_owned(),
            known: TRIGGERS
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    if !server.starts_with("http://") && !server.starts_with("https://") {
        return Err(DevtoolsError::ServerUrl(server.to_owned()));
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(CLIENT_TIMEOUT_SECONDS))
        .build()
        .map_err(|error| DevtoolsError::Request(error.to_string()))?;
    let response: Value = client
        .post(format!("{}/graphql", server.trim_end_matches('/')))
        .bearer_auth(key)
        .json(&json!({"query": mutation}))
        .send()
        .await
        .map_err(|error| DevtoolsError::Request(error.to_string()))?
        .json()
        .await
        .map_err(|error| DevtoolsError::Request(error.to_string()))?;
    Ok(response)
}
