//! The hosted pages of standalone accounts: `/signup` (a new standalone account and its key,
//! shown once) and `/connect/authorize` (an account holder approves or denies a platform's
//! request to connect, then the browser goes back to the platform with a code or an error).
//!
//! Both forms carry a CSRF token bound to the request: an HMAC, under a secret kept in the
//! store (made once, shared by every server over it, so a form one server renders is
//! accepted by another), of a random cookie and of the parameters the page was shown with,
//! so a token is good only for this browser and this request (double submit). Everything
//! printed is escaped; a request whose platform, scope or redirect URI is wrong is answered
//! with an error page, never a redirect.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::onboarding_form::{escape_html, page};
use super::onboarding_page::{foreign_origin, hardened};
use super::HttpState;
use crate::service::connect::{AuthorizationParams, AuthorizationRequest};
use crate::service::ServiceError;

pub const AUTHORIZE_PATH: &str = "/connect/authorize";
pub const SIGNUP_PATH: &str = "/signup";
/// The cookie and the form field that carry the CSRF token.
const CSRF_COOKIE: &str = "tollgate_connect_csrf";
const CSRF_FIELD: &str = "csrfToken";
/// Random bytes in the cookie's token and in the server's secret.
const TOKEN_BYTES: usize = 32;
/// The most form fields a submission may carry; the forms have a handful.
const MAX_FORM_FIELDS: usize = 16;
/// Sign-ups one server accepts per minute (the page needs no key).
pub const SIGNUPS_PER_MINUTE: u32 = 30;

type FormValues = HashMap<String, String>;

/// What the pages share: the secret their CSRF tokens are made with, and the sign-up limit.
#[derive(Clone)]
pub struct HostedSecrets {
    csrf_secret: Arc<[u8; TOKEN_BYTES]>,
    signups: Arc<DefaultDirectRateLimiter>,
}

impl HostedSecrets {
    /// The pages' state around `csrf_secret`, the secret every server shares.
    pub fn new(csrf_secret: [u8; TOKEN_BYTES]) -> HostedSecrets {
        let per_minute =
            std::num::NonZeroU32::new(SIGNUPS_PER_MINUTE).unwrap_or(std::num::NonZeroU32::MIN);
        HostedSecrets {
            csrf_secret: Arc::new(csrf_secret),
            signups: Arc::new(RateLimiter::direct(Quota::per_minute(per_minute))),
        }
    }

    /// The token a form carries: HMAC(secret, cookie token, what the form is for).
    fn form_token(&self, cookie: &str, purpose: &str) -> String {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.csrf_secret.as_slice()) else {
            return String::new();
        };
        mac.update(cookie.as_bytes());
        mac.update(b"\n");
        mac.update(purpose.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether a posted form carries the token made for this cookie and purpose.
    fn form_token_matches(&self, cookie: Option<&str>, purpose: &str, values: &FormValues) -> bool {
        let Some(cookie) = cookie else {
            return false;
        };
        let expected = self.form_token(cookie, purpose);
        let given = values
            .get(CSRF_FIELD)
            .map(String::as_bytes)
            .unwrap_or_default();
        !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given))
    }
}

fn new_cookie_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The browser's CSRF cookie, if it has one that could be ours.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, _)| *name == CSRF_COOKIE)
        .map(|(_, token)| token.to_owned())
        .filter(|token| {
            token.len() == TOKEN_BYTES * 2 && token.bytes().all(|byte| byte.is_ascii_hexdigit())
        })
}

fn with_cookie(mut response: Response, token: &str, secure: bool) -> Response {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn html(status: StatusCode, body: String) -> Response {
    hardened((status, Html(body)).into_response())
}

fn message(status: StatusCode, title: &str, text: &str) -> Response {
    html(
        status,
        page(title, &format!("<p>{}</p>", escape_html(text))),
    )
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    hardened(response)
}

/// What an error may show: the message of a refusal, never an internal one.
fn shown(error: &ServiceError) -> (StatusCode, String) {
    match error {
        ServiceError::InvalidRequest { message, .. } | ServiceError::NotFound { message, .. } => {
            (StatusCode::BAD_REQUEST, message.clone())
        }
        ServiceError::Unauthenticated { message } => (StatusCode::UNAUTHORIZED, message.clone()),
        other => {
            tracing::error!(error = %other, "a hosted connect page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side; please try again.".to_owned(),
            )
        }
    }
}

fn form_refused() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "tollgate",
        "This form has expired or was not sent from this page; please open it again.",
    )
}

