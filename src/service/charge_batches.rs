//! Charges in batches: each input with its own idempotency key and its own result, all
//! handed to the writer together so that one group and one flush make the batch durable.

use futures::future::join_all;

use super::idempotency::{self, Claim, IdempotencyKey, Ready, Settled};
use super::pricing::NewCharge;
use super::{Caller, ServiceError, Services};
use crate::domain::charges::Charge;

/// The most charges one batch may carry.
pub const MAX_CHARGES_PER_BATCH: usize = 100;

/// The operation a batched charge's idempotency key is recorded under: the same as a single
/// `createCharge`, so a key replays the same charge whichever way it is sent again.
const OPERATION: &str = "createCharge";

/// One input of a batch: parsed, or why it could not be (its `param` under `input`).
pub type BatchInput = Result<(NewCharge, Option<IdempotencyKey>), ServiceError>;

/// What one input of a batch came to: its charge, or its error and, for a declined card,
/// the failed charge that was recorded.
pub struct BatchOutcome {
    pub charge: Option<Charge>,
    pub error: Option<ServiceError>,
}

impl Services {
    /// Creates up to [`MAX_CHARGES_PER_BATCH`] charges. An input that fails (bad input, a
    /// declined card, a restricted account) fails alone; the others are applied in the same
    /// writer group. More inputs than the limit are refused whole, with nothing written.
    pub async fn create_charges(
        &self,
        caller: &Caller,
        inputs: Vec<BatchInput>,
    ) -> Result<Vec<BatchOutcome>, ServiceError> {
        if inputs.len() > MAX_CHARGES_PER_BATCH {
            return Err(ServiceError::invalid(
                "inputs",
                format!(
                    "A batch holds at most {MAX_CHARGES_PER_BATCH} charges; this one has {}",
                    inputs.len()
                ),
            ));
        }
        let ids = self.batch_charge_ids(caller, &inputs).await;
        Ok(ids
            .into_iter()
            .enumerate()
            .map(|(index, id)| {
                // Errors name the input they are about: `inputs.3.amount`.
                let id = id.map_err(|error| error.within(&format!("inputs.{index}")));
                self.batch_outcome(caller, id)
            })
            .collect())
    }

    fn batch_outcome(&self, caller: &Caller, id: Result<String, ServiceError>) -> BatchOutcome {
        let (found, error) = match id {
            Ok(id) => (self.charge(caller, &id), None),
            Err(error) => match &error {
                ServiceError::CardDeclined { charge, .. } => {
                    (self.charge(caller, charge), Some(error))
                }
                _ => {
                    return BatchOutcome {
                        charge: None,
                        error: Some(error),
                    }
                }
            },
        };
        match found {
            Ok(charge) => BatchOutcome {
                charge: Some(charge),
                error,
            },
            Err(lookup) => BatchOutcome {
                charge: None,
                error: Some(error.unwrap_or(lookup)),
            },
        }
    }

    /// Each input's charge id or error, in order.
    async fn batch_charge_ids(
        &self,
        caller: &Caller,
        inputs: &[BatchInput],
    ) -> Vec<Result<String, ServiceError>> {
        let mut results: Vec<Option<Result<String, ServiceError>>> = Vec::new();
        let mut claims: Vec<Option<Claim<'_>>> = Vec::new();
        for input in inputs {
            let (claim, result) = match input {
                Err(error) => (None, Some(Err(error.clone()))),
                Ok((charge, key)) => match self.batch_claim(caller, charge, key.as_ref()).await {
                    Ok((claim, earlier)) => (claim, earlier),
                    Err(error) => (None, Some(Err(error))),
                },
            };
            claims.push(claim);
            results.push(result);
        }
        let waiting: Vec<usize> = (0..inputs.len())
            .filter(|index| results[*index].is_none())
            .collect();
        // Priced together: the policy pool runs them on its threads side by side.
        let built = join_all(waiting.iter().map(|index| async move {
            match &inputs[*index] {
                Ok((charge, _)) => self.prepare_charge(caller, charge).await,
                Err(error) => Err(error.clone()),
            }
        }))
        .await;
        let mut commits = Vec::new();
        let mut answers = Vec::new();
        for (index, prepared) in waiting.into_iter().zip(built) {
            let claim = claims[index].as_ref();
            let ready = match prepared {
                Ok(prepared) => Ready::new(self, caller, claim, prepared),
                Err(refusal) => Err(refusal),
            };
            match ready {
                Ok(ready) => {
                    let (commit, answer) = ready.split();
                    commits.push(commit);
                    answers.push((index, answer));
                }
                Err(refusal) => {
                    let result = match claim {
                        Some(claim) if idempotency::is_stored_refusal(&refusal) => {
                            idempotency::store_refusal(self, caller, claim, refusal).await
                        }
                        _ => Err(refusal),
                    };
                    results[index] = Some(result);
                }
            }
        }
        match self.store.commit_many(commits).await {
            Ok(applied) => {
                for ((index, answer), applied) in answers.into_iter().zip(applied) {
                    let claim = claims[index].as_ref();
                    let result = match answer.settle(self, caller, claim, applied).await {
                        Settled::Done(result) => result,
                        // Rebuilt and sent again on its own, as a single charge would be.
                        Settled::Retry => self.charge_alone(caller, &inputs[index]).await,
                    };
                    results[index] = Some(result);
                }
            }
            Err(error) => {
                let error = ServiceError::from(error);
                for (index, _) in answers {
                    results[index] = Some(Err(error.clone()));
                }
            }
        }
        results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| {
                    Err(ServiceError::internal(
                        "batch",
                        "an input was left unanswered",
                    ))
                })
            })
            .collect()
    }

    /// The claim of an input with a key, and the outcome stored under it before if any.
    async fn batch_claim<'a>(
        &self,
        caller: &Caller,
        charge: &NewCharge,
        key: Option<&'a IdempotencyKey>,
    ) -> Result<(Option<Claim<'a>>, Option<Result<String, ServiceError>>), ServiceError> {
        let Some(key) = key else {
            return Ok((None, None));
        };
        let claim = Claim {
            key,
            fingerprint: idempotency::fingerprint(OPERATION, caller, charge)?,
        };
        let earlier = idempotency::earlier_outcome(self, caller, &claim).await?;
        Ok((Some(claim), earlier))
    }

    async fn charge_alone(
        &self,
        caller: &Caller,
        input: &BatchInput,
    ) -> Result<String, ServiceError> {
        let (charge, key) = input.as_ref().map_err(Clone::clone)?;
        idempotency::run_async(self, caller, OPERATION, key.as_ref(), charge, || {
            self.prepare_charge(caller, charge)
        })
        .await
    }
}
