//! The only code that knows axum: /graphql (POST and GraphiQL), /graphql/ws, /healthz, the
//! hosted onboarding page (`onboarding_page`) and the Express dashboard (`express_dashboard`).

mod auth;
mod connect_page;
pub mod cors;
mod dashboard_page;
pub mod dashboard_sessions;
mod express_dashboard;
pub mod graphiql;
pub mod graphiql_examples;
mod graphql_over_http;
mod health;
mod onboarding_form;
mod onboarding_page;
pub mod operator;
mod prometheus;
pub mod request_id;
pub mod serve;
pub mod shard_front;
pub mod telemetry;
mod websocket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{ParseRequestError, ServerError, Value};
use async_graphql_axum::GraphQLRequest;
use axum::extract::{FromRef, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use tokio::sync::watch;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Instrument;

use crate::config::{MAX_REQUEST_BODY_BYTES, REQUEST_TIMEOUT_SECONDS};
use crate::graphql::errors::{code, to_graphql};
use crate::graphql::guard::GuardError;
use crate::graphql::TollgateSchema;
use crate::service::account_links::{PublicBaseUrl, ONBOARDING_PATH};
use crate::service::login_links::EXPRESS_PATH;
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

/// The close code and reason subscriptions get when the server shuts down.
pub const SHUTDOWN_CLOSE_CODE: u16 = 1001;
pub const SHUTDOWN_CLOSE_REASON: &str = "the server is shutting down";

/// Where GraphQL subscriptions connect.
const WEBSOCKET_PATH: &str = "/graphql/ws";

/// The routes a server serves, with the state a front over several shards serves their
/// websockets with (a websocket's key arrives only after the upgrade).
pub struct Routes {
    router: Router,
    state: HttpState,
}

impl Routes {
    /// The routes alone. The state goes with this value, so that when serving ends the
    /// router holds the last handle to the services and the store can close.
    pub fn into_router(self) -> Router {
        self.router
    }
}

/// What every handler shares, behind one `Arc`: a request clones one pointer, not each part.
#[derive(Clone)]
struct HttpState(Arc<HttpShared>);

impl std::ops::Deref for HttpState {
    type Target = HttpShared;

    fn deref(&self) -> &HttpShared {
        &self.0
    }
}

struct HttpShared {
    services: AppState,
    /// Becomes true when the server starts shutting down.
    closing: watch::Receiver<bool>,
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
    /// The schema's root fields, the only operation labels metrics use.
    root_fields: Arc<Vec<String>>,
    operator: crate::graphql::operator::OperatorSchema,
    /// Express dashboard sessions (in memory; see `dashboard_sessions`).
    dashboard_sessions: Arc<dashboard_sessions::DashboardSessions>,
    /// The CSRF secret and sign-up limit of the standalone accounts' hosted pages.
    hosted: connect_page::HostedSecrets,
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

/// The routes with their limits. `demo_secret_key` is pre-filled in GraphiQL (the caller
/// passes it only when listening on loopback); links point at `public_base_url`.
/// `closing` turning true ends every subscription with a clean close frame. The hosted
/// pages make their CSRF tokens with `hosted_pages_secret`, which every server shares.
pub fn router(
    services: AppState,
    schema: TollgateSchema,
    demo_secret_key: Option<&str>,
    public_base_url: PublicBaseUrl,
    closing: watch::Receiver<bool>,
    hosted_pages_secret: [u8; crate::service::shared_secrets::SHARED_SECRET_BYTES],
) -> Routes {
    let prefilled_key = graphiql::demo_key_for_graphiql(services.settings.listen, demo_secret_key);
    let page = graphiql::page(prefilled_key);
    prometheus::install();
    let cors = cors::layer(&services.settings.cors_origins).unwrap_or_else(|error| {
        tracing::error!(%error, "CORS is off");
        None
    });
    let state = HttpShared {
        operator: crate::graphql::operator::build_operator_schema(services.clone()),
        services,
        root_fields: Arc::new(crate::graphql::root_field_names(&schema)),
        closing,
        schema,
        graphiql: Arc::new(page),
        parsed: Arc::new(Mutex::new(HashMap::new())),
        public_base_url,
        subscriptions: websocket::PlatformSubscriptions::default(),
        dashboard_sessions: Arc::default(),
        hosted: connect_page::HostedSecrets::new(hosted_pages_secret),
    };
    let state = HttpState(Arc::new(state));
    let router = Router::new()
        .route("/", get(graphiql_page))
        .route("/graphql", get(graphiql_page).post(graphql))
        .route(WEBSOCKET_PATH, get(graphql_ws))
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
        .route(
            &format!("{EXPRESS_PATH}/login/{{platform}}/{{token}}"),
            get(express_dashboard::login),
        )
        .route(
            &dashboard_page::dashboard_path(),
            get(express_dashboard::show),
        )
        .route(
            &dashboard_page::add_bank_account_path(),
            axum::routing::post(express_dashboard::add_bank_account),
        )
        .route(
            &dashboard_page::default_external_account_path(),
            axum::routing::post(express_dashboard::set_default_external_account),
        )
        .route(
            &dashboard_page::sign_out_path(),
            axum::routing::post(express_dashboard::sign_out),
        )
        .route(
            connect_page::AUTHORIZE_PATH,
            get(connect_page::show_authorize).post(connect_page::submit_authorize),
        )
        .route(
            connect_page::SIGNUP_PATH,
            get(connect_page::show_signup).post(connect_page::submit_signup),
        )
        .layer(RequestBodyLimitLayer::new(MAX_REQUEST_BODY_BYTES))
        .layer(axum::middleware::from_fn(refuse_large_bodies))
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
    let router = router
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
        .with_state(state.clone());
    Routes { router, state }
}

async fn graphiql_page(State(state): State<HttpState>) -> Html<String> {
    Html(state.graphiql.as_str().to_owned())
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

/// The key in the Authorization header (Bearer in any case, or Basic with the key as user).
pub(crate) fn api_key(headers: &HeaderMap) -> Option<String> {
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
    access: Access,
) -> Result<Caller, (StatusCode, ServiceError)> {
    let key = authorization.ok_or_else(|| {
        (
            StatusCode::UNAUTHORIZED,
            ServiceError::Unauthenticated {
                message: "No API key provided: send 'Authorization: Bearer sk_…' (or basic auth with the key as user name) with a platform's secret key".into(),
            },
        )
    })?;
    let credential = services
        .authenticate_key(key)
        .map_err(|error| match error {
            ServiceError::Unauthenticated { .. } => (StatusCode::UNAUTHORIZED, error),
            other => (StatusCode::INTERNAL_SERVER_ERROR, other),
        })?;
    services
        .caller_for(credential, connect_account, access)
        .map_err(|error| {
            let status = match error {
                ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
                ServiceError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
                ServiceError::Forbidden { .. } => StatusCode::FORBIDDEN,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, error)
        })
}

async fn graphql(
    State(state): State<HttpState>,
    method: axum::http::Method,
    headers: HeaderMap,
    request: GraphQLRequest<BadRequestBody>,
) -> Response {
    let request_id = RequestId::from_header(telemetry::request_id(&headers));
    let span = request_id.span();
    run_graphql(state, method, headers, request, &request_id)
        .instrument(span)
        .await
}

async fn run_graphql(
    state: HttpState,
    method: axum::http::Method,
    headers: HeaderMap,
    request: GraphQLRequest<BadRequestBody>,
    request_id: &RequestId,
) -> Response {
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
    let mut request = request.into_inner();
    use_parsed_query(&state.parsed, &mut request);
    let access = access_of(&mut request);
    let key = api_key(&headers);
    let caller = match authenticate(&state.services, key.as_deref(), connect_account, access) {
        Ok(caller) => caller,
        Err((status, error)) => return refuse(status, error, request_id),
    };
    let operation_name = request.operation_name.clone();
    let mut details = telemetry::describe(
        request.parsed_query().ok(),
        operation_name.as_deref(),
        &state.root_fields,
    );
    details.platform = Some(caller.platform.id.to_string());
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
    let mut response = respond(
        response,
        media_type,
        state.services.settings.limits.max_response_bytes,
        request_id,
    );
    response.extensions_mut().insert(details);
    response
}

/// The response in the media type the client accepts: 429 with `Retry-After` when rate
/// limited, and an error instead of a body larger than the cap.
fn respond(
    response: async_graphql::Response,
    media_type: graphql_over_http::MediaType,
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
    drop(body);
    let mut http_response = graphql_over_http::respond(response, media_type);
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
        .on_upgrade(move |socket| websocket::serve(socket, state, protocol, None))
}
