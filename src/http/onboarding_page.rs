//! The hosted onboarding page behind account links: a small HTML form (GET) that posts the
//! same details as `submitAccountDetails` plus a bank account (POST, form-urlencoded). An
//! update link opens it prefilled with the account's current details (never its secrets).
//! Everything printed is escaped; secrets (account number, SSN digits, ID and tax numbers)
//! are never echoed back. A submission must carry the CSRF token set in a cookie with the
//! form (and, when the browser sends an Origin, come from this server's origin); every page
//! is `no-store` and may not be framed.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::onboarding_form::{current_values, message_page, render_form, FormValues};
use super::HttpState;
use crate::domain::account_links::AccountLinkType;
use crate::domain::accounts::BusinessType;
use crate::domain::details::{AddressInput, CompanyInput, DetailsInput, IndividualInput};
use crate::service::account_links::{FormError, HostedPage, HostedSubmission};

/// The most form fields a submission may carry; the form has about twenty.
const MAX_FORM_FIELDS: usize = 64;
/// The cookie and the form field that carry the CSRF token.
const CSRF_COOKIE: &str = "tollgate_csrf";
pub(super) const CSRF_FIELD: &str = "csrfToken";
/// Random bytes in a CSRF token.
const CSRF_TOKEN_BYTES: usize = 32;

fn new_csrf_token() -> String {
    let mut bytes = [0u8; CSRF_TOKEN_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The value of the browser's cookie `name`, if it sent one.
pub(super) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(cookie_name, _)| *cookie_name == name)
        .map(|(_, value)| value.to_owned())
}

/// The CSRF token of the browser's cookie, if it has one that could be ours.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, CSRF_COOKIE).filter(|token| {
        token.len() == CSRF_TOKEN_BYTES * 2 && token.bytes().all(|byte| byte.is_ascii_hexdigit())
    })
}

/// Whether the browser says the form was posted from another site.
pub(super) fn foreign_origin(headers: &HeaderMap, public_base_url: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let ours = url::Url::parse(public_base_url)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_default();
    origin.to_str().map_or(true, |origin| origin != ours)
}

pub(super) async fn show(
    State(state): State<HttpState>,
    Path((platform, link)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let token = cookie_token(&headers).unwrap_or_else(new_csrf_token);
    let page = state.services.hosted_onboarding_page(&platform, &link);
    let secure = state.public_base_url.0.starts_with("https://");
    with_csrf_cookie(respond(page, &FormValues::new(), &token), &token, secure)
}

pub(super) async fn submit(
    State(state): State<HttpState>,
    Path((platform, link)): Path<(String, String)>,
    headers: HeaderMap,
    form: Result<Form<FormValues>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(values)) = form else {
        return hardened(
            (
                StatusCode::BAD_REQUEST,
                Html(message_page(
                    "The form could not be read; please open the link again.",
                )),
            )
                .into_response(),
        );
    };
    // A spent, expired or unknown link answers as it would to a visit: nothing to protect.
    let current = state.services.hosted_onboarding_page(&platform, &link);
    if !matches!(current, Ok(HostedPage::Form { .. })) {
        return respond(current, &FormValues::new(), "");
    }
    let cookie = cookie_token(&headers);
    let given = values
        .get(CSRF_FIELD)
        .map(String::as_bytes)
        .unwrap_or_default();
    let token_matches = cookie
        .as_deref()
        .is_some_and(|cookie| bool::from(cookie.as_bytes().ct_eq(given)));
    if !token_matches || foreign_origin(&headers, &state.public_base_url.0) {
        return hardened(
            (
                StatusCode::FORBIDDEN,
                Html(message_page(
                    "This form has expired or was not sent from this page; please open the link again.",
                )),
            )
                .into_response(),
        );
    }
    let token = cookie.unwrap_or_default();
    let page =
        match parse_submission(&values) {
            Ok(submission) => {
                state
                    .services
                    .submit_hosted_onboarding(&platform, &link, submission)
                    .await
            }
            Err(errors) => state
                .services
                .hosted_onboarding_page(&platform, &link)
                .map(|page| match page {
                    HostedPage::Form {
                        account, link_type, ..
                    } => HostedPage::Form {
                        account,
                        link_type,
                        errors,
                    },
                    other => other,
                }),
        };
    respond(page, &values, &token)
}