/// The parameters the authorization form was shown with, in one canonical text.
fn authorize_purpose(params: &AuthorizationParams) -> String {
    let field = |value: &Option<String>| value.clone().unwrap_or_default();
    serde_json::json!([
        "authorize",
        field(&params.client_id),
        field(&params.response_type),
        field(&params.scope),
        field(&params.state),
        field(&params.redirect_uri),
    ])
    .to_string()
}

fn params_from_form(values: &FormValues) -> AuthorizationParams {
    let field = |name: &str| values.get(name).cloned();
    AuthorizationParams {
        client_id: field("client_id"),
        response_type: field("response_type"),
        scope: field("scope"),
        state: field("state"),
        redirect_uri: field("redirect_uri"),
    }
}

fn hidden(name: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape_html(value)
        ),
        None => String::new(),
    }
}

fn authorize_form(
    request: &AuthorizationRequest,
    params: &AuthorizationParams,
    token: &str,
    error: Option<&str>,
) -> String {
    let error = error.map_or_else(String::new, |error| {
        format!("<p class=\"error\">{}</p>", escape_html(error))
    });
    let body = format!(
        "<h1>Connect to {name}</h1>\
         <p><strong>{name}</strong> ({id}) asks to connect to your account. It will be able to \
         {what}.</p>\
         <p>You will be sent back to {redirect}.</p>{error}\
         <form method=\"post\" action=\"{AUTHORIZE_PATH}\">\
         {client_id}{response_type}{scope}{state}{redirect_uri}\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{token}\">\
         <label>Your account's secret key <input type=\"password\" name=\"secretKey\" autocomplete=\"off\"></label>\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Connect</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
         </form>",
        name = escape_html(&request.platform.name),
        id = escape_html(request.platform.id.as_ref()),
        what = escape_html(request.scope.describe()),
        redirect = escape_html(&request.redirect_uri),
        client_id = hidden("client_id", params.client_id.as_deref()),
        response_type = hidden("response_type", params.response_type.as_deref()),
        scope = hidden("scope", params.scope.as_deref()),
        state = hidden("state", params.state.as_deref()),
        redirect_uri = hidden("redirect_uri", params.redirect_uri.as_deref()),
        token = escape_html(token),
    );
    page("Connect your account", &body)
}

pub(super) async fn show_authorize(
    State(state): State<HttpState>,
    Query(params): Query<AuthorizationParams>,
    headers: HeaderMap,
) -> Response {
    let request = match state.services.authorization_request(&params) {
        Ok(request) => request,
        Err(error) => {
            let (status, text) = shown(&error);
            return message(status, "This connection request is not valid", &text);
        }
    };
    let cookie = cookie_token(&headers).unwrap_or_else(new_cookie_token);
    let token = state
        .hosted
        .form_token(&cookie, &authorize_purpose(&params));
    let secure = state.public_base_url.0.starts_with("https://");
    with_cookie(
        html(
            StatusCode::OK,
            authorize_form(&request, &params, &token, None),
        ),
        &cookie,
        secure,
    )
}

