//! The one mapping from service errors to GraphQL errors with `extensions.code`.

use async_graphql::{ErrorExtensions, Value};

use crate::service::ServiceError;

/// The machine-readable codes clients switch on.
pub mod code {
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const CARD_DECLINED: &str = "CARD_DECLINED";
    pub const INSUFFICIENT_FUNDS: &str = "INSUFFICIENT_FUNDS";
    pub const ACCOUNT_RESTRICTED: &str = "ACCOUNT_RESTRICTED";
    pub const IDEMPOTENCY_CONFLICT: &str = "IDEMPOTENCY_CONFLICT";
    pub const POLICY_ERROR: &str = "POLICY_ERROR";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const INTERNAL: &str = "INTERNAL";
}

/// What clients see for an internal failure; the details are in the server's log.
pub const INTERNAL_MESSAGE: &str = "An internal error occurred; it has been logged";

/// Converts a service error into a GraphQL error. Every variant is listed, so a new one
/// stops the build until it is mapped.
pub fn to_graphql(error: ServiceError) -> async_graphql::Error {
    let message = match &error {
        ServiceError::Internal { .. } => INTERNAL_MESSAGE.to_owned(),
        other => other.to_string(),
    };
    async_graphql::Error::new(message).extend_with(|_, extensions| match &error {
        ServiceError::InvalidRequest { param, .. } => {
            extensions.set("code", code::INVALID_REQUEST);
            extensions.set("type", "invalid_request_error");
            set_param(extensions, param.as_deref());
        }
        ServiceError::NotFound { param, .. } => {
            extensions.set("code", code::NOT_FOUND);
            extensions.set("type", "invalid_request_error");
            set_param(extensions, param.as_deref());
        }
        ServiceError::Unauthenticated { .. } => {
            extensions.set("code", code::UNAUTHENTICATED);
            extensions.set("type", "authentication_error");
        }
        ServiceError::Forbidden { param, .. } => {
            extensions.set("code", code::FORBIDDEN);
            extensions.set("type", "invalid_request_error");
            set_param(extensions, param.as_deref());
        }
        ServiceError::CardDeclined {
            decline_code,
            charge,
            ..
        } => {
            extensions.set("code", code::CARD_DECLINED);
            extensions.set("type", "card_error");
            extensions.set("declineCode", decline_code.as_str());
            extensions.set("charge", charge.as_str());
        }
        ServiceError::InsufficientFunds { .. } => {
            extensions.set("code", code::INSUFFICIENT_FUNDS);
            extensions.set("type", "invalid_request_error");
        }
        ServiceError::AccountRestricted { account, param, .. } => {
            extensions.set("code", code::ACCOUNT_RESTRICTED);
            extensions.set("type", "invalid_request_error");
            extensions.set("account", account.as_str());
            set_param(extensions, param.as_deref());
        }
        ServiceError::IdempotencyConflict { .. } => {
            extensions.set("code", code::IDEMPOTENCY_CONFLICT);
            extensions.set("type", "idempotency_error");
        }
        ServiceError::Policy {
            policy,
            hook,
            line,
            column,
            ..
        } => {
            extensions.set("code", code::POLICY_ERROR);
            extensions.set("type", "policy_error");
            extensions.set("policy", policy.as_str());
            extensions.set("hook", hook.as_str());
            if let Some(line) = line {
                extensions.set("line", *line);
            }
            if let Some(column) = column {
                extensions.set("column", *column);
            }
        }
        ServiceError::RateLimited { .. } => {
            extensions.set("code", code::RATE_LIMITED);
            extensions.set("type", "rate_limit_error");
        }
        ServiceError::Internal { .. } => {
            extensions.set("code", code::INTERNAL);
            extensions.set("type", "api_error");
        }
    })
}

fn set_param(extensions: &mut async_graphql::ErrorExtensionValues, param: Option<&str>) {
    if let Some(param) = param {
        extensions.set("param", Value::from(param));
    }
}

/// `.gql()` turns a service result into a resolver result with the mapped error.
pub trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for Result<T, ServiceError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(to_graphql)
    }
}
