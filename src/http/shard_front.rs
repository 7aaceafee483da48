//! The front of a server over several shards: each request goes to the routes of the shard
//! that holds the API key it presents (one key lookup per shard tried), or, without a key,
//! the platform its path names (a hosted onboarding page, an Express login link), or the
//! shard that opened the browser's Express dashboard session; other requests, and keys or
//! platforms no shard holds, go to the first shard's routes.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;

use crate::ids::PlatformId;

/// The cookie naming the shard of the browser's Express dashboard session.
const SHARD_COOKIE: &str = "tollgate_shard";
use crate::service::AppState;

/// One set of routes over the shards' own routes (`services[i]` serves `routes[i]`).
pub fn front(services: Vec<AppState>, routes: Vec<Router>) -> Router {
    let services = Arc::new(services);
    let routes = Arc::new(routes);
    Router::new().fallback(move |request: Request| {
        dispatch(Arc::clone(&services), Arc::clone(&routes), request)
    })
}

/// The shard holding the API key a request presents, or without one the platform its path
/// names; the first for other requests (health checks, GraphiQL) and for keys or
/// platforms no shard holds (which it then refuses).
pub fn shard_of_request(services: &[AppState], request: &Request) -> usize {
    if let Some(key) = super::api_key(request.headers()) {
        return services
            .iter()
            .position(|shard| shard.authenticate_key(&key).is_ok())
            .unwrap_or(0);
    }
    let platform = request
        .uri()
        .path()
        .split('/')
        .find_map(|segment| PlatformId::parse(segment).ok());
    if let Some(platform) = platform {
        return services
            .iter()
            .position(|shard| matches!(shard.platform_by_id(&platform), Ok(Some(_))))
            .unwrap_or(0);
    }
    super::onboarding_page::cookie_value(request.headers(), SHARD_COOKIE)
        .and_then(|shard| shard.parse::<usize>().ok())
        .filter(|shard| *shard < services.len())
        .unwrap_or(0)
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

async fn dispatch(
    services: Arc<Vec<AppState>>,
    routes: Arc<Vec<Router>>,
    request: Request,
) -> Response {
    let shard = shard_of_request(&services, &request);
    let Some(router) = routes.get(shard).or_else(|| routes.first()).cloned() else {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let mut response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    remember_shard(&mut response, shard);
    response
}