pub(super) async fn submit_authorize(
    State(state): State<HttpState>,
    headers: HeaderMap,
    form: Result<Form<FormValues>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(values)) = form else {
        return message(
            StatusCode::BAD_REQUEST,
            "tollgate",
            "The form could not be read.",
        );
    };
    if values.len() > MAX_FORM_FIELDS {
        return message(
            StatusCode::BAD_REQUEST,
            "tollgate",
            "The form has too many fields.",
        );
    }
    let params = params_from_form(&values);
    let request = match state.services.authorization_request(&params) {
        Ok(request) => request,
        Err(error) => {
            let (status, text) = shown(&error);
            return message(status, "This connection request is not valid", &text);
        }
    };
    let cookie = cookie_token(&headers);
    let purpose = authorize_purpose(&params);
    if !state
        .hosted
        .form_token_matches(cookie.as_deref(), &purpose, &values)
        || foreign_origin(&headers, &state.public_base_url.0)
    {
        return form_refused();
    }
    let decided = match values.get("decision").map(String::as_str) {
        Some("deny") => state.services.deny_authorization(&request),
        Some("approve") => {
            let key = values
                .get("secretKey")
                .map(String::as_str)
                .unwrap_or_default();
            state.services.approve_authorization(&request, key).await
        }
        _ => Err(ServiceError::invalid("decision", "Choose Connect or Deny")),
    };
    match decided {
        Ok(location) => see_other(&location),
        Err(
            error @ (ServiceError::Unauthenticated { .. } | ServiceError::InvalidRequest { .. }),
        ) => {
            let (status, text) = shown(&error);
            let token = values.get(CSRF_FIELD).cloned().unwrap_or_default();
            html(
                status,
                authorize_form(&request, &params, &token, Some(&text)),
            )
        }
        Err(error) => {
            let (status, text) = shown(&error);
            message(status, "tollgate", &text)
        }
    }
}

fn signup_form(token: &str, values: &FormValues, error: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |error| {
        format!("<p class=\"error\">{}</p>", escape_html(error))
    });
    let value = |name: &str| escape_html(values.get(name).map(String::as_str).unwrap_or_default());
    let body = format!(
        "<h1>Create an account</h1>{error}\
         <form method=\"post\" action=\"{SIGNUP_PATH}\">\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{token}\">\
         <label>Email <input type=\"email\" name=\"email\" value=\"{email}\"></label>\
         <label>Country (two letters, e.g. US) <input name=\"country\" value=\"{country}\" maxlength=\"2\"></label>\
         <button type=\"submit\">Create account</button></form>",
        token = escape_html(token),
        email = value("email"),
        country = value("country"),
    );
    page("Create an account", &body)
}

pub(super) async fn show_signup(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    let cookie = cookie_token(&headers).unwrap_or_else(new_cookie_token);
    let token = state.hosted.form_token(&cookie, "signup");
    let secure = state.public_base_url.0.starts_with("https://");
    with_cookie(
        html(
            StatusCode::OK,
            signup_form(&token, &FormValues::new(), None),
        ),
        &cookie,
        secure,
    )
}

pub(super) async fn submit_signup(
    State(state): State<HttpState>,
    headers: HeaderMap,
    form: Result<Form<FormValues>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(values)) = form else {
        return message(
            StatusCode::BAD_REQUEST,
            "tollgate",
            "The form could not be read.",
        );
    };
    if values.len() > MAX_FORM_FIELDS {
        return message(
            StatusCode::BAD_REQUEST,
            "tollgate",
            "The form has too many fields.",
        );
    }
    let cookie = cookie_token(&headers);
    if !state
        .hosted
        .form_token_matches(cookie.as_deref(), "signup", &values)
        || foreign_origin(&headers, &state.public_base_url.0)
    {
        return form_refused();
    }
    if state.hosted.signups.check().is_err() {
        return message(
            StatusCode::TOO_MANY_REQUESTS,
            "tollgate",
            "Too many sign-ups right now; please try again in a minute.",
        );
    }
    let field = |name: &str| values.get(name).map(String::as_str).unwrap_or_default();
    match state
        .services
        .create_standalone_account(field("email"), field("country"))
        .await
    {
        Ok(created) => {
            let body = format!(
                "<h1>Your account</h1><p>Account <code>{id}</code> is ready.</p>\
                 <p>Its secret key is shown this once; keep it somewhere safe:</p>\
                 <p><code>{key}</code></p>\
                 <p>Send it as <code>Authorization: Bearer …</code> to <code>/graphql</code>, \
                 and paste it here when a platform asks to connect.</p>",
                id = escape_html(&created.id),
                key = escape_html(&created.secret_key),
            );
            html(StatusCode::CREATED, page("Your account", &body))
        }
        Err(error @ ServiceError::InvalidRequest { .. }) => {
            let (_, text) = shown(&error);
            let token = values.get(CSRF_FIELD).cloned().unwrap_or_default();
            html(
                StatusCode::UNPROCESSABLE_ENTITY,
                signup_form(&token, &values, Some(&text)),
            )
        }
        Err(error) => {
            let (status, text) = shown(&error);
            message(status, "tollgate", &text)
        }
    }
}
