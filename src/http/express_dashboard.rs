//! The hosted Express dashboard: a login link (`/express/login/<platform>/<token>`) is
//! redeemed once for a session cookie (HttpOnly, SameSite=Lax, bounded lifetime), and the
//! dashboard's pages and forms act through the services as that account. Every form carries
//! the session's CSRF token (and, when the browser sends an Origin, must come from this
//! server); every page is `no-store` and may not be framed.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use subtle::ConstantTimeEq;

use super::dashboard_page::{dashboard_path, message_page, render_dashboard, CSRF_FIELD};
use super::dashboard_sessions::{DashboardSession, DASHBOARD_SESSION_LIFETIME_SECONDS};
use super::onboarding_page::{cookie_value, foreign_origin, hardened};
use super::HttpState;
use crate::domain::bank_accounts::BankAccountInput;
use crate::money::Currency;
use crate::service::login_links::{LoginOutcome, EXPRESS_PATH};
use crate::service::{Access, Caller, ServiceError};

/// The cookie that carries the session token.
pub(super) const SESSION_COOKIE: &str = "tollgate_dashboard";
/// The most fields a dashboard form may carry; the largest has six.
const MAX_FORM_FIELDS: usize = 16;
/// The longest value accepted in a dashboard form field.
const MAX_FORM_VALUE_CHARS: usize = 256;

type FormValues = HashMap<String, String>;
type FormResult = Result<Form<FormValues>, axum::extract::rejection::FormRejection>;

fn page_response(status: StatusCode, html: String) -> Response {
    hardened((status, Html(html)).into_response())
}

fn redirect_to_dashboard() -> Response {
    hardened(
        (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, dashboard_path())],
        )
            .into_response(),
    )
}

fn failed(error: &ServiceError) -> Response {
    tracing::error!(%error, "the Express dashboard failed");
    failed_page()
}

fn failed_page() -> Response {
    page_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        message_page("Something went wrong; please try again later."),
    )
}

fn signed_out() -> Response {
    page_response(
        StatusCode::UNAUTHORIZED,
        message_page(
            "You are not signed in, or your session has ended. Open the dashboard again from the platform.",
        ),
    )
}

fn session_cookie(token: &str, max_age_seconds: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path={EXPRESS_PATH}; Max-Age={max_age_seconds}; HttpOnly; SameSite=Lax{secure}"
    ))
    .ok()
}

fn secure(state: &HttpState) -> bool {
    state.public_base_url.0.starts_with("https://")
}

/// The browser's session, with its cookie token, if it has a live one.
fn session_of(state: &HttpState, headers: &HeaderMap) -> Option<(String, DashboardSession)> {
    let token = cookie_value(headers, SESSION_COOKIE)?;
    let session = state
        .dashboard_sessions
        .find(&token, |platform| state.services.clock.now(platform))?;
    Some((token, session))
}

pub(super) async fn login(
    State(state): State<HttpState>,
    Path((platform, token)): Path<(String, String)>,
) -> Response {
    match state.services.redeem_login_link(&platform, &token).await {
        Ok(LoginOutcome::Granted { platform, account }) => {
            let now = state.services.clock.now(&platform);
            let session = state.dashboard_sessions.open(platform, account, now);
            let mut response = redirect_to_dashboard();
            if let Some(cookie) =
                session_cookie(&session, DASHBOARD_SESSION_LIFETIME_SECONDS, secure(&state))
            {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Ok(LoginOutcome::Refused) => page_response(
            StatusCode::GONE,
            message_page(
                "This login link is not valid: it was already used or has expired. Ask the platform for a new one.",
            ),
        ),
        Err(error) => failed(&error),
    }
}

pub(super) async fn show(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session_of(&state, &headers) else {
        return signed_out();
    };
    render(&state, &session, StatusCode::OK, &[])
}

/// The dashboard as the session's account sees it now, with the problems of a refused form.
fn render(
    state: &HttpState,
    session: &DashboardSession,
    status: StatusCode,
    problems: &[String],
) -> Response {
    let view = state
        .services
        .dashboard_caller(&session.platform, &session.account, Access::Read)
        .and_then(|caller| state.services.express_dashboard(&caller));
    match view {
        Ok(view) => page_response(
            status,
            render_dashboard(&view, &session.csrf_token, problems),
        ),
        Err(error) => failed(&error),
    }
}

/// Why a form post is refused before it reaches the services.
enum Refusal {
    SignedOut,
    Unreadable,
    NotFromTheDashboard,
    TooLarge,
    /// Logged where it was made.
    Failed,
}

impl Refusal {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Refusal::SignedOut => return signed_out(),
            Refusal::Failed => return failed_page(),
            Refusal::Unreadable => (
                StatusCode::BAD_REQUEST,
                "The form could not be read; please open the dashboard again.",
            ),
            Refusal::NotFromTheDashboard => (
                StatusCode::FORBIDDEN,
                "This form was not sent from your dashboard; please open the dashboard again.",
            ),
            Refusal::TooLarge => (
                StatusCode::BAD_REQUEST,
                "The form is larger than the dashboard sends.",
            ),
        };
        page_response(status, message_page(message))
    }
}

