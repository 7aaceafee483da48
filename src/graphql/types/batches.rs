//! What a batch answers for each of its inputs: the object or the error, side by side.

use async_graphql::SimpleObject;

use super::charges::ChargeObject;
use crate::graphql::errors::batch_error_parts;
use crate::service::charge_batches::BatchOutcome;
use crate::service::ServiceError;

/// One charge of a createCharges batch: its charge or its error.
#[derive(SimpleObject)]
#[graphql(name = "ChargeResult")]
pub struct ChargeResultObject {
    pub charge: Option<ChargeObject>,
    pub error: Option<BatchErrorObject>,
}

#[derive(SimpleObject)]
#[graphql(name = "BatchError")]
pub struct BatchErrorObject {
    pub code: String,
    pub message: String,
    pub param: Option<String>,
}

impl From<ServiceError> for BatchErrorObject {
    fn from(error: ServiceError) -> BatchErrorObject {
        let (code, message, param) = batch_error_parts(&error);
        BatchErrorObject {
            code: code.to_owned(),
            message,
            param,
        }
    }
}

impl From<BatchOutcome> for ChargeResultObject {
    fn from(outcome: BatchOutcome) -> ChargeResultObject {
        let BatchOutcome { charge, error } = outcome;
        ChargeResultObject {
            charge: charge.map(ChargeObject),
            error: error.map(BatchErrorObject::from),
        }
    }
}
