//! A charge's refunds and dispute, resolved for `Charge.refunds` and `Charge.dispute`.

use async_graphql::Context;

use super::disputes::DisputeObject;
use super::refunds::RefundObject;
use crate::domain::charges::Charge;
use crate::domain::disputes::Dispute;
use crate::domain::refunds::Refund;
use crate::graphql::context::{caller, services};
use crate::graphql::errors::GqlResult;

/// The charge's refunds, oldest first.
pub async fn refunds(
    ctx: &Context<'_>,
    charge: &Charge,
) -> async_graphql::Result<Vec<RefundObject>> {
    let services = services(ctx);
    let caller = caller(ctx)?;
    let mut refunds = Vec::with_capacity(charge.refunds.len());
    for id in &charge.refunds {
        if let Some(found) = services.find::<Refund>(caller, id.as_ref()).gql()? {
            refunds.push(RefundObject(found.value));
        }
    }
    Ok(refunds)
}

pub async fn dispute(
    ctx: &Context<'_>,
    charge: &Charge,
) -> async_graphql::Result<Option<DisputeObject>> {
    let Some(id) = &charge.dispute else {
        return Ok(None);
    };
    let found = services(ctx)
        .find::<Dispute>(caller(ctx)?, id.as_ref())
        .gql()?;
    Ok(found.map(|found| DisputeObject(found.value)))
}
