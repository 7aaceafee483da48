//! The front of a server over several shards: each request goes to the routes of the shard
//! that holds the API key it presents (one key lookup per shard tried); requests without a
//! key, or with a key no shard holds, go to the first shard's routes.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;

use crate::service::AppState;

/// One set of routes over the shards' own routes (`services[i]` serves `routes[i]`).
pub fn front(services: Vec<AppState>, routes: Vec<Router>) -> Router {
    let services = Arc::new(services);
    let routes = Arc::new(routes);
    Router::new().fallback(move |request: Request| {
        dispatch(Arc::clone(&services), Arc::clone(&routes), request)
    })
}

/// The shard holding the API key a request presents; the first for requests without one
/// (pages, health checks) or with a key no shard holds (it answers 401).
pub fn shard_of_request(services: &[AppState], headers: &axum::http::HeaderMap) -> usize {
    let Some(key) = super::api_key(headers) else {
        return 0;
    };
    services
        .iter()
        .position(|shard| shard.authenticate_key(&key).is_ok())
        .unwrap_or(0)
}

async fn dispatch(
    services: Arc<Vec<AppState>>,
    routes: Arc<Vec<Router>>,
    request: Request,
) -> Response {
    let shard = shard_of_request(&services, request.headers());
    let Some(router) = routes.get(shard).or_else(|| routes.first()).cloned() else {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
