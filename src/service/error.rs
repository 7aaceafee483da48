//! The service layer's errors: each says exactly what was wrong, and is mapped once to a
//! GraphQL code in `graphql/errors.rs`.

use serde::{Deserialize, Serialize};

use crate::ids::IdError;
use crate::money::MoneyError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceError {
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
    },
    #[error("{message}")]
    NotFound {
        message: String,
        param: Option<String>,
    },
    #[error("{message}")]
    Unauthenticated { message: String },
    #[error("{message}")]
    Forbidden {
        message: String,
        param: Option<String>,
    },
    #[error("{message}")]
    CardDeclined {
        message: String,
        decline_code: String,
        charge: String,
    },
    #[error("{message}")]
    InsufficientFunds { message: String },
    #[error("{message}")]
    AccountRestricted {
        message: String,
        account: String,
        /// The input that named the account, when one did.
        #[serde(default)]
        param: Option<String>,
    },
    #[error("{message}")]
    IdempotencyConflict { message: String },
    #[error("{message}")]
    Policy {
        message: String,
        policy: String,
        hook: String,
        line: Option<u32>,
        column: Option<u32>,
    },
    #[error("{message}")]
    RateLimited { message: String },
    /// Details are logged where this is made; clients see only that something failed.
    #[error("internal error: {detail}")]
    Internal { detail: String },
}

impl ServiceError {
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> ServiceError {
        ServiceError::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
        }
    }

    pub fn not_found(param: impl Into<String>, kind: &str, id: &str) -> ServiceError {
        ServiceError::NotFound {
            message: format!("No such {kind}: '{id}'"),
            param: Some(param.into()),
        }
    }

    pub fn forbidden(param: Option<&str>, message: impl Into<String>) -> ServiceError {
        ServiceError::Forbidden {
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }

    pub fn insufficient_funds(message: impl Into<String>) -> ServiceError {
        ServiceError::InsufficientFunds {
            message: message.into(),
        }
    }

    /// Logs the detail and returns the opaque internal error.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> ServiceError {
        tracing::error!(context, %detail, "internal error");
        ServiceError::Internal {
            detail: format!("{context}: {detail}"),
        }
    }

    /// The error a condition carries when failing it only means another pass got there
    /// first: built for every such condition, so it is not logged here; the caller treats
    /// the failed condition as done.
    pub fn already_handled(context: &str, detail: &str) -> ServiceError {
        ServiceError::Internal {
            detail: format!("{context}: {detail}"),
        }
    }

    /// Money errors on a named input parameter.
    pub fn money(param: &str, error: MoneyError) -> ServiceError {
        ServiceError::invalid(param, format!("Invalid {param}: {error}"))
    }

    pub fn id(param: &str, error: IdError) -> ServiceError {
        ServiceError::invalid(param, format!("Invalid {param}: {error}"))
    }

    /// The same error about one input of a list: a `param` under `input` (and the message
    /// naming it) moves under `prefix`, e.g. `input.amount` to `inputs.3.amount`.
    pub fn within(self, prefix: &str) -> ServiceError {
        let moved = |param: &mut Option<String>, message: &mut String| {
            let Some(old) = param.as_deref() else {
                return;
            };
            let new = match old.strip_prefix("input.") {
                Some(rest) => format!("{prefix}.{rest}"),
                None if old == "input" => prefix.to_owned(),
                None => return,
            };
            *message = message.replace(old, &new);
            *param = Some(new);
        };
        let mut error = self;
        match &mut error {
            ServiceError::InvalidRequest { message, param }
            | ServiceError::NotFound { message, param }
            | ServiceError::Forbidden { message, param }
            | ServiceError::AccountRestricted { message, param, .. } => moved(param, message),
            ServiceError::Unauthenticated { .. }
            | ServiceError::CardDeclined { .. }
            | ServiceError::InsufficientFunds { .. }
            | ServiceError::IdempotencyConflict { .. }
            | ServiceError::Policy { .. }
            | ServiceError::RateLimited { .. }
            | ServiceError::Internal { .. } => {}
        }
        error
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::IdempotencyConflict => ServiceError::IdempotencyConflict {
                message: "Keys for idempotent requests can only be used with the same parameters they were first used with".into(),
            },
            other => ServiceError::internal("store", other),
        }
    }
}
