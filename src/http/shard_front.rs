//! The front of a server over several shards: each request goes to the routes of the shard
//! that holds the API key it presents (one key lookup per shard tried), or, without a key,
//! the platform its path names (a hosted onboarding page, an Express login link); other
//! requests, and keys or platforms no shard holds, go to the first shard's routes.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;

use crate::ids::PlatformId;
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
    platform
        .and_then(|platform| {
            services
                .iter()
                .position(|shard| matches!(shard.platform_by_id(&platform), Ok(Some(_))))
        })
        .unwrap_or(0)
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
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
