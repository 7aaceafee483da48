//! The websocket's limits: `connection_init` in time, subscriptions per connection and per
//! platform, and a subscriber that falls behind dropped with a close reason.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::helpers::{assert_no_errors, spawn_app_with, TestApp};

type Socket = WebSocketStream<tokio::net::TcpStream>;

/// Connects over a socket with the given receive buffer (small, to make a slow reader).
async fn connect(app: &TestApp, receive_buffer_bytes: Option<u32>) -> Socket {
    let mut request = format!("ws://{}/graphql/ws", app.address)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    if let Some(bytes) = receive_buffer_bytes {
        socket.set_recv_buffer_size(bytes).expect("buffer size");
    }
    let stream = socket.connect(app.address).await.expect("connect");
    let (socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("handshake");
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("send");
}

/// The next message, within a bounded wait.
async fn next(socket: &mut Socket) -> Message {
    tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("a message within 10 s")
        .expect("socket open")
        .expect("message")
}

async fn next_json(socket: &mut Socket) -> Value {
    match next(socket).await {
        Message::Text(text) => serde_json::from_str(&text).expect("json"),
        other => panic!("expected text, got {other:?}"),
    }
}

async fn initialise(socket: &mut Socket, key: &str) {
    send(
        socket,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {key}")}}),
    )
    .await;
    assert_eq!(next_json(socket).await["type"], "connection_ack");
}

async fn subscribe(socket: &mut Socket, id: &str) {
    send(
        socket,
        json!({"id": id, "type": "subscribe", "payload": {"query": "subscription { events { id type data { object } } }"}}),
    )
    .await;
}

#[tokio::test]
async fn a_connection_that_does_not_initialise_in_time_is_closed() {
    let app = spawn_app_with(|settings| {
        settings.limits.websocket_init_timeout_milliseconds = 200;
    })
    .await;
    let mut socket = connect(&app, None).await;
    let started = std::time::Instant::now();
    match next(&mut socket).await {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::from(4408));
            assert_eq!(frame.reason.as_str(), "Connection initialisation timeout");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    println!(
        "closed {:?} after connecting (timeout 200 ms)",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn subscriptions_are_capped_per_connection_and_per_platform() {
    let app = spawn_app_with(|settings| {
        settings.limits.max_subscriptions_per_connection = 2;
        settings.limits.max_subscriptions_per_platform = 3;
        // Shorter than the subscription lives before its event: the deadline is for
        // queries and mutations, not for subscriptions.
        settings.limits.request_deadline_milliseconds = 150;
    })
    .await;
    let mut first = connect(&app, None).await;
    initialise(&mut first, &app.secret_key).await;
    for id in ["1", "2", "3"] {
        subscribe(&mut first, id).await;
    }
    // Subscriptions sent together start in no particular order: any one of them is refused.
    let refused = next_json(&mut first).await;
    assert!(
        ["1", "2", "3"].contains(&refused["id"].as_str().unwrap_or_default()),
        "{refused}"
    );
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{refused}"
    );
    assert!(
        refused.to_string().contains("This connection holds"),
        "{refused}"
    );

    // A second connection of the same platform gets the platform's last slot only.
    let mut second = connect(&app, None).await;
    initialise(&mut second, &app.secret_key).await;
    subscribe(&mut second, "a").await;
    subscribe(&mut second, "b").await;
    let refused = next_json(&mut second).await;
    let refused_id = refused["id"].as_str().unwrap_or_default().to_owned();
    assert!(["a", "b"].contains(&refused_id.as_str()), "{refused}");
    assert!(
        refused.to_string().contains("This platform holds"),
        "{refused}"
    );
    // The refused subscription completes.
    let completed = next_json(&mut second).await;
    assert_eq!(
        (completed["id"].as_str(), completed["type"].as_str()),
        (Some(refused_id.as_str()), Some("complete")),
        "{completed}"
    );
    let live = if refused_id == "a" { "b" } else { "a" };

    // Completing a subscription gives its slot back.
    send(&mut second, json!({"id": live, "type": "complete"})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    subscribe(&mut second, "c").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let body = app
        .graphql(
            "mutation { createTopup(input: {amount: 100, currency: \"usd\"}) { id } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    // The server confirms the completed one, then the new one streams.
    let mut event = next_json(&mut second).await;
    if event["type"] == "complete" {
        assert_eq!(event["id"].as_str(), Some(live), "{event}");
        event = next_json(&mut second).await;
    }
    assert_eq!(
        (event["id"].as_str(), event["type"].as_str()),
        (Some("c"), Some("next")),
        "{event}"
    );
    assert_eq!(
        event["payload"]["data"]["events"]["type"], "topup.created",
        "{event}"
    );
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_dropped_with_a_close_reason() {
    let app = spawn_app_with(|settings| {
        settings.limits.event_stream_capacity = 8;
        settings.limits.websocket_send_timeout_milliseconds = 60_000;
        settings.limits.writes_per_second = 0;
    })
    .await;
    let mut socket = connect(&app, Some(4096)).await;
    initialise(&mut socket, &app.secret_key).await;
    subscribe(&mut socket, "1").await;
    // Wait until the subscription is live: one event arrives.
    let description = "x".repeat(1000);
    let topup = "mutation($d: String, $k: String) { createTopup(input: {amount: 100, currency: \"usd\", description: $d, idempotencyKey: $k}) { id } }";
    assert_no_errors(
        &app.graphql(topup, json!({"d": description, "k": "first"}))
            .await,
    );
    assert_eq!(next_json(&mut socket).await["type"], "next");
    // Not reading while many events happen: the server's socket fills and the subscriber
    // falls more than eight events behind.
    let requests = (0..400).map(|n| {
        let app = &app;
        let description = &description;
        async move {
            let body = app
                .graphql(topup, json!({"d": description, "k": format!("slow-{n}")}))
                .await;
            assert_no_errors(&body);
        }
    });
    futures::future::join_all(requests).await;
    // Reading again: some events, then the close frame with its reason.
    let mut events = 0;
    let reason = loop {
        match next(&mut socket).await {
            Message::Text(_) => events += 1,
            Message::Close(Some(frame)) => break (frame.code, frame.reason.to_string()),
            Message::Close(None) => panic!("closed without a reason after {events} events"),
            _ => {}
        }
    };
    println!("slow subscriber: {events} messages, then {reason:?}");
    assert_eq!(reason.0, CloseCode::Policy);
    assert!(reason.1.starts_with("Subscriber too slow"), "{reason:?}");
    assert!(events < 401, "{events}");
}
