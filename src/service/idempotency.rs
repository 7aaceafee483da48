//! Running a write under an idempotency key, as Stripe does: the same key with the same
//! input returns the first outcome and moves nothing again; with a different input it is a
//! conflict. A request that began executing stores its outcome, success or refusal (a failed
//! balance condition, a restricted account); input that fails validation stores nothing.
//! Replays are answered only from durable state, and keys expire after their retention.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Caller, Draft, ServiceError, Services};
use crate::ids::PlatformId;
use crate::store::{Applied, Commit, Condition, IdempotencyClaim, Key, StoreError, Write};

/// The longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// How often a commit is rebuilt when an object it read changed underneath it.
pub const MAX_COMMIT_ATTEMPTS: usize = 16;
/// The timer that deletes an idempotency key once its retention has passed.
pub const TIMER_IDEMPOTENCY_EXPIRY: &str = "idempotency_expiry";

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
pub(super) enum StoredOutcome {
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

pub(super) fn fingerprint(
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

pub(super) fn decode(outcome: &[u8]) -> Result<String, ServiceError> {
    serde_json::from_slice::<StoredOutcome>(outcome)
        .map_err(|error| ServiceError::internal("stored outcome", error))?
        .into_result()
}

/// Refusals made while executing: stored under the key and replayed. Everything else (bad
/// input, a missing object, a policy or storage failure) leaves the key free for a retry.
pub(super) fn is_stored_refusal(error: &ServiceError) -> bool {
    matches!(
        error,
        ServiceError::InsufficientFunds { .. } | ServiceError::AccountRestricted { .. }
    )
}

/// The key and fingerprint of a request made under an idempotency key.
pub(super) struct Claim<'a> {
    pub key: &'a IdempotencyKey,
    pub fingerprint: String,
}

impl Claim<'_> {
    /// Adds the claim to `commit`, with the timer that deletes it after its retention.
    fn attach(
        &self,
        services: &Services,
        commit: &mut Commit,
        platform: &PlatformId,
        outcome: &StoredOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let retention = chrono::Duration::hours(services.settings.idempotency_retention_hours);
        let expires = now.checked_add_signed(retention).unwrap_or(now);
        commit.idempotency = Some(IdempotencyClaim {
            key: self.key.as_str().to_owned(),
            fingerprint: self.fingerprint.clone(),
            outcome: serde_json::to_vec(outcome)
                .map_err(|error| ServiceError::internal("outcome", error))?,
            created_micros: now.timestamp_micros(),
        });
        commit.writes.push(Write::Raw {
            key: Key::timer(
                expires.timestamp_micros(),
                TIMER_IDEMPOTENCY_EXPIRY,
                platform.as_ref(),
                self.key.as_str(),
            ),
            value: self.key.as_str().as_bytes().to_vec(),
        });
        Ok(())
    }
}

/// Stores a refusal under the key and returns it; when another request stored an outcome
/// under the key first, that outcome is returned instead.
pub(super) async fn store_refusal(
    services: &Services,
    caller: &Caller,
    claim: &Claim<'_>,
    error: ServiceError,
) -> Result<String, ServiceError> {
    let mut commit = Commit::new(Some(caller.platform.id.clone()));
    let outcome = StoredOutcome::Err { error };
    claim.attach(
        services,
        &mut commit,
        &caller.platform.id,
        &outcome,
        services.clock.now(&caller.platform.id),
    )?;
    match services.store.commit(commit).await? {
        Applied::Committed => outcome.into_result(),
        Applied::Replayed { outcome } => decode(&outcome),
    }
}

/// A prepared commit with its idempotency claim attached, and what to answer once the
/// writer has decided it.
pub(super) struct Ready {
    commit: Commit,
    answer: Answer,
}

/// What a commit answers: its outcome, the errors of its conditions and the events to
/// publish once it is durable.
pub(super) struct Answer {
    outcome: StoredOutcome,
    condition_errors: Vec<ServiceError>,
    published: Vec<crate::domain::events::Event>,
}

/// What became of a commit the writer decided.
pub(super) enum Settled {
    Done(Result<String, ServiceError>),
    /// An object it read changed underneath it: build it again.
    Retry,
}

