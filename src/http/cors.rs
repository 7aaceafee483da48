//! CORS for browser apps on other origins (`--cors-origin`): the API's methods and headers,
//! and the request id exposed to scripts. Without an origin no CORS header is sent.

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::telemetry::REQUEST_ID_HEADER;
use super::CONNECT_ACCOUNT_HEADER;
use crate::config::CORS_MAX_AGE_SECONDS;

/// The layer for the configured origins; `None` when there are none. An origin that is not
/// a valid header value is an error, reported at startup.
pub fn layer(origins: &[String]) -> Result<Option<CorsLayer>, String> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        let mut values = Vec::with_capacity(origins.len());
        for origin in origins {
            let trimmed = origin.trim().trim_end_matches('/');
            values.push(
                HeaderValue::from_str(trimmed)
                    .map_err(|_| format!("'{origin}' is not a valid CORS origin"))?,
            );
        }
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static(CONNECT_ACCOUNT_HEADER),
                HeaderName::from_static(REQUEST_ID_HEADER),
            ])
            .expose_headers([HeaderName::from_static(REQUEST_ID_HEADER)])
            .max_age(Duration::from_secs(CORS_MAX_AGE_SECONDS)),
    ))
}
