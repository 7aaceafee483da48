//! `/graphql/ws`: graphql-ws (and the older subscriptions-transport-ws) with limits. A client
//! has `websocket_init_timeout` to send `connection_init`; subscriptions are capped per
//! connection and per platform; a subscriber that falls behind the event stream, or whose
//! socket does not take a message within `websocket_send_timeout`, is dropped, with a close
//! reason when the socket still takes one.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::{WebSocket as GraphQLWebSocket, WebSocketProtocols, WsMessage};
use async_graphql::Data;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::HeaderMap;
use futures::{future, SinkExt, StreamExt};
use tokio::sync::{watch, Semaphore};

use super::{authenticate, HttpState};
use crate::graphql::errors::to_graphql;
use crate::graphql::roots::subscription::SubscriptionSlots;
use crate::ids::PlatformId;
use crate::service::Access;

/// graphql-ws: the client did not send `connection_init` in time.
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// RFC 6455 policy violation: the subscriber was too slow.
pub const CLOSE_TOO_SLOW: u16 = 1008;

/// Each platform's subscription slots, shared by all its connections.
#[derive(Clone, Default)]
pub struct PlatformSubscriptions(Arc<Mutex<HashMap<PlatformId, Arc<Semaphore>>>>);

impl PlatformSubscriptions {
    fn slots(&self, platform: &PlatformId, limit: usize) -> Arc<Semaphore> {
        match self.0.lock() {
            Ok(mut slots) => slots
                .entry(platform.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(limit)))
                .clone(),
            // A poisoned map still limits: this connection gets slots of its own.
            Err(_) => Arc::new(Semaphore::new(limit)),
        }
    }
}

/// The first subprotocol the client offers that this server speaks.
pub fn protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|offered| WebSocketProtocols::from_str(offered.trim()).ok())
}

fn close(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The API key a `connection_init` payload carries (`Authorization: Bearer …`).
fn init_key(payload: &serde_json::Value) -> Option<String> {
    ["Authorization", "authorization"]
        .iter()
        .find_map(|name| payload.get(*name).and_then(serde_json::Value::as_str))
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|key| key.trim().to_owned())
}

/// A message's data, for text and binary messages.
fn data(message: Message) -> Option<Bytes> {
    match message {
        Message::Text(text) => Some(Bytes::from(text)),
        Message::Binary(bytes) => Some(bytes),
        _ => None,
    }
}

/// Serves a websocket over several shards: its first message (`connection_init`, within
/// `websocket_init_timeout`) names the key, and the shard holding the key serves it from
/// there on; a key no shard holds is refused by the first, as on one store.
pub async fn serve_by_init(
    mut socket: WebSocket,
    shards: Vec<HttpState>,
    protocol: WebSocketProtocols,
) {
    let Some(first_shard) = shards.first() else {
        return;
    };
    let limits = &first_shard.services.settings.limits;
    let init_timeout = Duration::from_millis(limits.websocket_init_timeout_milliseconds);
    let first = tokio::time::timeout(init_timeout, async {
        while let Some(Ok(message)) = socket.recv().await {
            if let Some(bytes) = data(message) {
                return Some(bytes);
            }
        }
        None
    })
    .await;
    let first = match first {
        Ok(Some(first)) => first,
        Ok(None) => return,
        Err(_) => {
            let send_timeout = Duration::from_millis(limits.websocket_send_timeout_milliseconds);
            let timed_out = close(
                CLOSE_INIT_TIMEOUT,
                "Connection initialisation timeout".into(),
            );
            let _ = tokio::time::timeout(send_timeout, socket.send(timed_out)).await;
            return;
        }
    };
    let key = serde_json::from_slice::<serde_json::Value>(&first)
        .ok()
        .and_then(|message| init_key(message.get("payload")?));
    let shard = key
        .and_then(|key| {
            shards
                .iter()
                .find(|shard| shard.services.authenticate_key(&key).is_ok())
        })
        .unwrap_or(first_shard)
        .clone();
    serve(socket, shard, protocol, Some(first)).await;
}

/// Serves one websocket until either side closes it or a limit drops it. `first` is a
/// message already read from it (by [`serve_by_init`]).
pub async fn serve(
    socket: WebSocket,
    state: HttpState,
    protocol: WebSocketProtocols,
    first: Option<Bytes>,
) {
    let limits = state.services.settings.limits.clone();
    let (mut sink, source) = socket.split();
    let rest = source
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| future::ready(message.ok().and_then(data)));
    let input = futures::stream::iter(first).chain(rest);
    let initialised = Arc::new(AtomicBool::new(false));
    let (fell_behind, mut behind) = watch::channel(None::<u64>);
    let per_connection = Arc::new(Semaphore::new(limits.max_subscriptions_per_connection));
    let on_init = {
        let initialised = initialised.clone();
        let services = state.services.clone();
        let subscriptions = state.subscriptions.clone();
        let per_platform_limit = limits.max_subscriptions_per_platform;
        move |payload: serde_json::Value| async move {
            let key = init_key(&payload);
            let connect_account = payload
                .get("Connect-Account")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            let caller = authenticate(
                &services,
                key.as_deref(),
                connect_account.as_deref(),
                Access::Read,
            )
            .map_err(|(_, error)| to_graphql(error))?;
            let per_platform = subscriptions.slots(&caller.platform.id, per_platform_limit);
            let mut data = Data::default();
            data.insert(SubscriptionSlots::new(
                per_connection,
                per_platform,
                fell_behind,
            ));
            data.insert(caller);
            initialised.store(true, Ordering::SeqCst);
            Ok(data)
        }
    };
    let mut messages =
        GraphQLWebSocket::new(state.schema.clone(), input, protocol).on_connection_init(on_init);
    let init_deadline = tokio::time::sleep(Duration::from_millis(
        limits.websocket_init_timeout_milliseconds,
    ));
    tokio::pin!(init_deadline);
    let send_timeout = Duration::from_millis(limits.websocket_send_timeout_milliseconds);
    let mut shutting_down = state.closing.clone();
    loop {
        let message = tokio::select! {
            Ok(_) = shutting_down.wait_for(|closing| *closing) => {
                close(super::SHUTDOWN_CLOSE_CODE, super::SHUTDOWN_CLOSE_REASON.into())
            }
            message = messages.next() => match message {
                Some(WsMessage::Text(text)) => Message::Text(text.into()),
                Some(WsMessage::Close(code, reason)) => close(code, reason),
                None => break,
            },
            () = &mut init_deadline, if !initialised.load(Ordering::SeqCst) => {
                close(CLOSE_INIT_TIMEOUT, "Connection initialisation timeout".into())
            }
            Ok(()) = behind.changed() => {
                let missed = (*behind.borrow()).unwrap_or(0);
                tracing::info!(missed, "dropped a subscriber that fell behind");
                close(
                    CLOSE_TOO_SLOW,
                    format!("Subscriber too slow: it fell {missed} events behind"),
                )
            }
        };
        let closing = matches!(message, Message::Close(_));
        match tokio::time::timeout(send_timeout, sink.send(message)).await {
            Ok(Ok(())) if !closing => {}
            Ok(Ok(())) => break,
            Ok(Err(_)) => break,
            Err(_) => {
                tracing::info!("dropped a websocket that did not take a message in time");
                break;
            }
        }
    }
    // Dropping the socket closes the connection; a clean close is only tried briefly.
    let _ = tokio::time::timeout(send_timeout, sink.close()).await;
}
