//! The only code that knows axum: /graphql (POST and GraphiQL), /graphql/ws, /healthz, and
//! the hosted onboarding page (`onboarding_page`).

mod onboarding_page;
pub mod request_id;
pub mod serve;
mod websocket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{ParseRequestError, ServerError, Value};
use async_graphql_axum::GraphQLRequest;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Instrument;

use crate::config::{MAX_REQUEST_BODY_BYTES, REQUEST_TIMEOUT_SECONDS};
use crate::graphql::errors::{code, to_graphql};
use crate::graphql::guard::GuardError;
use crate::graphql::TollgateSchema;
use crate::service::account_links::{PublicBaseUrl, ONBOARDING_PATH};
use crate::service::{Access, AppState, Caller, ServiceError};
use request_id::{RequestId, REQUEST_ID_HEADER};

/// The header that names the connected account a request acts on.
pub const CONNECT_ACCOUNT_HEADER: &str = "connect-account";

/// How many distinct query documents are kept parsed.
pub const MAX_CACHED_QUERIES: usize = 512;
/// The largest refused body still read to its end so the client sees the refusal; a larger
/// one is refused with the connection closed under it.
pub const MAX_DRAINED_BODY_BYTES: u64 = 16 * 1024 * 1024;
/// How long reading a refused body may take.
const DRAIN_BODY_TIMEOUT_SECONDS: u64 = 5;
/// Queries longer than this are parsed every time rather than cached.
pub const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;

#[derive(Clone)]
struct HttpState {
    services: AppState,
    schema: TollgateSchema,
    /// The GraphiQL page, built once (with the demo key pre-filled when there is one).
    graphiql: Arc<String>,
    /// Parsed query documents by their text: clients send the same few queries again and
    /// again, and parsing is a large share of a small request's cost.
    parsed: Arc<Mutex<HashMap<String, ExecutableDocument>>>,
    /// Where links to this server point (`--public-url`, or the listening address).
    public_base_url: PublicBaseUrl,
    /// Subscriptions held per platform, over all its websocket connections.
    subscriptions: websocket::PlatformSubscriptions,
}

/// Hands the request a cached parse of its query, or parses and caches it.
fn use_parsed_query(
    cache: &Mutex<HashMap<String, ExecutableDocument>>,
    request: &mut async_graphql::Request,
) {
    if request.query.len() > MAX_CACHED_QUERY_BYTES {
        return;
    }
    let cached = cache
        .lock()
        .ok()
        .and_then(|cache| cache.get(&request.query).cloned());
    if let Some(document) = cached {
        request.set_parsed_query(document);
        return;
    }
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return;
    };
    if let Ok(mut cache) = cache.lock() {
        if cache.len() >= MAX_CACHED_QUERIES {
            cache.clear();
        }
        cache.insert(request.query.clone(), document.clone());
    }
    request.set_parsed_query(document);
}

/// The routes with their limits. `demo_secret_key` is pre-filled in GraphiQL (the caller
/// passes it only when listening on loopback); links point at `public_base_url`.
pub fn router(
    services: AppState,
    schema: TollgateSchema,
    demo_secret_key: Option<&str>,
    public_base_url: PublicBaseUrl,
) -> Router {
    let authorization = demo_secret_key.map(|key| format!("Bearer {key}"));
    let mut graphiql = GraphiQLSource::build()
        .endpoint("/graphql")
        .subscription_endpoint("/graphql/ws")
        .title("tollgate");
    if let Some(authorization) = authorization.as_deref() {
        graphiql = graphiql
            .header("Authorization", authorization)
            .ws_connection_param("Authorization", authorization);
    }
    let state = HttpState {
        services,
        schema,
        graphiql: Arc::new(graphiql.finish()),
        parsed: Arc::new(Mutex::new(HashMap::new())),
        public_base_url,
        subscriptions: websocket::PlatformSubscriptions::default(),
    };
    Router::new()
        .route("/", get(graphiql_page))
        .route("/graphql", get(graphiql_page).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(healthz))
        .route(
            &format!("{ONBOARDING_PATH}/{{platform}}/{{link}}"),
            get(onboarding_page::show).post(onboarding_page::submit),
        )
        .layer(RequestBodyLimitLayer::new(MAX_REQUEST_BODY_BYTES))
        .layer(axum::middleware::from_fn(refuse_large_bodies))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(REQUEST_TIMEOUT_SECONDS),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn graphiql_page(State(state): State<HttpState>) -> Html<String> {
    Html(state.graphiql.as_str().to_owned())
}

async fn healthz() -> &'static str {
    "ok"
}

