//! The `events` subscription over graphql-ws: it streams the caller's events in the shape
//! of the Event type, and ends with a clean close (1001 and a reason) when the server
//! shuts down.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{assert_no_errors, spawn_app, TOPUP};
use crate::webhooks_support::WAIT;

/// The next text message on a websocket, as JSON.
pub async fn next_json<S>(socket: &mut S) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("message");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("json");
        }
    }
}

/// A graphql-transport-ws client at `ws_url` that sent `key` in `connection_init`, was
/// acknowledged, and subscribed (as id 1) to events of `event_type`.
pub async fn subscribed(
    ws_url: &str,
    key: &str,
    event_type: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = ws_url.into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {key}")}});
    socket
        .send(Message::text(init.to_string()))
        .await
        .expect("init");
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    let query = format!(
        "subscription {{ events(types: [\"{event_type}\"]) {{ type data {{ object }} }} }}"
    );
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .expect("subscribe");
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_stream_events_and_close_cleanly_on_shutdown() {
    let app = spawn_app().await;
    let mut socket = subscribed(
        &format!("ws://{}/graphql/ws", app.address),
        &app.secret_key,
        "topup.created",
    )
    .await;
    // The subscription is live once the server has read it; keep making top-ups until one
    // is streamed.
    let event = tokio::time::timeout(WAIT, async {
        loop {
            assert_no_errors(
                &app.graphql(TOPUP, json!({"amount": 321, "currency": "usd"}))
                    .await,
            );
            if let Ok(message) = tokio::time::timeout(
                std::time::Duration::from_millis(500),
                next_json(&mut socket),
            )
            .await
            {
                return message;
            }
        }
    })
    .await
    .expect("an event");
    assert_eq!(event["type"], "next");
    assert_eq!(event["payload"]["data"]["events"]["type"], "topup.created");
    assert_eq!(
        event["payload"]["data"]["events"]["data"]["object"]["amount"]["amount"],
        321
    );

    let stopping = tokio::spawn(app.stop());
    let close = tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame in time")
    .expect("a close frame with a code");
    assert_eq!(u16::from(close.code), 1001);
    assert_eq!(close.reason.as_str(), "the server is shutting down");
    drop(socket);
    stopping.await.expect("stopped");
}
