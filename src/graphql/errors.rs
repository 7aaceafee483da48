//! The one mapping from service errors to GraphQL errors with `extensions.code`.

use async_graphql::{ErrorExtensions, ServerError, Value};

use crate::graphql::cost::CostError;
use crate::graphql::guard::GuardError;
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
    pub const QUERY_TOO_COSTLY: &str = "QUERY_TOO_COSTLY";
    pub const TIMEOUT: &str = "TIMEOUT";
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

/// The code, client-facing message and `param` of an error reported inside a result
/// (a batch's `BatchError`) rather than as a GraphQL error.
pub fn batch_error_parts(error: &ServiceError) -> (&'static str, String, Option<String>) {
    let message = match error {
        ServiceError::Internal { .. } => INTERNAL_MESSAGE.to_owned(),
        other => other.to_string(),
    };
    let (code, param) = match error {
        ServiceError::InvalidRequest { param, .. } => (code::INVALID_REQUEST, param.clone()),
        ServiceError::NotFound { param, .. } => (code::NOT_FOUND, param.clone()),
        ServiceError::Unauthenticated { .. } => (code::UNAUTHENTICATED, None),
        ServiceError::Forbidden { param, .. } => (code::FORBIDDEN, param.clone()),
        ServiceError::CardDeclined { .. } => (code::CARD_DECLINED, None),
        ServiceError::InsufficientFunds { .. } => (code::INSUFFICIENT_FUNDS, None),
        ServiceError::AccountRestricted { param, .. } => (code::ACCOUNT_RESTRICTED, param.clone()),
        ServiceError::IdempotencyConflict { .. } => (code::IDEMPOTENCY_CONFLICT, None),
        ServiceError::Policy { .. } => (code::POLICY_ERROR, None),
        ServiceError::RateLimited { .. } => (code::RATE_LIMITED, None),
        ServiceError::Internal { .. } => (code::INTERNAL, None),
    };
    (code, message, param)
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

/// Converts a guard refusal (cost, rate limit, deadline, response size) into a GraphQL
/// error with the figures behind it in `extensions`. These are raised outside any field,
/// so they carry no location.
pub fn guard_error(error: &GuardError) -> ServerError {
    let mut server_error = ServerError::new(error.to_string(), None);
    let extensions = server_error.extensions.get_or_insert_with(Default::default);
    match error {
        GuardError::TooCostly { cost, limit } => {
            extensions.set("code", code::QUERY_TOO_COSTLY);
            extensions.set("type", "invalid_request_error");
            extensions.set("cost", *cost);
            extensions.set("limit", *limit);
        }
        GuardError::TooManyFields { fields, limit } => {
            extensions.set("code", code::QUERY_TOO_COSTLY);
            extensions.set("type", "invalid_request_error");
            extensions.set("fields", *fields);
            extensions.set("limit", *limit);
        }
        GuardError::TooDeep(CostError::TooDeep { limit }) => {
            extensions.set("code", code::INVALID_REQUEST);
            extensions.set("type", "invalid_request_error");
            extensions.set("limit", *limit as u64);
        }
        GuardError::RateLimited {
            budget,
            retry_after_seconds,
        } => {
            extensions.set("code", code::RATE_LIMITED);
            extensions.set("type", "rate_limit_error");
            extensions.set("budget", budget.to_string());
            extensions.set("retryAfter", *retry_after_seconds);
        }
        GuardError::DeadlineExceeded {
            deadline_milliseconds,
        } => {
            extensions.set("code", code::TIMEOUT);
            extensions.set("type", "api_error");
            extensions.set("deadlineMs", *deadline_milliseconds);
        }
        GuardError::ResponseTooLarge { bytes, limit } => {
            extensions.set("code", code::QUERY_TOO_COSTLY);
            extensions.set("type", "invalid_request_error");
            extensions.set("responseBytes", *bytes);
            extensions.set("limit", *limit);
        }
    }
    server_error
}

/// One row of the error-code table in the README (`error_code_table`), checked against
/// `to_graphql` by a test so the two cannot drift apart.
pub struct ErrorCodeDoc {
    pub code: &'static str,
    /// `extensions.type`, Stripe's error family.
    pub error_type: &'static str,
    /// Extensions besides `code`, `type` and `requestId`.
    pub extensions: &'static [&'static str],
    pub meaning: &'static str,
}

