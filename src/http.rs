//! The only code that knows axum: /graphql (POST and GraphiQL), /graphql/ws, /healthz, and
//! the hosted onboarding page (`onboarding_page`).

mod onboarding_page;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Data, ServerError, Value};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use tokio::sync::watch;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::{MAX_REQUEST_BODY_BYTES, REQUEST_TIMEOUT_SECONDS};
use crate::graphql::errors::{code, to_graphql};
use crate::graphql::TollgateSchema;
use crate::service::account_links::{PublicBaseUrl, ONBOARDING_PATH};
use crate::service::{AppState, Caller, ServiceError};

/// The header that names the connected account a request acts on.
pub const CONNECT_ACCOUNT_HEADER: &str = "connect-account";

/// How many distinct query documents are kept parsed.
pub const MAX_CACHED_QUERIES: usize = 512;
/// Queries longer than this are parsed every time rather than cached.
pub const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;

/// The close code and reason subscriptions get when the server shuts down.
pub const SHUTDOWN_CLOSE_CODE: u16 = 1001;
pub const SHUTDOWN_CLOSE_REASON: &str = "the server is shutting down";
/// How many outgoing subscription messages may wait for a slow client.
pub const MAX_QUEUED_SUBSCRIPTION_MESSAGES: usize = 64;

#[derive(Clone)]
struct HttpState {
    services: AppState,
    /// Becomes true when the server starts shutting down.
    closing: watch::Receiver<bool>,
    schema: TollgateSchema,
    /// The GraphiQL page, built once (with the demo key pre-filled when there is one).
    graphiql: Arc<String>,
    /// Parsed query documents by their text: clients send the same few queries again and
    /// again, and parsing is a large share of a small request's cost.
    parsed: Arc<Mutex<HashMap<String, ExecutableDocument>>>,
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

/// The routes; `closing` turning true ends every subscription with a clean close frame.
pub fn router(
    services: AppState,
    schema: TollgateSchema,
    demo_secret_key: Option<&str>,
    closing: watch::Receiver<bool>,
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
        closing,
        schema,
        graphiql: Arc::new(graphiql.finish()),
        parsed: Arc::new(Mutex::new(HashMap::new())),
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

/// A GraphQL-shaped error body for requests refused before execution.
fn refuse(status: StatusCode, error: ServiceError) -> Response {
    let error = to_graphql(error).into_server_error(Default::default());
    let body = serde_json::json!({ "data": null, "errors": [error] });
    (status, Json(body)).into_response()
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
    services.caller(platform, connect_account).map_err(|error| {
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
    request: GraphQLRequest,
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
            )
        }
    };
    let caller = match authenticate(&state.services, bearer(&headers), connect_account) {
        Ok(caller) => caller,
        Err((status, error)) => return refuse(status, error),
    };
    let mut request = request
        .into_inner()
        .data(public_base_url(&headers, &state.services));
    use_parsed_query(&state.parsed, &mut request);
    let (accounts, transfers) = crate::graphql::loaders::for_request(&state.services);
    let request = request.data(caller).data(accounts).data(transfers);
    let mut response = state.schema.execute(request).await;
    for error in &mut response.errors {
        classify(error);
    }
    GraphQLResponse::from(response).into_response()
}

/// The longest Host header used to build links back to this server.
const MAX_HOST_CHARS: usize = 255;

/// This server's URL as the client reached it (the Host header), for links such as account
/// links; a missing or odd Host falls back to the listening address.
fn public_base_url(headers: &HeaderMap, services: &AppState) -> PublicBaseUrl {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host.len() <= MAX_HOST_CHARS
                && host
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b".-:[]".contains(&byte))
        });
    match host {
        Some(host) => PublicBaseUrl(format!("http://{host}")),
        None => PublicBaseUrl(format!("http://{}", services.settings.listen)),
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
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let services = state.services.clone();
    let schema = state.schema.clone();
    let mut closing = state.closing.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let (mut sink, stream) = socket.split();
            // The session writes into a queue that one forwarder drains to the socket, so
            // the socket is still ours to close when the server shuts down.
            let (outgoing, mut queued) =
                futures::channel::mpsc::channel::<Message>(MAX_QUEUED_SUBSCRIPTION_MESSAGES);
            let session = GraphQLWebSocket::new_with_pair(outgoing, stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let field = |name: &str| {
                        payload
                            .get(name)
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_owned)
                    };
                    let authorization = field("Authorization").or_else(|| field("authorization"));
                    let key = authorization
                        .as_deref()
                        .and_then(|value| value.strip_prefix("Bearer "))
                        .map(str::trim);
                    let connect_account = field("Connect-Account");
                    let caller = authenticate(&services, key, connect_account.as_deref())
                        .map_err(|(_, error)| to_graphql(error))?;
                    let mut data = Data::default();
                    data.insert(caller);
                    Ok(data)
                })
                .serve();
            let shut_down = {
                let forward = async {
                    while let Some(message) = queued.next().await {
                        if sink.send(message).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::select! {
                    _ = futures::future::join(session, forward) => false,
                    _ = closing.wait_for(|closing| *closing) => true,
                }
            };
            if shut_down {
                let frame = CloseFrame {
                    code: SHUTDOWN_CLOSE_CODE,
                    reason: SHUTDOWN_CLOSE_REASON.into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                let _ = sink.close().await;
            }
        })
}