/// A GraphQL-shaped error body for requests refused before execution: no location (there
/// is no document position to point at), and the request id.
fn refuse(status: StatusCode, error: ServiceError, request_id: &RequestId) -> Response {
    let error = to_graphql(error);
    let mut error_with_id = ServerError::new(error.message, None);
    error_with_id.extensions = error.extensions;
    error_with_id
        .extensions
        .get_or_insert_with(Default::default)
        .set("requestId", request_id.as_str());
    let body = serde_json::json!({ "data": null, "errors": [error_with_id] });
    with_request_id((status, Json(body)).into_response(), request_id)
}

fn with_request_id(mut response: Response, request_id: &RequestId) -> Response {
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Refuses a body declared larger than the limit with a GraphQL-shaped 413. The body is
/// read and dropped first (up to `MAX_DRAINED_BODY_BYTES`): a server that answers while
/// the client is still sending resets the connection, and the client never sees the answer.
async fn refuse_large_bodies(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let Some(declared) = declared.filter(|declared| *declared > MAX_REQUEST_BODY_BYTES as u64)
    else {
        return next.run(request).await;
    };
    if declared <= MAX_DRAINED_BODY_BYTES {
        let mut body = request.into_body().into_data_stream();
        let _ = tokio::time::timeout(Duration::from_secs(DRAIN_BODY_TIMEOUT_SECONDS), async {
            while let Some(Ok(_)) = futures::StreamExt::next(&mut body).await {}
        })
        .await;
    }
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        ServiceError::invalid(
            "body",
            format!("The request body is larger than {MAX_REQUEST_BODY_BYTES} bytes"),
        ),
        &RequestId::new(),
    )
}

/// A body that is not a GraphQL request. The parser's own text (Rust type names, serde
/// positions) is logged, never sent.
pub struct BadRequestBody(ParseRequestError);

impl From<ParseRequestError> for BadRequestBody {
    fn from(error: ParseRequestError) -> BadRequestBody {
        BadRequestBody(error)
    }
}

impl IntoResponse for BadRequestBody {
    fn into_response(self) -> Response {
        let request_id = RequestId::new();
        let (status, message) = match &self.0 {
            ParseRequestError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The request body is larger than {MAX_REQUEST_BODY_BYTES} bytes"),
            ),
            _ => (
                StatusCode::BAD_REQUEST,
                "The body must be a GraphQL request: JSON with \"query\" and optionally \"variables\" (an object) and \"operationName\"".to_owned(),
            ),
        };
        tracing::info!(request_id = %request_id.as_str(), error = ?self.0, "refused a request body");
        refuse(
            status,
            ServiceError::InvalidRequest {
                message,
                param: None,
            },
            &request_id,
        )
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Authenticates the key and checks the Connect-Account header.
fn authenticate(
    services: &AppState,
    authorization: Option<&str>,
    connect_account: Option<&str>,
    access: Access,
) -> Result<Caller, (StatusCode, ServiceError)> {
    let key = authorization.ok_or_else(|| {
        (
            StatusCode::UNAUTHORIZED,
            ServiceError::Unauthenticated {
                message: "No API key provided: send 'Authorization: Bearer sk_…' with a platform's secret key".into(),
            },
        )
    })?;
    let platform = services.authenticate(key).map_err(|error| match error {
        ServiceError::Unauthenticated { .. } => (StatusCode::UNAUTHORIZED, error),
        other => (StatusCode::INTERNAL_SERVER_ERROR, other),
    })?;
    services
        .caller(platform, connect_account, access)
        .map_err(|error| {
            let status = match error {
                ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
                ServiceError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, error)
        })
}

async fn graphql(
    State(state): State<HttpState>,
    headers: HeaderMap,
    request: GraphQLRequest<BadRequestBody>,
) -> Response {
    let request_id = RequestId::new();
    let span = request_id.span();
    run_graphql(state, headers, request, &request_id)
        .instrument(span)
        .await
}

async fn run_graphql(
    state: HttpState,
    headers: HeaderMap,
    request: GraphQLRequest<BadRequestBody>,
    request_id: &RequestId,
) -> Response {
    let connect_account = match headers
        .get(CONNECT_ACCOUNT_HEADER)
        .map(|value| value.to_str())
    {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                ServiceError::invalid(
                    "Connect-Account",
                    "The Connect-Account header must be an account id such as acct_…",
                ),
                request_id,
            )
        }
    };
    let mut request = request.into_inner();
    use_parsed_query(&state.parsed, &mut request);
    let access = access_of(&mut request);
    let caller = match authenticate(&state.services, bearer(&headers), connect_account, access) {
        Ok(caller) => caller,
        Err((status, error)) => return refuse(status, error, request_id),
    };
    let request = request.data(state.public_base_url.clone());
    let (accounts, transfers) = crate::graphql::loaders::for_request(&state.services);
    let request = request.data(caller).data(accounts).data(transfers);
    let mut response = state.schema.execute(request).await;
    for error in &mut response.errors {
        classify(error);
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("requestId", request_id.as_str());
    }
    respond(
        response,
        state.services.settings.limits.max_response_bytes,
        request_id,
    )
}