pub const ERROR_CODES: [ErrorCodeDoc; 13] = [
    ErrorCodeDoc {
        code: code::INVALID_REQUEST,
        error_type: "invalid_request_error",
        extensions: &["param", "limit"],
        meaning: "The input is wrong (the offending input in `param`); GraphQL syntax and validation errors too. Nothing was written.",
    },
    ErrorCodeDoc {
        code: code::NOT_FOUND,
        error_type: "invalid_request_error",
        extensions: &["param"],
        meaning: "No such object for this platform (unknown, or another platform's): every lookup by id answers this way.",
    },
    ErrorCodeDoc {
        code: code::UNAUTHENTICATED,
        error_type: "authentication_error",
        extensions: &[],
        meaning: "No key, or not a platform's secret key (HTTP 401).",
    },
    ErrorCodeDoc {
        code: code::FORBIDDEN,
        error_type: "invalid_request_error",
        extensions: &["param"],
        meaning: "The key may not do this, or not for this account type.",
    },
    ErrorCodeDoc {
        code: code::CARD_DECLINED,
        error_type: "card_error",
        extensions: &["declineCode", "charge"],
        meaning: "The test card was declined; the failed charge is recorded and named.",
    },
    ErrorCodeDoc {
        code: code::INSUFFICIENT_FUNDS,
        error_type: "invalid_request_error",
        extensions: &[],
        meaning: "The available balance does not cover the transfer, payout or refund.",
    },
    ErrorCodeDoc {
        code: code::ACCOUNT_RESTRICTED,
        error_type: "invalid_request_error",
        extensions: &["account", "param"],
        meaning: "The connected account cannot take charges or payouts yet (onboarding incomplete or restricted).",
    },
    ErrorCodeDoc {
        code: code::IDEMPOTENCY_CONFLICT,
        error_type: "idempotency_error",
        extensions: &[],
        meaning: "The idempotency key was used before with a different request.",
    },
    ErrorCodeDoc {
        code: code::POLICY_ERROR,
        error_type: "policy_error",
        extensions: &["policy", "hook", "line", "column"],
        meaning: "The platform's fee policy failed or returned a value the host refuses; nothing moved.",
    },
    ErrorCodeDoc {
        code: code::RATE_LIMITED,
        error_type: "rate_limit_error",
        extensions: &["budget", "retryAfter"],
        meaning: "Too many reads or writes for this key (`budget`), or too many subscriptions; retry after `retryAfter` seconds (HTTP 429 with `Retry-After`).",
    },
    ErrorCodeDoc {
        code: code::QUERY_TOO_COSTLY,
        error_type: "invalid_request_error",
        extensions: &["cost", "fields", "responseBytes", "limit"],
        meaning: "The query would cost more than the server allows (pages multiply, expensive fields cost more), names too many fields once fragments are expanded, or its answer is too large. Nothing ran.",
    },
    ErrorCodeDoc {
        code: code::TIMEOUT,
        error_type: "api_error",
        extensions: &["deadlineMs"],
        meaning: "The request ran past its deadline; a query returns no partial data, a mutation stops only between its root fields.",
    },
    ErrorCodeDoc {
        code: code::INTERNAL,
        error_type: "api_error",
        extensions: &[],
        meaning: "Something failed inside the server; the details are in its log under the same request id.",
    },
];

/// The README's error-code table, in Markdown.
pub fn error_code_table() -> String {
    let mut table =
        String::from("| code | `type` | other extensions | meaning |\n|---|---|---|---|\n");
    for row in &ERROR_CODES {
        let extensions = if row.extensions.is_empty() {
            "—".to_owned()
        } else {
            row.extensions
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        table.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            row.code, row.error_type, extensions, row.meaning
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every variant, with every optional detail set.
    fn one_of_each() -> Vec<ServiceError> {
        let message = || "m".to_owned();
        let param = || Some("p".to_owned());
        vec![
            ServiceError::InvalidRequest {
                message: message(),
                param: param(),
            },
            ServiceError::NotFound {
                message: message(),
                param: param(),
            },
            ServiceError::Unauthenticated { message: message() },
            ServiceError::Forbidden {
                message: message(),
                param: param(),
            },
            ServiceError::CardDeclined {
                message: message(),
                decline_code: "generic_decline".into(),
                charge: "ch_1".into(),
            },
            ServiceError::InsufficientFunds { message: message() },
            ServiceError::AccountRestricted {
                message: message(),
                account: "acct_1".into(),
                param: param(),
            },
            ServiceError::IdempotencyConflict { message: message() },
            ServiceError::Policy {
                message: message(),
                policy: "p".into(),
                hook: "h".into(),
                line: Some(1),
                column: Some(2),
            },
            ServiceError::RateLimited { message: message() },
            ServiceError::Internal { detail: "d".into() },
        ]
    }

    /// Every refusal raised before or around execution (cost, rate, deadline, size).
    fn one_of_each_guard() -> Vec<GuardError> {
        vec![
            GuardError::TooCostly { cost: 2, limit: 1 },
            GuardError::TooManyFields {
                fields: 2,
                limit: 1,
            },
            GuardError::TooDeep(CostError::TooDeep { limit: 1 }),
            GuardError::RateLimited {
                budget: crate::graphql::guard::Budget::Writes,
                retry_after_seconds: 1,
            },
            GuardError::DeadlineExceeded {
                deadline_milliseconds: 1,
            },
            GuardError::ResponseTooLarge { bytes: 2, limit: 1 },
        ]
    }

    #[test]
    fn the_error_code_table_matches_the_mapping() {
        let produced = one_of_each()
            .into_iter()
            .map(|error| to_graphql(error).into_server_error(Default::default()))
            .chain(
                one_of_each_guard()
                    .iter()
                    .map(guard_error)
                    .collect::<Vec<_>>(),
            );
        // Per code, every extension any error of that code carries.
        let mut extensions_by_code: std::collections::BTreeMap<String, Vec<String>> =
            std::collections::BTreeMap::new();
        for server in produced {
            let extensions = server.extensions.expect("extensions");
            let json = serde_json::to_value(&extensions).expect("json");
            let code = json["code"].as_str().expect("code").to_owned();
            let row = ERROR_CODES
                .iter()
                .find(|row| row.code == code)
                .unwrap_or_else(|| panic!("{code} is not in the table"));
            assert_eq!(json["type"], row.error_type, "{code}");
            let seen = extensions_by_code.entry(code).or_default();
            for key in json.as_object().expect("object").keys() {
                if !["code", "type"].contains(&key.as_str()) && !seen.contains(key) {
                    seen.push(key.clone());
                }
            }
        }
        for row in &ERROR_CODES {
            let mut seen = extensions_by_code
                .remove(row.code)
                .unwrap_or_else(|| panic!("{} is documented but never produced", row.code));
            seen.sort_unstable();
            let mut expected: Vec<String> =
                row.extensions.iter().map(|key| (*key).to_owned()).collect();
            expected.sort_unstable();
            assert_eq!(seen, expected, "{}", row.code);
        }
    }
}