impl Ready {
    pub(super) fn new(
        services: &Services,
        caller: &Caller,
        claim: Option<&Claim<'_>>,
        prepared: Prepared,
    ) -> Result<Ready, ServiceError> {
        let Prepared {
            mut draft,
            object_id,
            error,
        } = prepared;
        let outcome = match error {
            None => StoredOutcome::Ok { object_id },
            Some(error) => StoredOutcome::Err { error },
        };
        if let Some(claim) = claim {
            let now = draft.now();
            claim.attach(
                services,
                &mut draft.commit,
                &caller.platform.id,
                &outcome,
                now,
            )?;
        }
        let Draft {
            commit,
            condition_errors,
            published,
            ..
        } = draft;
        Ok(Ready {
            commit,
            answer: Answer {
                outcome,
                condition_errors,
                published,
            },
        })
    }

    pub(super) fn split(self) -> (Commit, Answer) {
        (self.commit, self.answer)
    }
}

impl Answer {
    /// Turns the writer's decision into the request's answer: a committed outcome (its
    /// events published), a replay, a stored refusal, or a retry.
    pub(super) async fn settle(
        self,
        services: &Services,
        caller: &Caller,
        claim: Option<&Claim<'_>>,
        applied: Result<Applied, StoreError>,
    ) -> Settled {
        let result = match applied {
            Ok(Applied::Committed) => {
                services.publish(&caller.platform.id, self.published);
                self.outcome.into_result()
            }
            Ok(Applied::Replayed { outcome }) => decode(&outcome),
            Err(StoreError::RevisionConflict { .. }) => return Settled::Retry,
            Err(StoreError::ConditionFailed { index, .. }) => {
                let refusal = self
                    .condition_errors
                    .get(index)
                    .cloned()
                    .unwrap_or_else(|| {
                        ServiceError::internal(
                            "condition",
                            format!("condition {index} has no error"),
                        )
                    });
                match claim {
                    Some(claim) if is_stored_refusal(&refusal) => {
                        store_refusal(services, caller, claim, refusal).await
                    }
                    _ => Err(refusal),
                }
            }
            Err(other) => Err(other.into()),
        };
        Settled::Done(result)
    }
}

/// The outcome stored under the claim's key by an earlier request, once durable; a
/// conflict when that request was a different one.
pub(super) async fn earlier_outcome(
    services: &Services,
    caller: &Caller,
    claim: &Claim<'_>,
) -> Result<Option<Result<String, ServiceError>>, ServiceError> {
    let platform = caller.platform.id.to_string();
    let Some(record) = services.store.idempotency(&platform, claim.key.as_str())? else {
        return Ok(None);
    };
    // The record may belong to a commit applied but not yet flushed: answer only once it
    // is durable.
    services.store.wait_durable().await?;
    if record.fingerprint != claim.fingerprint {
        return Ok(Some(Err(StoreError::IdempotencyConflict.into())));
    }
    Ok(Some(decode(record.outcome.as_bytes())))
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
    let claim = match key {
        Some(key) => Some(Claim {
            key,
            fingerprint: fingerprint(operation, caller, input)?,
        }),
        None => None,
    };
    if let Some(claim) = &claim {
        if let Some(earlier) = earlier_outcome(services, caller, claim).await? {
            return earlier;
        }
    }
    for _ in 0..MAX_COMMIT_ATTEMPTS {
        let prepared = match build().await {
            Ok(prepared) => prepared,
            Err(refusal) if is_stored_refusal(&refusal) => {
                return match &claim {
                    Some(claim) => store_refusal(services, caller, claim, refusal).await,
                    None => Err(refusal),
                };
            }
            Err(other) => return Err(other),
        };
        let ready = Ready::new(services, caller, claim.as_ref(), prepared)?;
        let (commit, answer) = ready.split();
        let applied = services.store.commit(commit).await;
        match answer
            .settle(services, caller, claim.as_ref(), applied)
            .await
        {
            Settled::Done(result) => return result,
            Settled::Retry => continue,
        }
    }
    Err(ServiceError::internal(
        operation,
        "the objects it changes kept changing; giving up after repeated attempts",
    ))
}

impl Services {
    /// Deletes an idempotency key whose retention has passed, with its timer.
    pub(super) async fn expire_idempotency_key(
        &self,
        platform: &str,
        timer: Key,
        payload: &[u8],
    ) -> Result<(), ServiceError> {
        let platform =
            PlatformId::parse(platform).map_err(|error| ServiceError::internal("timer", error))?;
        let idempotency_key = String::from_utf8_lossy(payload).into_owned();
        apply(self, || {
            let mut draft = Draft::new(&platform, self.clock.now(&platform));
            draft.condition(
                Condition::Exists { key: timer.clone() },
                ServiceError::already_handled("idempotency expiry", "already expired"),
            );
            draft.delete(timer.clone());
            draft.delete(Key::idempotency(platform.as_ref(), &idempotency_key));
            Ok(Some(draft))
        })
        .await
    }
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
