//! The only code that knows axum: /graphql (POST and GraphiQL), /graphql/ws, /healthz, and
//! the hosted onboarding page (`onboarding_page`).

mod auth;
pub mod cors;
pub mod graphiql;
pub mod graphiql_examples;
mod graphql_over_http;
mod health;
mod onboarding_page;
pub mod operator;
mod prometheus;
pub mod telemetry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Data, ServerError, Value};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLWebSocket};
use axum::extract::{FromRef, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
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

#[derive(Clone)]
struct HttpState {
    services: AppState,
    schema: TollgateSchema,
    /// The GraphiQL page, built once (with the demo key pre-filled when there is one).
    graphiql: Arc<String>,
    /// Parsed query documents by their text: clients send the same few queries again and
    /// again, and parsing is a large share of a small request's cost.
    parsed: Arc<Mutex<HashMap<String, ExecutableDocument>>>,
    /// The schema's root fields, the only operation labels metrics use.
    root_fields: Arc<Vec<String>>,
    operator: crate::graphql::operator::OperatorSchema,
}

impl FromRef<HttpState> for AppState {
    fn from_ref(state: &HttpState) -> AppState {
        state.services.clone()
    }
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

pub fn router(services: AppState, schema: TollgateSchema, demo_secret_key: Option<&str>) -> Router {
    let prefilled_key = graphiql::demo_key_for_graphiql(services.settings.listen, demo_secret_key);
    let page = graphiql::page(prefilled_key);
    prometheus::install();
    let cors = cors::layer(&services.settings.cors_origins).unwrap_or_else(|error| {
        tracing::error!(%error, "CORS is off");
        None
    });
    let state = HttpState {
        operator: crate::graphql::operator::build_operator_schema(services.clone()),
        services,
        root_fields: Arc::new(crate::graphql::root_field_names(&schema)),
        schema,
        graphiql: Arc::new(page),
        parsed: Arc::new(Mutex::new(HashMap::new())),
    };
    let router = Router::new()
        .route("/", get(graphiql_page))
        .route("/graphql", get(graphiql_page).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .route(
            &format!("{}/{{file}}", graphiql::ASSET_PREFIX),
            get(graphiql::asset),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(prometheus::metrics_page))
        .route("/operator/graphql", axum::routing::post(operator::graphql))
        .route("/operator/backup", get(operator::backup))
        .route(
            &format!("{ONBOARDING_PATH}/{{platform}}/{{link}}"),
            get(onboarding_page::show).post(onboarding_page::submit),
        )
        .layer(RequestBodyLimitLayer::new(MAX_REQUEST_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(REQUEST_TIMEOUT_SECONDS),
        ));
    // CORS answers preflights before the request reaches a handler, inside the request's
    // span so they are logged like any request.
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn(telemetry::access_log))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(telemetry::request_span)
                .on_request(())
                .on_response(()),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(
            telemetry::MakeTollgateRequestId::default(),
        ))
        .layer(axum::middleware::map_request(
            telemetry::drop_unusable_request_id,
        ))
        .with_state(state)
}

async fn graphiql_page(State(state): State<HttpState>) -> Html<String> {
    Html(state.graphiql.as_str().to_owned())
}

/// A GraphQL-shaped error body for requests refused before execution.
fn refuse(status: StatusCode, error: ServiceError, request_id: Option<&str>) -> Response {
    let mut error = to_graphql(error).into_server_error(Default::default());
    tag_with_request_id(&mut error, request_id);
    let body = serde_json::json!({ "data": null, "errors": [error] });
    (status, Json(body)).into_response()
}

/// Puts the request's id in an error's `extensions.requestId`, so a client can quote it.
fn tag_with_request_id(error: &mut ServerError, request_id: Option<&str>) {
    if let Some(request_id) = request_id {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("requestId", Value::from(request_id));
    }
}

/// The key in the Authorization header (Bearer in any case, or Basic with the key as user).
fn api_key(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    auth::api_key(value)
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
                message: "No API key provided: send 'Authorization: Bearer sk_…' (or basic auth with the key as user name) with a platform's secret key".into(),
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
    method: axum::http::Method,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let request_id = telemetry::request_id(&headers);
    if graphql_over_http::unsupported_content_type(&method, &headers) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ServiceError::invalid(
                "Content-Type",
                "Send the request as Content-Type: application/json",
            ),
            request_id,
        );
    }
    let media_type = graphql_over_http::negotiate(&headers);
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
    let key = api_key(&headers);
    let caller = match authenticate(&state.services, key.as_deref(), connect_account) {
        Ok(caller) => caller,
        Err((status, error)) => return refuse(status, error, request_id),
    };
    let mut request = request
        .into_inner()
        .data(public_base_url(&headers, &state.services));
    use_parsed_query(&state.parsed, &mut request);
    let operation_name = request.operation_name.clone();
    let mut details = telemetry::describe(
        request.parsed_query().ok(),
        operation_name.as_deref(),
        &state.root_fields,
    );
    details.platform = Some(caller.platform.id.to_string());
    let (accounts, transfers) = crate::graphql::loaders::for_request(&state.services);
    let request = request.data(caller).data(accounts).data(transfers);
    let mut response = state.schema.execute(request).await;
    for error in &mut response.errors {
        classify(error);
        tag_with_request_id(error, request_id);
    }
    let mut response = graphql_over_http::respond(response, media_type);
    response.extensions_mut().insert(details);
    response
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
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let field = |name: &str| {
                        payload
                            .get(name)
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_owned)
                    };
                    let authorization = field("Authorization").or_else(|| field("authorization"));
                    let key = authorization.as_deref().and_then(auth::api_key);
                    let connect_account =
                        field("Connect-Account").or_else(|| field("connect-account"));
                    let caller =
                        authenticate(&services, key.as_deref(), connect_account.as_deref())
                            .map_err(|(_, error)| to_graphql(error))?;
                    let mut data = Data::default();
                    data.insert(caller);
                    Ok(data)
                })
                .serve()
        })
}
