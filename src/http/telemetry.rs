//! What the server says about each request: a request id (taken from a well-formed
//! `x-request-id` or made here) on the request's span, so every log line written while it
//! runs carries it; one access log line per request; and the request metrics.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::config::{MAX_LOGGED_OPERATION_NAME_CHARS, MAX_REQUEST_ID_CHARS};
use crate::ids::IdGenerator;

/// The header that carries a request's id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The label for a GraphQL request whose root field is not in the schema (bad input), so
/// clients cannot grow the metrics without bound.
const UNKNOWN_OPERATION: &str = "unknown";

/// Request ids made here: `req_` and the same time-ordered random id as every object.
#[derive(Clone, Default)]
pub struct MakeTollgateRequestId {
    ids: Arc<IdGenerator>,
}

impl MakeRequestId for MakeTollgateRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let id = format!("req_{}", self.ids.body());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Drops a client's request id that is too long or holds anything but letters, digits,
/// `-`, `_` and `.`: it would go into every log line.
pub async fn drop_unusable_request_id(mut request: Request) -> Request {
    let usable = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|id| {
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_CHARS
                && id
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
        });
    if !usable {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    request
}

/// The request's id, once `SetRequestIdLayer` has run.
pub fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
}

/// Paths whose last segment is a credential (a login link's token, an onboarding link).
const CREDENTIAL_PATH_PREFIXES: [&str; 2] = ["/express/login/", "/onboarding/"];

/// The path as logged: a credential in it is replaced by `…`.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    let carries_credential = CREDENTIAL_PATH_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix));
    match path.rsplit_once('/') {
        Some((head, _)) if carries_credential => format!("{head}/…").into(),
        _ => path.into(),
    }
}

/// The span every line logged during the request is written in.
pub fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::info_span!(
        "request",
        request_id = request_id(request.headers()).unwrap_or_default(),
        method = %request.method(),
        path = %loggable_path(request.uri().path()),
    )
}

/// What the GraphQL handler learnt about a request, for the access log and metrics.
#[derive(Clone, Debug, Default)]
pub struct RequestDetails {
    /// The operation name the client gave, if any (shortened for the log).
    pub operation_name: Option<String>,
    /// The first root field (`createCharge`), or `unknown` when it is not in the schema.
    pub root_field: String,
    pub platform: Option<String>,
}

/// The operation's name and first root field, from the parsed document.
pub fn describe(
    document: Option<&ExecutableDocument>,
    operation_name: Option<&str>,
    root_fields: &[String],
) -> RequestDetails {
    let operation = document.and_then(|document| match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .iter()
            .find(|(key, _)| key.as_str() == name)
            .map(|(_, op)| op),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        (DocumentOperations::Multiple(_), None) => None,
    });
    let first_field = operation.and_then(|operation| {
        operation
            .node
            .selection_set
            .node
            .items
            .iter()
            .find_map(|selection| match &selection.node {
                Selection::Field(field) => Some(field.node.name.node.to_string()),
                _ => None,
            })
    });
    let root_field = first_field
        .filter(|field| root_fields.iter().any(|known| known == field))
        .unwrap_or_else(|| UNKNOWN_OPERATION.to_owned());
    let named = operation_name
        .map(str::to_owned)
        .or_else(|| match document {
            Some(ExecutableDocument {
                operations: DocumentOperations::Multiple(operations),
                ..
            }) if operations.len() == 1 => operations.keys().next().map(|name| name.to_string()),
            _ => None,
        });
    RequestDetails {
        operation_name: named
            .map(|name| name.chars().take(MAX_LOGGED_OPERATION_NAME_CHARS).collect()),
        root_field,
        platform: None,
    }
}

/// Writes the access log line and the request metrics once the response is ready.
pub async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let details = response.extensions().get::<RequestDetails>();
    let operation = details.map_or(route.as_str(), |details| details.root_field.as_str());
    tracing::info!(
        target: "tollgate::access",
        status,
        duration_ms = elapsed.as_micros() as f64 / 1000.0,
        route = route.as_str(),
        operation,
        operation_name = details.and_then(|details| details.operation_name.as_deref()),
        platform = details.and_then(|details| details.platform.as_deref()),
        "request"
    );
    metrics::counter!(
        "tollgate_http_requests_total",
        "operation" => operation.to_owned(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "tollgate_http_request_duration_seconds",
        "operation" => operation.to_owned()
    )
    .record(elapsed);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_paths_are_not_logged() {
        assert_eq!(
            loggable_path("/express/login/plat_1/abcdef"),
            "/express/login/plat_1/…"
        );
        assert_eq!(
            loggable_path("/onboarding/plat_1/link_2"),
            "/onboarding/plat_1/…"
        );
        assert_eq!(loggable_path("/express/dashboard"), "/express/dashboard");
        assert_eq!(loggable_path("/graphql"), "/graphql");
    }

    fn details(query: &str, name: Option<&str>) -> RequestDetails {
        let document = async_graphql::parser::parse_query(query).ok();
        let known = vec!["createCharge".to_owned(), "platform".to_owned()];
        describe(document.as_ref(), name, &known)
    }

    #[test]
    fn the_root_field_names_the_operation_and_unknown_fields_are_one_label() {
        assert_eq!(details("{ platform { id } }", None).root_field, "platform");
        assert_eq!(
            details("mutation Pay { createCharge(input: {}) { id } }", None).root_field,
            "createCharge"
        );
        let two = "query A { platform { id } } mutation B { createCharge { id } }";
        assert_eq!(details(two, Some("B")).root_field, "createCharge");
        assert_eq!(details(two, Some("B")).operation_name.as_deref(), Some("B"));
        assert_eq!(details(two, None).root_field, "unknown");
        assert_eq!(
            details("query Mine { platform { id } }", None)
                .operation_name
                .as_deref(),
            Some("Mine")
        );
        assert_eq!(details("{ made_up_field }", None).root_field, "unknown");
        assert_eq!(details("{ broken", None).root_field, "unknown");
        let long = "x".repeat(500);
        assert_eq!(
            details("{ platform { id } }", Some(&long))
                .operation_name
                .map(|name| name.len()),
            Some(MAX_LOGGED_OPERATION_NAME_CHARS)
        );
    }
}