/// A form post that passed the checks: its session (and cookie token), its fields, and
/// the caller that acts for the session.
struct CheckedPost {
    token: String,
    session: DashboardSession,
    values: FormValues,
    caller: Caller,
}

fn checked_post(
    state: &HttpState,
    headers: &HeaderMap,
    form: FormResult,
) -> Result<CheckedPost, Refusal> {
    let (token, session) = session_of(state, headers).ok_or(Refusal::SignedOut)?;
    let Ok(Form(values)) = form else {
        return Err(Refusal::Unreadable);
    };
    let given = values
        .get(CSRF_FIELD)
        .map(String::as_bytes)
        .unwrap_or_default();
    let token_matches = bool::from(session.csrf_token.as_bytes().ct_eq(given));
    if !token_matches || foreign_origin(headers, &state.public_base_url.0) {
        return Err(Refusal::NotFromTheDashboard);
    }
    if values.len() > MAX_FORM_FIELDS
        || values
            .values()
            .any(|value| value.chars().count() > MAX_FORM_VALUE_CHARS)
    {
        return Err(Refusal::TooLarge);
    }
    let caller = state
        .services
        .dashboard_caller(&session.platform, &session.account, Access::Change)
        .map_err(|error| {
            tracing::error!(%error, "the Express dashboard failed");
            Refusal::Failed
        })?;
    Ok(CheckedPost {
        token,
        session,
        values,
        caller,
    })
}

/// After a change: back to the dashboard, or the dashboard with what was wrong.
fn after_change<T>(
    state: &HttpState,
    session: &DashboardSession,
    outcome: Result<T, ServiceError>,
) -> Response {
    match outcome {
        Ok(_) => redirect_to_dashboard(),
        Err(
            error @ (ServiceError::InvalidRequest { .. }
            | ServiceError::NotFound { .. }
            | ServiceError::Forbidden { .. }),
        ) => render(
            state,
            session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &[error.to_string()],
        ),
        Err(error) => failed(&error),
    }
}

fn field(values: &FormValues, name: &str) -> Option<String> {
    values
        .get(name)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

pub(super) async fn add_bank_account(
    State(state): State<HttpState>,
    headers: HeaderMap,
    form: FormResult,
) -> Response {
    let CheckedPost {
        session,
        values,
        caller,
        ..
    } = match checked_post(&state, &headers, form) {
        Ok(checked) => checked,
        Err(refusal) => return refusal.into_response(),
    };
    let outcome = async {
        let account = state.services.account(&caller, &session.account)?.value;
        let currency = match field(&values, "currency") {
            None => account.default_currency(),
            Some(code) => Currency::parse(&code.to_lowercase())
                .map_err(|error| ServiceError::money("currency", error))?,
        };
        let bank = BankAccountInput {
            country: account.country(),
            currency,
            routing_number: field(&values, "routingNumber"),
            account_number: field(&values, "accountNumber").unwrap_or_default(),
        };
        let make_default = field(&values, "defaultForCurrency").is_some();
        state
            .services
            .add_dashboard_bank_account(&caller, bank, make_default)
            .await
    }
    .await;
    after_change(&state, &session, outcome)
}

pub(super) async fn set_default_external_account(
    State(state): State<HttpState>,
    headers: HeaderMap,
    form: FormResult,
) -> Response {
    let CheckedPost {
        session,
        values,
        caller,
        ..
    } = match checked_post(&state, &headers, form) {
        Ok(checked) => checked,
        Err(refusal) => return refusal.into_response(),
    };
    let external_account = field(&values, "externalAccount").unwrap_or_default();
    let outcome = state
        .services
        .set_dashboard_default_external_account(&caller, &external_account)
        .await;
    after_change(&state, &session, outcome)
}

pub(super) async fn sign_out(
    State(state): State<HttpState>,
    headers: HeaderMap,
    form: FormResult,
) -> Response {
    let token = match checked_post(&state, &headers, form) {
        Ok(checked) => checked.token,
        Err(refusal) => return refusal.into_response(),
    };
    state.dashboard_sessions.close(&token);
    let mut response = page_response(StatusCode::OK, message_page("You are signed out."));
    if let Some(cookie) = session_cookie("", 0, secure(&state)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
