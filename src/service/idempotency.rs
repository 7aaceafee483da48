//! Running a write under an idempotency key: the same key with the same input returns the
//! first outcome and moves nothing again; with a different input it is a conflict.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Caller, Draft, ServiceError, Services};
use crate::store::{Applied, IdempotencyClaim, StoreError};

/// The longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// How often a commit is rebuilt when an object it read changed underneath it.
pub const MAX_COMMIT_ATTEMPTS: usize = 16;

/// A validated idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(param: &str, given: &str) -> Result<IdempotencyKey, ServiceError> {
        if given.is_empty() || given.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
            return Err(ServiceError::invalid(
                param,
                format!("The idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"),
            ));
        }
        if given.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                param,
                "The idempotency key must not contain control characters",
            ));
        }
        Ok(IdempotencyKey(given.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a prepared commit will answer once applied.
pub struct Prepared {
    pub draft: Draft,
    /// The id of the object the request returns.
    pub object_id: String,
    /// An error to return (and replay) even though the commit is applied, e.g. a declined
    /// charge that is stored as FAILED.
    pub error: Option<ServiceError>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum StoredOutcome {
    Ok { object_id: String },
    Err { error: ServiceError },
}

impl StoredOutcome {
    fn into_result(self) -> Result<String, ServiceError> {
        match self {
            StoredOutcome::Ok { object_id } => Ok(object_id),
            StoredOutcome::Err { error } => Err(error),
        }
    }
}

fn fingerprint(
    operation: &str,
    caller: &Caller,
    input: &impl Serialize,
) -> Result<String, ServiceError> {
    let input =
        serde_json::to_vec(input).map_err(|error| ServiceError::internal("fingerprint", error))?;
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update([0]);
    if let Some(account) = &caller.connect_account {
        hasher.update(account.to_string().as_bytes());
    }
    hasher.update([0]);
    hasher.update(&input);
    Ok(hex::encode(hasher.finalize()))
}

fn decode(outcome: &[u8]) -> Result<String, ServiceError> {
    serde_json::from_slice::<StoredOutcome>(outcome)
        .map_err(|error| ServiceError::internal("stored outcome", error))?
        .into_result()
}

/// Builds and applies a commit, replaying the first outcome when the key was seen before.
/// `build` is called again (a bounded number of times) when an object it read changed.
pub async fn run(
    services: &Services,
    caller: &Caller,
    operation: &str,
    key: Option<&IdempotencyKey>,
    input: &impl Serialize,
    mut build: impl FnMut() -> Result<Prepared, ServiceError>,
) -> Result<String, ServiceError> {
    run_async(services, caller, operation, key, input, move || {
        std::future::ready(build())
    })
    .await
}

/// [`run`] for a `build` that waits, such as one that asks the policies (which run on
/// their own threads).
pub async fn run_async<F: std::future::Future<Output = Result<Prepared, ServiceError>>>(
    services: &Services,
    caller: &Caller,
    operation: &str,
    key: Option<&IdempotencyKey>,
    input: &impl Serialize,
    mut build: impl FnMut() -> F,
) -> Result<String, ServiceError> {
    let platform = caller.platform.id.to_string();
    let fingerprint = match key {
        Some(_) => Some(fingerprint(operation, caller, input)?),
        None => None,
    };
    if let (Some(key), Some(fingerprint)) = (key, &fingerprint) {
        if let Some(record) = services.store.idempotency(&platform, key.as_str())? {
            if &record.fingerprint != fingerprint {
                return Err(StoreError::IdempotencyConflict.into());
            }
            return decode(record.outcome.as_bytes());
        }
    }
    for _ in 0..MAX_COMMIT_ATTEMPTS {
        let Prepared {
            mut draft,
            object_id,
            error,
        } = build().await?;
        let outcome = match &error {
            None => StoredOutcome::Ok {
                object_id: object_id.clone(),
            },
            Some(error) => StoredOutcome::Err {
                error: error.clone(),
            },
        };
        if let (Some(key), Some(fingerprint)) = (key, &fingerprint) {
            draft.commit.idempotency = Some(IdempotencyClaim {
                key: key.as_str().to_owned(),
                fingerprint: fingerprint.clone(),
                outcome: serde_json::to_vec(&outcome)
                    .map_err(|error| ServiceError::internal("outcome", error))?,
                created_micros: draft.now().timestamp_micros(),
            });
        }
        let Draft {
            commit,
            condition_errors,
            published,
            ..
        } = draft;
        match services.store.commit(commit).await {
            Ok(Applied::Committed) => {
                services.publish(&caller.platform.id, published);
                return outcome.into_result();
            }
            Ok(Applied::Replayed { outcome }) => return decode(&outcome),
            Err(StoreError::RevisionConflict { .. }) => continue,
            Err(StoreError::ConditionFailed { index, .. }) => {
                return Err(condition_errors.get(index).cloned().unwrap_or_else(|| {
                    ServiceError::internal("condition", format!("condition {index} has no error"))
                }))
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ServiceError::internal(
        operation,
        "the objects it changes kept changing; giving up after repeated attempts",
    ))
}

/// Applies a commit that has no idempotency key (system work such as releases), retrying
/// when an object it read changed.
pub async fn apply(
    services: &Services,
    mut build: impl FnMut() -> Result<Option<Draft>, ServiceError>,
) -> Result<(), ServiceError> {
    for _ in 0..MAX_COMMIT_ATTEMPTS {
        let Some(draft) = build()? else {
            return Ok(());
        };
        let platform = draft.commit.platform.clone();
        match services.store.commit(draft.commit).await {
            Ok(Applied::Committed) => {
                if let Some(platform) = platform {
                    services.publish(&platform, draft.published);
                }
                return Ok(());
            }
            Ok(Applied::Replayed { .. }) => return Ok(()),
            Err(StoreError::RevisionConflict { .. }) => continue,
            // A condition such as "the timer still exists" failing means the work was done.
            Err(StoreError::ConditionFailed { .. }) => return Ok(()),
            Err(other) => return Err(other.into()),
        }
    }
    Err(ServiceError::internal(
        "apply",
        "gave up after repeated conflicts",
    ))
}