/// The response as JSON: 429 with `Retry-After` when rate limited, and an error instead of
/// a body larger than the cap.
fn respond(
    response: async_graphql::Response,
    max_response_bytes: usize,
    request_id: &RequestId,
) -> Response {
    let retry_after = response.errors.first().and_then(|error| {
        let extensions = error.extensions.as_ref()?;
        if extensions.get("code")? != &Value::from(code::RATE_LIMITED) {
            return None;
        }
        extensions.get("retryAfter").cloned()
    });
    let body = match serde_json::to_vec(&response) {
        Ok(body) => body,
        Err(error) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                ServiceError::internal("serializing a response", error),
                request_id,
            );
        }
    };
    if body.len() > max_response_bytes {
        tracing::warn!(bytes = body.len(), "a response was larger than the cap");
        let mut error = GuardError::ResponseTooLarge {
            bytes: body.len() as u64,
            limit: max_response_bytes as u64,
        }
        .to_server_error();
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("requestId", request_id.as_str());
        let body = serde_json::json!({ "data": null, "errors": [error] });
        return with_request_id(Json(body).into_response(), request_id);
    }
    let mut http_response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(Value::Number(seconds)) = retry_after {
        *http_response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            http_response
                .headers_mut()
                .insert(header::RETRY_AFTER, value);
        }
    }
    with_request_id(http_response, request_id)
}

/// Whether the operation the request runs is a mutation. A document that cannot be parsed
/// runs nothing; one whose operation cannot be told apart counts as a change if any of its
/// operations is a mutation, which only ever turns a NOT_FOUND into a FORBIDDEN.
fn access_of(request: &mut async_graphql::Request) -> Access {
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return Access::Read;
    };
    let is_mutation = |ty: OperationType| ty == OperationType::Mutation;
    let changes = match (&document.operations, operation_name.as_deref()) {
        (DocumentOperations::Single(operation), _) => is_mutation(operation.node.ty),
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .iter()
            .find(|(candidate, _)| candidate.as_str() == name)
            .is_some_and(|(_, operation)| is_mutation(operation.node.ty)),
        (DocumentOperations::Multiple(operations), None) => operations
            .values()
            .any(|operation| is_mutation(operation.node.ty)),
    };
    if changes {
        Access::Change
    } else {
        Access::Read
    }
}

/// Errors raised by GraphQL itself (syntax, validation, limits) carry no code: they are the
/// client's to fix. Any other error without a code would be a resolver that skipped the
/// mapping; it is reported as INTERNAL rather than leaking its text.
fn classify(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|extensions| extensions.get("code").is_some());
    if has_code {
        return;
    }
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if error.path.is_empty() {
        extensions.set("code", Value::from(code::INVALID_REQUEST));
        extensions.set("type", Value::from("invalid_request_error"));
    } else {
        tracing::error!(message = %error.message, "a resolver error had no code");
        error.message = crate::graphql::errors::INTERNAL_MESSAGE.to_owned();
        extensions.set("code", Value::from(code::INTERNAL));
    }
}

async fn graphql_ws(
    State(state): State<HttpState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = websocket::protocol(&headers) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            ServiceError::invalid(
                "Sec-WebSocket-Protocol",
                "Offer the graphql-transport-ws (or graphql-ws) subprotocol",
            ),
            &RequestId::new(),
        );
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| websocket::serve(socket, state, protocol))
}