fn with_csrf_cookie(mut response: Response, token: &str, secure: bool) -> Response {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{CSRF_COOKIE}={token}; Path={}; HttpOnly; SameSite=Strict{secure}",
        crate::service::account_links::ONBOARDING_PATH
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Every onboarding response: never cached (it shows personal details), never framed
/// (clickjacking), and never sent on as a Referer to another origin (the link is the
/// credential). `same-origin`, not `no-referrer`: under `no-referrer` browsers send the
/// form's own post with `Origin: null`, which the origin check must refuse.
pub(super) fn hardened(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn respond(
    page: Result<HostedPage, crate::service::ServiceError>,
    values: &FormValues,
    csrf_token: &str,
) -> Response {
    hardened(render(page, values, csrf_token))
}

fn render(
    page: Result<HostedPage, crate::service::ServiceError>,
    values: &FormValues,
    csrf_token: &str,
) -> Response {
    match page {
        Ok(HostedPage::Form {
            account,
            link_type,
            errors,
        }) => {
            let status = if errors.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            // An update link opens on the account's current details; after a rejected
            // submission the form shows what was sent.
            let current;
            let values = if link_type == AccountLinkType::AccountUpdate && values.is_empty() {
                current = current_values(&account);
                &current
            } else {
                values
            };
            (
                status,
                Html(render_form(
                    &account, link_type, &errors, values, csrf_token,
                )),
            )
                .into_response()
        }
        Ok(HostedPage::Redirect(location)) => {
            (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
        }
        Ok(HostedPage::Missing) => (
            StatusCode::NOT_FOUND,
            Html(message_page("This onboarding link is not valid.")),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "the hosted onboarding page failed");
            let page = message_page("Something went wrong; please try the link again later.");
            (StatusCode::INTERNAL_SERVER_ERROR, Html(page)).into_response()
        }
    }
}

/// A form value, with an empty field meaning "not given".
fn value(values: &FormValues, name: &str) -> Option<String> {
    values
        .get(name)
        .map(|given| given.trim())
        .filter(|given| !given.is_empty())
        .map(str::to_owned)
}

fn number(values: &FormValues, name: &str, errors: &mut Vec<FormError>) -> Option<i64> {
    let given = value(values, name)?;
    match given.parse::<i64>() {
        Ok(parsed) => Some(parsed),
        Err(_) => {
            errors.push(FormError {
                param: name.to_owned(),
                message: format!("{name} must be a whole number"),
            });
            None
        }
    }
}

fn address(values: &FormValues, prefix: &str) -> Option<AddressInput> {
    let field = |name: &str| value(values, &format!("{prefix}.address.{name}"));
    let address = AddressInput {
        line1: field("line1"),
        city: field("city"),
        postal_code: field("postalCode"),
        state: field("state"),
        country: None,
    };
    (address != AddressInput::default()).then_some(address)
}

/// Sorts the form's fields into a submission; only the shape is checked here, the rules are
/// the service's.
fn parse_submission(values: &FormValues) -> Result<HostedSubmission, Vec<FormError>> {
    let mut errors = Vec::new();
    if values.len() > MAX_FORM_FIELDS {
        errors.push(FormError {
            param: String::new(),
            message: format!("the form may have at most {MAX_FORM_FIELDS} fields"),
        });
    }
    let business_type = match value(values, "businessType").as_deref() {
        None => None,
        Some("INDIVIDUAL") => Some(BusinessType::Individual),
        Some("COMPANY") => Some(BusinessType::Company),
        Some("NON_PROFIT") => Some(BusinessType::NonProfit),
        Some(_) => {
            errors.push(FormError {
                param: "businessType".into(),
                message: "businessType must be INDIVIDUAL, COMPANY or NON_PROFIT".into(),
            });
            None
        }
    };
    let individual = IndividualInput {
        first_name: value(values, "individual.firstName"),
        last_name: value(values, "individual.lastName"),
        dob_day: number(values, "individual.dobDay", &mut errors),
        dob_month: number(values, "individual.dobMonth", &mut errors),
        dob_year: number(values, "individual.dobYear", &mut errors),
        ssn_last_4: value(values, "individual.ssnLast4"),
        id_number: value(values, "individual.idNumber"),
        address: address(values, "individual"),
    };
    let company = CompanyInput {
        name: value(values, "company.name"),
        tax_id: value(values, "company.taxId"),
        address: address(values, "company"),
    };
    let details = DetailsInput {
        business_type,
        individual: (individual != IndividualInput::default()).then_some(individual),
        company: (company != CompanyInput::default()).then_some(company),
        business_url: value(values, "businessUrl"),
        mcc: value(values, "mcc"),
        tos_acceptance: value(values, "tosAcceptance").map(|_| true),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(HostedSubmission {
        details,
        account_number: value(values, "accountNumber"),
        routing_number: value(values, "routingNumber"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_are_absent_and_numbers_are_checked() {
        let values = FormValues::from([
            ("individual.firstName".to_owned(), "Jo".to_owned()),
            ("company.name".to_owned(), " ".to_owned()),
            ("tosAcceptance".to_owned(), "true".to_owned()),
        ]);
        let submission = parse_submission(&values).expect("parse");
        assert!(submission.details.company.is_none());
        assert_eq!(submission.details.tos_acceptance, Some(true));
        assert_eq!(submission.account_number, None);
        let bad = FormValues::from([("individual.dobDay".to_owned(), "first".to_owned())]);
        let errors = parse_submission(&bad).expect_err("refused");
        assert_eq!(errors[0].param, "individual.dobDay");
    }
}
