//! The GraphQL-over-HTTP specification's answer rules: the response media type follows the
//! request's Accept (`application/graphql-response+json` when asked for, else
//! `application/json`), and with the former a request that fails before execution (parse,
//! validation, variable coercion) is a 400 without a `data` entry.

use async_graphql::Response as GraphQLResult;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub const JSON: &str = "application/json";

/// The media type the answer is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    GraphQLResponseJson,
    Json,
}

/// `application/graphql-response+json` when the client lists it, else `application/json`
/// (also for `*/*` or no Accept at all, as the specification asks of servers today).
pub fn negotiate(headers: &HeaderMap) -> MediaType {
    let accepts_graphql_response = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let media = item.split(';').next().unwrap_or_default().trim();
            let refused = item.split(';').skip(1).any(|parameter| {
                matches!(parameter.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000")
            });
            media.eq_ignore_ascii_case(GRAPHQL_RESPONSE_JSON) && !refused
        });
    if accepts_graphql_response {
        MediaType::GraphQLResponseJson
    } else {
        MediaType::Json
    }
}

/// A request that never reached execution: no data, and errors that point at no field.
pub fn is_request_error(result: &GraphQLResult) -> bool {
    !result.errors.is_empty()
        && matches!(result.data, async_graphql::Value::Null)
        && result.errors.iter().all(|error| error.path.is_empty())
}

/// Writes the result in the negotiated media type with the specification's status.
pub fn respond(result: GraphQLResult, media_type: MediaType) -> Response {
    let request_error = is_request_error(&result);
    let mut body = match serde_json::to_value(&result) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "a GraphQL result could not be serialised");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let (status, content_type) = match media_type {
        MediaType::GraphQLResponseJson if request_error => {
            if let Some(fields) = body.as_object_mut() {
                fields.remove("data");
            }
            (StatusCode::BAD_REQUEST, GRAPHQL_RESPONSE_JSON)
        }
        MediaType::GraphQLResponseJson => (StatusCode::OK, GRAPHQL_RESPONSE_JSON),
        MediaType::Json => (StatusCode::OK, JSON),
    };
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(match content_type {
            GRAPHQL_RESPONSE_JSON => "application/graphql-response+json; charset=utf-8",
            _ => "application/json",
        }),
    );
    response
}

/// A POST must say its body is `application/json`; anything else (or nothing) is refused
/// with a 4xx rather than guessed at, as the specification asks.
pub fn unsupported_content_type(method: &axum::http::Method, headers: &HeaderMap) -> bool {
    if method != axum::http::Method::POST {
        return false;
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    !media.eq_ignore_ascii_case(JSON)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: Option<&str>) -> MediaType {
        let mut headers = HeaderMap::new();
        if let Some(value) = value {
            headers.insert(
                header::ACCEPT,
                HeaderValue::from_str(value).expect("header"),
            );
        }
        negotiate(&headers)
    }

    #[test]
    fn the_media_type_follows_accept() {
        assert_eq!(accept(None), MediaType::Json);
        assert_eq!(accept(Some("*/*")), MediaType::Json);
        assert_eq!(accept(Some("application/json")), MediaType::Json);
        assert_eq!(
            accept(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            MediaType::GraphQLResponseJson
        );
        assert_eq!(
            accept(Some(
                "application/json, application/graphql-response+json;q=0"
            )),
            MediaType::Json
        );
    }
}
