//! The front of a server over several shards: each request goes to the routes of the shard
//! that holds the API key it presents (one key lookup per shard tried), or, without a key,
//! the platform its path names (a hosted onboarding page, an Express login link), or the
//! shard that opened the browser's Express dashboard session; a websocket without a key is
//! upgraded here and handed to the shard its `connection_init` key names. Other requests,
//! and keys or platforms no shard holds, go to the first shard's routes.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;

use super::{HttpState, Routes};
use crate::ids::PlatformId;

/// The cookie naming the shard of the browser's Express dashboard session.
const SHARD_COOKIE: &str = "tollgate_shard";

/// One set of routes over the shards' own routes, in the shards' order.
pub fn front(shards: Vec<Routes>) -> Router {
    let shards = Arc::new(shards);
    Router::new().fallback(move |request: Request| dispatch(Arc::clone(&shards), request))
}

/// The shard holding the API key a request presents, or without one the platform its path
/// names, or the shard of its Express dashboard session; the first for other requests
/// (health checks, GraphiQL) and for keys or platforms no shard holds (which it then
/// refuses).
fn shard_of_request(shards: &[Routes], request: &Request) -> usize {
    if let Some(key) = super::api_key(request.headers()) {
        return shards
            .iter()
            .position(|shard| shard.state.services.authenticate_key(&key).is_ok())
            .unwrap_or(0);
    }
    let platform = request
        .uri()
        .path()
        .split('/')
        .find_map(|segment| PlatformId::parse(segment).ok());
    if let Some(platform) = platform {
        return shards
            .iter()
            .position(|shard| matches!(shard.state.services.platform_by_id(&platform), Ok(Some(_))))
            .unwrap_or(0);
    }
    super::onboarding_page::cookie_value(request.headers(), SHARD_COOKIE)
        .and_then(|shard| shard.parse::<usize>().ok())
        .filter(|shard| *shard < shards.len())
        .unwrap_or(0)
}

/// A websocket upgrade without a key: its key comes in `connection_init`, after the
/// upgrade, so the front upgrades it and hands it to the shard that key names.
async fn websocket_by_init(
    shards: &[Routes],
    request: Request,
    protocol: async_graphql::http::WebSocketProtocols,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let states: Vec<HttpState> = shards.iter().map(|shard| shard.state.clone()).collect();
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| super::websocket::serve_by_init(socket, states, protocol))
}

/// Remembers, beside an Express dashboard session a shard opened, which shard holds it, so
/// the dashboard's later pages (whose paths name no platform) go back there. It is no
/// credential: a changed value only sends the request where the session is unknown.
fn remember_shard(response: &mut Response, shard: usize) {
    let opens_session = response
        .headers()
        .get_all(axum::http::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|cookie| cookie.starts_with(super::express_dashboard::SESSION_COOKIE));
    if !opens_session {
        return;
    }
    let cookie = format!(
        "{SHARD_COOKIE}={shard}; Path={}; HttpOnly; SameSite=Lax",
        super::EXPRESS_PATH
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, value);
    }
}

async fn dispatch(shards: Arc<Vec<Routes>>, request: Request) -> Response {
    let keyless_websocket = request.uri().path() == super::WEBSOCKET_PATH
        && super::api_key(request.headers()).is_none();
    if keyless_websocket {
        if let Some(protocol) = super::websocket::protocol(request.headers()) {
            return websocket_by_init(&shards, request, protocol).await;
        }
    }
    let shard = shard_of_request(&shards, &request);
    let Some(router) = shards
        .get(shard)
        .or_else(|| shards.first())
        .map(|shard| shard.router.clone())
    else {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let mut response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    remember_shard(&mut response, shard);
    response
}
